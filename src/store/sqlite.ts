// The embedded default store: one SQLite file, survives restarts, one gateway process at a time.
// better-sqlite3 is synchronous, so each method runs start to finish without interleaving inside
// this process; writes that read first use BEGIN IMMEDIATE so a second process cannot interleave.
// Expiries come from the injected clock; expired rows are ignored on read and swept by a timer.
// Its parts share the database: devices (sqlite-devices.ts), rings, cancel claims, the outbox and
// once-only claims (sqlite-rings.ts), receipts and reachability (sqlite-reach.ts).
import Database from 'better-sqlite3'
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { systemClock, type Clock } from '../clock.js'
import { silentLogger, type Logger } from '../observability/logger.js'
import { sqliteDeviceStore } from './sqlite-devices.js'
import { takeInstanceLock, type InstanceLock } from './sqlite-lock.js'
import { sqliteReachStore } from './sqlite-reach.js'
import { sqliteRingStore } from './sqlite-rings.js'
import { sqliteRunner } from './sqlite-run.js'
import { migrate } from './sqlite-schema.js'
import type { Store } from './store.js'

export interface SqliteStoreOptions {
  /** A file path, or ':memory:' for a private in-process database. */
  path: string
  clock?: Clock
  logger?: Logger
  /** How often expired rings and claims are deleted. */
  sweepIntervalMs?: number
}

export function openSqliteStore(options: SqliteStoreOptions): Store {
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? silentLogger()
  const inMemory = options.path === ':memory:'
  let lock: InstanceLock | undefined
  if (!inMemory) {
    const path = resolve(options.path)
    // Device tokens are personal data: owner-only directory and file, before SQLite creates it.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    closeSync(openSync(path, 'a', 0o600))
    chmodSync(path, 0o600)
    lock = takeInstanceLock(path)
    if (lock.otherHolder !== undefined) {
      logger.warn(
        { path, otherPid: lock.otherHolder.pid, otherHost: lock.otherHolder.host },
        'another gateway process is using this SQLite store; SQLite supports one instance, use STORE_URL=redis://… for several',
      )
    }
  }
  const db = new Database(options.path, { timeout: 5_000 })
  if (!inMemory) db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const { from, to } = migrate(db)
  if (from !== to) logger.info({ path: options.path, from, to }, 'SQLite store schema migrated')

  const run = sqliteRunner(db)
  const rings = sqliteRingStore(db, clock, run)
  const reach = sqliteReachStore(db, clock, run)
  const ping = db.prepare('SELECT 1')

  function sweep(): void {
    const now = clock.now()
    db.transaction(() => {
      rings.sweep(now)
      reach.sweep(now)
    }).immediate()
  }
  const sweeper = setInterval(() => {
    try {
      sweep()
    } catch (err) {
      logger.warn({ err }, 'SQLite store sweep of expired rings and claims failed; retrying next interval')
    }
  }, options.sweepIntervalMs ?? 60_000)
  sweeper.unref()

  return {
    kind: 'sqlite',
    ...sqliteDeviceStore(db, run),
    ...rings.store,
    ...reach.store,
    ping: () => run(() => void ping.get()),
    close: async () => {
      clearInterval(sweeper)
      if (db.open) db.close()
      lock?.release()
    },
  }
}
