// push-gateway migrate-store --from <STORE_URL> --to <STORE_URL>: copies every device from one store
// to another, any pair of SQLite, Redis (or Redis behind Sentinel) and DynamoDB: SQLite to a shared
// store for a move to several instances, Redis to DynamoDB for a move to AWS, and back.
// Resumable: a re-run skips devices already copied, so an interrupted copy just runs again.
// Never downgrades: a device that re-registered on the new store since (newer registeredAt) is kept.
// Verified: every source device is read back from the target by token and owner before exit 0.
// A device is copied whole, its phone (deviceId) included; a copy an older gateway made without
// the deviceId is completed. Ring state is not copied: it lives seconds and the new store starts clean.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { openStore } from '../store/open.js'
import { isDynamoUrl } from '../store/dynamodb-url.js'
import { isRedisUrl } from '../store/redis-url.js'
import type { Store } from '../store/store.js'

export const MIGRATE_USAGE = `Usage: push-gateway migrate-store --from <store URL> --to <store URL> [--create-tables]

Store URLs as in STORE_URL: sqlite:<path>, redis://…, rediss://…, redis+sentinel://…,
rediss+sentinel://…, dynamodb://<table-prefix>?region=<region>. Copies every registered device
from one to the other, in either direction. Safe to run again after an interruption (devices
already copied are skipped) and while gateways run on the target. --create-tables creates missing
DynamoDB tables on the target (as DYNAMODB_CREATE_TABLES=1 does).
Exit codes: 0 copied and verified, 1 failed or not verified, 2 bad usage.`

/** The stores a migration can read or write: every persistent one (memory: lives in one process). */
function persistent(url: string): boolean {
  return (
    (url.startsWith('sqlite:') && url.length > 'sqlite:'.length && url !== 'sqlite::memory:') ||
    isRedisUrl(url) ||
    isDynamoUrl(url)
  )
}

export interface MigrateResult {
  total: number
  copied: number
  skipped: number
  verified: number
}

export interface MigrateOptions {
  from: Store
  to: Store
  /** Called after each agent with the devices handled so far. */
  onProgress?: (done: number, total: number) => void
}

/** The copy itself, on two open stores (tested directly; the command wraps it). */
export async function migrateDevices(options: MigrateOptions): Promise<MigrateResult> {
  const { total } = await options.from.countDevices()
  const users = (await options.from.listUserIds()).sort()
  let copied = 0
  let skipped = 0
  let done = 0
  for (const userId of users) {
    for (const device of await options.from.listDevices(userId)) {
      const there = await options.to.getDevice(device.token)
      if (
        there &&
        there.userId === device.userId &&
        there.deviceId === device.deviceId &&
        there.registeredAt >= device.registeredAt
      )
        skipped++
      else if (there && there.registeredAt > device.registeredAt)
        skipped++ // re-registered on the target since
      else {
        await options.to.upsertDevice(device)
        copied++
      }
      done++
    }
    options.onProgress?.(done, total)
  }
  let verified = 0
  for (const userId of users) {
    for (const device of await options.from.listDevices(userId)) {
      const there = await options.to.getDevice(device.token)
      if (
        there &&
        there.registeredAt >= device.registeredAt &&
        (there.registeredAt > device.registeredAt || there.deviceId === device.deviceId)
      )
        verified++
    }
  }
  return { total, copied, skipped, verified }
}

export async function runMigrateStore(
  args: string[],
  io: { stderr: NodeJS.WritableStream; stdout: NodeJS.WritableStream } = process,
): Promise<number> {
  let values: { from?: string; to?: string; help?: boolean; 'create-tables'?: boolean }
  try {
    values = parseArgs({
      args,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        'create-tables': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (err) {
    io.stderr.write(`push-gateway migrate-store: ${(err as Error).message}\n\n${MIGRATE_USAGE}\n`)
    return 2
  }
  if (values.help) return (void io.stdout.write(`${MIGRATE_USAGE}\n`), 0)
  const fromUrl = values.from ?? ''
  const toUrl = values.to ?? ''
  if (!persistent(fromUrl) || !persistent(toUrl)) {
    io.stderr.write(
      `push-gateway migrate-store: --from and --to must each be a sqlite:<path>, redis…:// or dynamodb:// store URL\n\n${MIGRATE_USAGE}\n`,
    )
    return 2
  }
  if (fromUrl === toUrl) {
    io.stderr.write(`push-gateway migrate-store: --from and --to name the same store\n\n${MIGRATE_USAGE}\n`)
    return 2
  }
  // Opening SQLite creates a missing file: a misspelt path would copy nothing, report "verified
  // 0/0" and leave an empty database behind. The source must exist.
  const fromPath = fromUrl.startsWith('sqlite:') ? fromUrl.slice('sqlite:'.length) : undefined
  if (fromPath !== undefined && fromPath !== ':memory:' && !existsSync(fromPath)) {
    io.stderr.write(
      `push-gateway migrate-store: --from ${fromUrl}: no such file; nothing was copied or created (check the path: the gateway's default is sqlite:./data/gateway.db)\n`,
    )
    return 1
  }
  let from: Store | undefined
  let to: Store | undefined
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: 'devices [{bar}] {percentage}% {value}/{total}',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 1_000,
    },
    cliProgress.Presets.shades_classic,
  )
  try {
    from = await openStore(fromUrl)
    to = await openStore(toUrl, { createTables: values['create-tables'] === true })
    await to.ping()
    bar.start((await from.countDevices()).total, 0)
    const result = await migrateDevices({ from, to, onProgress: (done) => bar.update(done) })
    bar.stop()
    const line = `copied ${result.copied}, already there ${result.skipped}, verified ${result.verified}/${result.total}`
    if (result.verified !== result.total) {
      io.stderr.write(`push-gateway migrate-store: NOT verified: ${line}; run it again\n`)
      return 1
    }
    io.stdout.write(`migrate-store: ${line}\n`)
    return 0
  } catch (err) {
    bar.stop()
    // The URL may carry a password: the message names the failure, not the URL.
    io.stderr.write(
      `push-gateway migrate-store: failed: ${(err as Error).message}; devices copied so far stay, run it again to resume\n`,
    )
    return 1
  } finally {
    await Promise.allSettled([from?.close(), to?.close()])
  }
}
