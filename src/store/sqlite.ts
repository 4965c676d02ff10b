// The embedded default store: one SQLite file, survives restarts, one gateway process at a time.
// better-sqlite3 is synchronous, so each method runs start to finish without interleaving inside
// this process; writes that read first use BEGIN IMMEDIATE so a second process cannot interleave.
// Expiries come from the injected clock; expired rows are ignored on read and swept by a timer.
import Database from 'better-sqlite3'
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { systemClock, type Clock } from '../clock.js'
import { ringKey, type Device, type RingRecord, type RingState } from '../model.js'
import { silentLogger, type Logger } from '../observability/logger.js'
import { migrate } from './sqlite-schema.js'
import { takeInstanceLock, type InstanceLock } from './sqlite-lock.js'
import {
  rangExactly,
  StoreError,
  StoreUnavailableError,
  type DeviceRegistration,
  type EndedRing,
  type Store,
} from './store.js'
import { ORPHAN_CANCEL_TTL_MS } from './ttl.js'

export interface SqliteStoreOptions {
  /** A file path, or ':memory:' for a private in-process database. */
  path: string
  clock?: Clock
  logger?: Logger
  /** How often expired rings and claims are deleted. */
  sweepIntervalMs?: number
}

interface RingRow {
  record: string
  expires_at: number
}

