// Which cores the latency benchmark's processes may run on. In production the gateway has its
// machine to itself: Genesys, Apple, Google and Redis are elsewhere, and its event loop never waits
// for a core behind them. Here they all share two cores, and a lower priority for the load
// generator (priority.ts) is not enough: the scheduler still lets the gateway's main thread wait
// once it wakes for a frame (at nice 10, 170–235 ms per second it ran, in runs at 2,000 frames/s).
// So while the gateway is measured its main thread, the one that runs its event loop, gets the
// first core to itself, and everything else (the gateway's other threads: V8's GC and compiler
// helpers, libuv's pool; the load generator; a Redis on this machine) shares the rest. In paired
// runs this cut that wait to 18–46 ms per second. Pinning every gateway thread to one core instead
// left the wait at 139–163 ms: the main thread then waits behind its own GC helpers.
//
// Node.js has no call for CPU affinity, so this uses taskset(1) from util-linux (Debian's base
// system has it). A new thread takes its creator's cores, so a thread the gateway's main thread
// starts later (libuv's pool starts on first use) shares its core.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { onThrowawayProcess } from './priority.js'

/** The cores a process (or thread) may run on, from /proc (Linux); undefined where unreadable. */
export function allowedCores(pid: number | 'self'): number[] | undefined {
  try {
    const line = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    if (!line) return undefined
    const cores: number[] = []
    for (const part of line.split(',')) {
      const [from, to = from] = part.split('-').map(Number)
      if (from === undefined || to === undefined || !Number.isInteger(from) || !Number.isInteger(to)) return undefined
      for (let c = from; c <= to; c++) cores.push(c)
    }
    return cores
  } catch {
    return undefined
  }
}

/** Sets the cores of `pid`: every thread of it (`allThreads`), or only that thread. */
function setCores(pid: number, cores: readonly number[], allThreads: boolean): void {
  execFileSync('taskset', [...(allThreads ? ['-a'] : []), '-p', '-c', cores.join(','), String(pid)], {
    stdio: 'ignore',
  })
}

/**
 * Whether the gateway's main thread can be given a core of its own here: tried on a throwaway
 * child. Undefined when it can; otherwise why not.
 */
export function whyMainThreadCannotHaveACore(): string | undefined {
  if (process.platform !== 'linux') return 'CPU affinity is only set on Linux'
  const cores = allowedCores('self')
  if (!cores) return '/proc/self/status has no Cpus_allowed_list'
  if (cores.length < 2) return `this process may use ${cores.length} core`
  return onThrowawayProcess(
    (pid) => setCores(pid, cores.slice(1), true),
    (e) => (e.code === 'ENOENT' ? 'taskset (util-linux) is not installed' : `taskset failed: ${e.message}`),
  )
}

/**
 * Gives the main thread of `gatewayPid` the first of this process's cores, and puts the gateway's
 * other threads, this process and `neighbours` (a local Redis) on the others, until the returned
 * function puts this process and the neighbours back. A neighbour that cannot be moved (another
 * user's process, without CAP_SYS_NICE) is left where it is and named in `unmoved`.
 * Call whyMainThreadCannotHaveACore() first.
 */
export function giveMainThreadACore(
  gatewayPid: number,
  neighbours: readonly number[],
): { restore: () => void; unmoved: number[] } {
  const cores = allowedCores('self')
  if (!cores || cores.length < 2) throw new Error('giveMainThreadACore needs two cores')
  const [own, ...rest] = cores as [number, ...number[]]
  const before = new Map<number, number[]>()
  const unmoved: number[] = []
  for (const pid of [process.pid, ...neighbours]) {
    const was = allowedCores(pid)
    try {
      if (!was) throw new Error(`no cores known for ${pid}`)
      setCores(pid, rest, true)
      before.set(pid, was)
    } catch {
      if (pid === process.pid) throw new Error('could not move the load generator off the first core')
      unmoved.push(pid)
    }
  }
  setCores(gatewayPid, rest, true)
  setCores(gatewayPid, [own], false)
  return {
    restore: () => {
      setCores(process.pid, before.get(process.pid) ?? cores, true)
      for (const [pid, was] of before) {
        if (pid === process.pid) continue
        try {
          setCores(pid, was, true)
        } catch {
          // A neighbour that ended meanwhile (a restarted Redis) has nothing to put back.
        }
      }
    },
    unmoved,
  }
}
