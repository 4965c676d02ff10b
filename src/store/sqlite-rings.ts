// The SQLite store's rings: records and states, cancel claims and the outbox, once-only claims
// (RingStore). Writes that read first run as BEGIN IMMEDIATE transactions, so a second process
// cannot interleave.
import type { Database } from 'better-sqlite3'
import type { Clock } from '../clock.js'
import { ringKey, type RingRecord, type RingState } from '../model.js'
import type { SqlitePart, SqliteRun } from './sqlite-run.js'
import { rangExactly, type EndedRing, type RingStore } from './store.js'
import { ORPHAN_CANCEL_TTL_MS } from './ttl.js'

interface RingRow {
  record: string
  expires_at: number
}

export function sqliteRingStore(db: Database, clock: Clock, run: SqliteRun): SqlitePart<RingStore> {
  const q = {
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
    sweepRings: db.prepare<[number]>('DELETE FROM rings WHERE expires_at <= ?'),
    sweepCancels: db.prepare<[number]>('DELETE FROM ring_cancels WHERE expires_at <= ?'),
    sweepClaims: db.prepare<[number]>('DELETE FROM claims WHERE expires_at <= ?'),
  }

  function ringView(key: string, row: RingRow, now: number): RingRecord {
    const record = JSON.parse(row.record) as RingRecord
    for (const { token } of q.cancelledTokens.all(key, now)) {
      if (!record.cancelledTokens.includes(token)) record.cancelledTokens.push(token)
    }
    return record
  }

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

  const store: RingStore = {
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
  }

  /** Deletes expired rings, cancel claims and once-only claims (inside the caller's transaction). */
  function sweep(now: number): void {
    q.sweepRings.run(now)
    q.sweepCancels.run(now)
    q.sweepClaims.run(now)
  }

  return { store, sweep }
}
