// The SQLite store's device receipts: delivery records and agents' reachability documents (ReachStore).
import type { Database } from 'better-sqlite3'
import type { Clock } from '../clock.js'
import type { SqlitePart, SqliteRun } from './sqlite-run.js'
import type { ReachStore } from './store.js'

export function sqliteReachStore(db: Database, clock: Clock, run: SqliteRun): SqlitePart<ReachStore> {
  const q = {
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
  }

  const store: ReachStore = {
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
  }

  /** Deletes expired delivery records and reachability documents (inside the caller's transaction). */
  function sweep(now: number): void {
    q.sweepDeliveries.run(now)
    q.sweepReach.run(now)
  }

  return { store, sweep }
}
