// Schema of the SQLite store, versioned with PRAGMA user_version: migration i brings a database
// from version i to i + 1. Append only; never edit a migration that has shipped.
import type { Database } from 'better-sqlite3'

const MIGRATIONS: readonly string[] = [
  `
  -- devices: one row per push token (a token belongs to one agent at a time); data is the Device JSON.
  CREATE TABLE devices (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    data TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX devices_user_id ON devices (user_id);

  -- rings: the RingRecord JSON; expires_at is the storage TTL (clock ms), not the ring timeout.
  CREATE TABLE rings (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    record TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX rings_state_expires ON rings (state, expires_at);

  -- ring_cancels: tokens already sent a cancel, one row each so INSERT ... RETURNING tells which are new.
  CREATE TABLE ring_cancels (
    key TEXT NOT NULL,
    token TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, token)
  );
  CREATE INDEX ring_cancels_expires ON ring_cancels (expires_at);

  -- claims: claimOnce keys (dedup window, webhook idempotency).
  CREATE TABLE claims (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX claims_expires ON claims (expires_at);
  `,
  `
  -- The outbox: a cancel claim stays sent = 0 until its push was handed to the push service, so a
  -- claim left by a process that died before pushing is found and sent again. Older rows: sent.
  ALTER TABLE ring_cancels ADD COLUMN claimed_at INTEGER;
  ALTER TABLE ring_cancels ADD COLUMN sent INTEGER NOT NULL DEFAULT 1;
  CREATE INDEX ring_cancels_unsent ON ring_cancels (key) WHERE sent = 0;
  `,
  `
  -- Phones: the app's installation id, shared by the tokens of one phone (one agent's iPhone holds
  -- a PushKit and an alert token). Signing out removes them together. Older rows have none.
  ALTER TABLE devices ADD COLUMN device_id TEXT;
  UPDATE devices SET device_id = json_extract(data, '$.deviceId');
  CREATE INDEX devices_user_phone ON devices (user_id, device_id) WHERE device_id IS NOT NULL;
  `,
  `
  -- Device receipts: per (conversation, token) the pushes sent, accepted and reported (a JSON object
  -- of fields), and per agent its reachability document with a version for compare-and-set.
  CREATE TABLE deliveries (
    conversation_id TEXT NOT NULL,
    token TEXT NOT NULL,
    fields TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, token)
  ) WITHOUT ROWID;
  CREATE INDEX deliveries_expires ON deliveries (expires_at);
  CREATE TABLE reach (
    user_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX reach_expires ON reach (expires_at);
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** Brings the database to SCHEMA_VERSION; refuses a database written by a newer gateway. */
export function migrate(db: Database): { from: number; to: number } {
  const from = Number(db.pragma('user_version', { simple: true }))
  if (from > SCHEMA_VERSION) {
    throw new Error(
      `SQLite store schema version ${from} is newer than this gateway supports (${SCHEMA_VERSION}); upgrade the gateway`,
    )
  }
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const sql = MIGRATIONS[v]
    if (sql === undefined) break
    // The DDL and the new user_version commit together, so a crash mid-migration leaves the old version.
    db.transaction(() => {
      db.exec(sql)
      db.pragma(`user_version = ${v + 1}`)
    }).immediate()
  }
  return { from, to: SCHEMA_VERSION }
}
