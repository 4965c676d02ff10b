// SQLite is the single-instance default: two gateways on one file would each ring every offer
// (their dedup and ring state stay consistent, but both run WebSocket sources). A lock file beside
// the database names the process holding it, so a second process can say so loudly.
import { hostname } from 'node:os'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'

export interface LockHolder {
  pid: number
  host: string
}

export interface InstanceLock {
  /** The other live process found holding the file when we opened it, if any. */
  readonly otherHolder: LockHolder | undefined
  release(): void
}

export function takeInstanceLock(dbPath: string): InstanceLock {
  const lockPath = `${dbPath}.lock`
  const me: LockHolder = { pid: process.pid, host: hostname() }
  const previous = readHolder(lockPath)
  const otherHolder = previous !== undefined && isOtherLiveProcess(previous, me) ? previous : undefined
  writeFileSync(lockPath, JSON.stringify(me), { mode: 0o600 })
  return {
    otherHolder,
    release() {
      // Leave the file alone when another process has since written its own pid into it.
      const current = readHolder(lockPath)
      if (current !== undefined && current.pid === me.pid && current.host === me.host) rmSync(lockPath, { force: true })
    },
  }
}

function readHolder(lockPath: string): LockHolder | undefined {
  let text: string
  try {
    text = readFileSync(lockPath, 'utf8')
  } catch {
    return undefined // no lock file: nobody holds it
  }
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null && 'pid' in parsed && 'host' in parsed) {
      const { pid, host } = parsed
      if (typeof pid === 'number' && typeof host === 'string') return { pid, host }
    }
  } catch {
    // A torn or foreign file: treat as unheld, we overwrite it.
  }
  return undefined
}

function isOtherLiveProcess(holder: LockHolder, me: LockHolder): boolean {
  // Another host sharing the file (network storage) cannot be probed: assume it is alive.
  if (holder.host !== me.host) return true
  if (holder.pid === me.pid) return false
  try {
    process.kill(holder.pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