// Transient conditions (another writer holding the lock past busy_timeout, disk trouble, a closed
// handle) are the store being unavailable (503), not a bug in the request (500).
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY)/

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

  const q = {
    upsertDevice: db.prepare<[string, string, string, number, string | null, string]>(
      `INSERT INTO devices (token, user_id, platform, registered_at, device_id, data) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, platform = excluded.platform,
         registered_at = excluded.registered_at, device_id = excluded.device_id, data = excluded.data`,
    ),
    removePhone: db.prepare<[string, string], { token: string }>(
      'DELETE FROM devices WHERE user_id = ? AND device_id = ? RETURNING token',
    ),
    listDevices: db.prepare<[string], { data: string }>('SELECT data FROM devices WHERE user_id = ? ORDER BY token'),
    getDevice: db.prepare<[string], { data: string }>('SELECT data FROM devices WHERE token = ?'),
    ownerOf: db.prepare<[string], { user_id: string }>('SELECT user_id FROM devices WHERE token = ?'),
    countOf: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM devices WHERE user_id = ?'),
    removeDevice: db.prepare<[string, string]>('DELETE FROM devices WHERE token = ? AND user_id = ?'),
    pruneToken: db.prepare<[string, number | null, number | null]>(
      'DELETE FROM devices WHERE token = ? AND (? IS NULL OR registered_at < ?)',
    ),
    listUserIds: db.prepare<[], { user_id: string }>('SELECT DISTINCT user_id FROM devices'),
    countDevices: db.prepare<[], { platform: string; n: number }>(
      'SELECT platform, COUNT(*) AS n FROM devices GROUP BY platform',
    ),
    // Inserting over an expired row counts as creating: the old ring is gone as far as readers know.
    createRing: db.prepare<[string, string, string, number, number]>(
      `INSERT INTO rings (key, state, record, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET state = excluded.state, record = excluded.record, expires_at = excluded.expires_at
       WHERE rings.expires_at <= ?`,
    ),
    getRing: db.prepare<[string, number], RingRow>(
      'SELECT record, expires_at FROM rings WHERE key = ? AND expires_at > ?',
    ),
    setRingState: db.prepare<[string, string, number, string]>(
      'UPDATE rings SET state = ?, record = ?, expires_at = ? WHERE key = ?',
    ),
    openRings: db.prepare<[number], { key: string; record: string }>(
      "SELECT key, record FROM rings WHERE state = 'ringing' AND expires_at > ?",
    ),
    cancelledTokens: db.prepare<[string, number], { token: string }>(
      'SELECT token FROM ring_cancels WHERE key = ? AND expires_at > ? ORDER BY rowid',
    ),
    // RETURNING yields a row only when the token was new or its old claim had expired.
    claimCancel: db.prepare<[string, string, number, number, number, number], { token: string }>(
      `INSERT INTO ring_cancels (key, token, expires_at, claimed_at, sent) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key, token) DO UPDATE SET expires_at = excluded.expires_at, claimed_at = excluded.claimed_at, sent = excluded.sent
       WHERE ring_cancels.expires_at <= ?
       RETURNING token`,
    ),
    markRingSent: db.prepare<[number, string, number]>(
      "UPDATE rings SET record = json_set(record, '$.dispatchedAt', ?) WHERE key = ? AND expires_at > ?",
    ),
    markCancelSent: db.prepare<[string, string]>('UPDATE ring_cancels SET sent = 1 WHERE key = ? AND token = ?'),
    // The last claim of the ring decides its age, as in the Redis index.
    unsentCancels: db.prepare<[number, number], { key: string; tokens: string }>(
      `SELECT key, json_group_array(token) AS tokens FROM ring_cancels WHERE sent = 0 AND expires_at > ?
       GROUP BY key HAVING MAX(claimed_at) <= ?`,
    ),
    extendCancels: db.prepare<[number, string]>('UPDATE ring_cancels SET expires_at = ? WHERE key = ?'),
    dropCancels: db.prepare<[string]>('DELETE FROM ring_cancels WHERE key = ?'),
    claimOnce: db.prepare<[string, number, number]>(
      `INSERT INTO claims (key, expires_at) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE claims.expires_at <= ?`,
    ),
    // An expired record is replaced, not merged: its fields belong to a push long gone.
    noteDelivery: db.prepare<[string, string, string, number, number]>(
      `INSERT INTO deliveries (conversation_id, token, fields, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (conversation_id, token) DO UPDATE SET
         fields = CASE WHEN deliveries.expires_at <= ? THEN excluded.fields ELSE json_patch(deliveries.fields, excluded.fields) END,
         expires_at = excluded.expires_at`,
    ),
    getDelivery: db.prepare<[string, string, number], { fields: string }>(
      'SELECT fields FROM deliveries WHERE conversation_id = ? AND token = ? AND expires_at > ?',
    ),
    getReach: db.prepare<[string, number], { doc: string; version: number }>(
      'SELECT doc, version FROM reach WHERE user_id = ? AND expires_at > ?',
    ),
    createReach: db.prepare<[string, string, number, number]>(
      `INSERT INTO reach (user_id, doc, version, expires_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (user_id) DO UPDATE SET doc = excluded.doc, version = 1, expires_at = excluded.expires_at WHERE reach.expires_at <= ?`,
    ),
    updateReach: db.prepare<[string, number, string, number, number]>(
      'UPDATE reach SET doc = ?, version = version + 1, expires_at = ? WHERE user_id = ? AND version = ? AND expires_at > ?',
    ),
    listReachUsers: db.prepare<[number], { user_id: string }>('SELECT user_id FROM reach WHERE expires_at > ?'),
    sweepDeliveries: db.prepare<[number]>('DELETE FROM deliveries WHERE expires_at <= ?'),
    sweepReach: db.prepare<[number]>('DELETE FROM reach WHERE expires_at <= ?'),
    sweepRings: db.prepare<[number]>('DELETE FROM rings WHERE expires_at <= ?'),
    sweepCancels: db.prepare<[number]>('DELETE FROM ring_cancels WHERE expires_at <= ?'),
    sweepClaims: db.prepare<[number]>('DELETE FROM claims WHERE expires_at <= ?'),
    ping: db.prepare('SELECT 1'),
  }

  function ringView(key: string, row: RingRow, now: number): RingRecord {
    const record = JSON.parse(row.record) as RingRecord
    for (const { token } of q.cancelledTokens.all(key, now)) {
      if (!record.cancelledTokens.includes(token)) record.cancelledTokens.push(token)
    }
    return record
  }

  const upsertDevice = (device: Device): void => {
    q.upsertDevice.run(
      device.token,
      device.userId,
      device.platform,
      device.registeredAt,
      device.deviceId ?? null,
      JSON.stringify(device),
    )
  }
  const registerDeviceTx = db.transaction((device: Device): DeviceRegistration => {
    const previous = q.ownerOf.get(device.token)?.user_id
    const before = previous === device.userId ? 1 : (q.countOf.get(device.userId)?.n ?? 0)
    upsertDevice(device)
    return {
      device,
      ...(previous !== undefined && previous !== device.userId ? { movedFrom: previous } : {}),
      firstOfAgent: before === 0,
      agentTokens: q.countOf.get(device.userId)?.n ?? 1,
    }
  })
  const createRingTx = db.transaction((record: RingRecord, ttlMs: number): boolean => {
    const now = clock.now()
    const key = ringKey(record)
    const created = q.createRing.run(key, record.state, JSON.stringify(record), now + ttlMs, now).changes === 1
    // Cancel claims left from an expired ring under the same key must not suppress the new ring's cancels.
    if (created) q.dropCancels.run(key)
    return created
  })

  const transitionTx = db.transaction((key: string, from: RingState[], to: RingState, ttlMs: number) => {
    const now = clock.now()
    const row = q.getRing.get(key, now)
    if (row === undefined) return undefined
    const stored = JSON.parse(row.record) as RingRecord
    if (!from.includes(stored.state)) return undefined
    const before = ringView(key, row, now)
    q.setRingState.run(to, JSON.stringify({ ...stored, state: to }), now + ttlMs, key)
    q.extendCancels.run(now + ttlMs, key)
    return before
  })

  const claimCancelsTx = db.transaction((key: string, tokens: string[], silent: string[]): string[] => {
    const now = clock.now()
    const row = q.getRing.get(key, now)
    const expiresAt = row?.expires_at ?? now + ORPHAN_CANCEL_TTL_MS
    const already = row === undefined ? [] : (JSON.parse(row.record) as RingRecord).cancelledTokens
    const quiet = new Set(silent)
    const fresh: string[] = []
    for (const token of new Set([...tokens, ...silent])) {
      if (already.includes(token)) continue
      // Without a ring record there is nothing to resend from: the claim counts as sent.
      const sent = row === undefined || quiet.has(token) ? 1 : 0
      if (q.claimCancel.get(key, token, expiresAt, now, sent, now) !== undefined) fresh.push(token)
    }
    return fresh
  })

  // transitionTx and claimCancelsTx nest as savepoints: one atomic step.
  const endRingTx = db.transaction(
    (
      key: string,
      from: RingState[],
      to: RingState,
      ttlMs: number,
      guess: { ifRung: string[]; tokens: string[] },
    ): EndedRing | undefined => {
      const now = clock.now()
      const row = q.getRing.get(key, now)
      if (row === undefined || !from.includes((JSON.parse(row.record) as RingRecord).state)) return undefined
      const current = ringView(key, row, now)
      if (!rangExactly(current, guess.ifRung)) return { before: current }
      const before = transitionTx(key, from, to, ttlMs) as RingRecord
      return { before, claimed: claimCancelsTx(key, guess.tokens, []) }
    },
  )

  const markSentTx = db.transaction((key: string, sent: { ring?: boolean; cancelTokens?: string[] }, at: number) => {
    if (sent.ring === true) q.markRingSent.run(at, key, clock.now())
    for (const token of sent.cancelTokens ?? []) q.markCancelSent.run(key, token)
  })

  function sweep(): void {
    const now = clock.now()
    db.transaction(() => {
      q.sweepRings.run(now)
      q.sweepCancels.run(now)
      q.sweepClaims.run(now)
      q.sweepDeliveries.run(now)
      q.sweepReach.run(now)
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

  // Every call goes through here so driver errors reach callers as StoreError (StoreUnavailableError when transient).
  function run<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn())
    } catch (err) {
      return Promise.reject(classify(err, db.open))
    }
  }

  return {
    kind: 'sqlite',
    upsertDevice: (device: Device) =>
      run(() => {
        upsertDevice(device)
        return device
      }),
    registerDevice: (device: Device) => run(() => registerDeviceTx(device)),
    listDevices: (userId) => run(() => q.listDevices.all(userId).map((r) => JSON.parse(r.data) as Device)),
    getDevice: (token) =>
      run(() => {
        const row = q.getDevice.get(token)
        return row === undefined ? undefined : (JSON.parse(row.data) as Device)
      }),
    removeDevice: (userId, token) => run(() => q.removeDevice.run(token, userId).changes === 1),
    removePhone: (userId, deviceId) => run(() => q.removePhone.all(userId, deviceId).map((r) => r.token)),
    pruneToken: (token, registeredBefore) =>
      run(() => q.pruneToken.run(token, registeredBefore ?? null, registeredBefore ?? null).changes === 1),
    listUserIds: () => run(() => q.listUserIds.all().map((r) => r.user_id)),
    countDevices: () =>
      run(() => {
        const byPlatform: Record<string, number> = {}
        let total = 0
        for (const { platform, n } of q.countDevices.all()) {
          byPlatform[platform] = n
          total += n
        }
        return { total, byPlatform }
      }),
    createRing: (record, ttlMs) => run(() => createRingTx.immediate(record, ttlMs)),
    getRing: (key) =>
      run(() => {
        const now = clock.now()
        const row = q.getRing.get(key, now)
        return row === undefined ? undefined : ringView(key, row, now)
      }),
    transitionRing: (key, from, to, ttlMs) => run(() => transitionTx.immediate(key, from, to, ttlMs)),
    claimCancels: (key, tokens, silent = []) => run(() => claimCancelsTx.immediate(key, tokens, silent)),
    endRing: (key, from, to, ttlMs, guess) => run(() => endRingTx.immediate(key, from, to, ttlMs, guess)),
    markSent: (key, sent, at) => run(() => markSentTx.immediate(key, sent, at)),
    listUnsentCancels: (olderThanMs) =>
      run(() => {
        const now = clock.now()
        const out: Array<{ ring: RingRecord; tokens: string[] }> = []
        for (const { key, tokens } of q.unsentCancels.all(now, now - olderThanMs)) {
          const row = q.getRing.get(key, now)
          if (row !== undefined) out.push({ ring: ringView(key, row, now), tokens: JSON.parse(tokens) as string[] })
        }
        return out
      }),
    listOpenRings: (dueBy) =>
      run(() => {
        const now = clock.now()
        const open = q.openRings.all(now).map((r) => ringView(r.key, { record: r.record, expires_at: 0 }, now))
        return dueBy === undefined ? open : open.filter((r) => r.expiresAt <= dueBy)
      }),
    claimOnce: (key, ttlMs) =>
      run(() => {
        const now = clock.now()
        return q.claimOnce.run(key, now + ttlMs, now).changes === 1
      }),
    noteDelivery: (conversationId, token, fields, ttlMs) =>
      run(() => {
        const now = clock.now()
        q.noteDelivery.run(conversationId, token, JSON.stringify(fields), now + ttlMs, now)
      }),
    getDelivery: (conversationId, token) =>
      run(() => {
        const row = q.getDelivery.get(conversationId, token, clock.now())
        return row === undefined ? undefined : (JSON.parse(row.fields) as Record<string, string>)
      }),
    getReach: (userId) => run(() => q.getReach.get(userId, clock.now())),
    putReach: (userId, doc, version, ttlMs) =>
      run(() => {
        const now = clock.now()
        const changes =
          version === 0
            ? q.createReach.run(userId, doc, now + ttlMs, now).changes
            : q.updateReach.run(doc, now + ttlMs, userId, version, now).changes
        return changes === 1
      }),
    listReachUsers: () => run(() => q.listReachUsers.all(clock.now()).map((r) => r.user_id)),
    ping: () => run(() => void q.ping.get()),
    close: async () => {
      clearInterval(sweeper)
      if (db.open) db.close()
      lock?.release()
    },
  }
}

/** Every failure reaches callers as a StoreError: the API answers 503 + Retry-After, never 500. */
function classify(err: unknown, open: boolean): unknown {
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (!open || (typeof code === 'string' && UNAVAILABLE_CODES.test(code)))
    return new StoreUnavailableError(`SQLite store unavailable: ${message}`, { cause: err })
  return new StoreError(`SQLite store failed: ${message}`, { cause: err })
}
