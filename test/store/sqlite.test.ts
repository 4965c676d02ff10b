import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir, hostname } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Database from 'better-sqlite3'
import { FakeClock } from '../../src/clock.js'
import { createLogger } from '../../src/observability/logger.js'
import { openSqliteStore } from '../../src/store/sqlite.js'
import { SCHEMA_VERSION } from '../../src/store/sqlite-schema.js'
import { device, ring, storeContract } from './contract.js'
import { ringKey } from '../../src/model.js'

function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sqlite-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

storeContract('sqlite', async () => {
  const tmp = tempDir()
  const clock = new FakeClock()
  const store = openSqliteStore({ path: join(tmp.dir, 'gateway.db'), clock })
  return {
    store,
    now: () => clock.now(),
    passTime: async (ms) => clock.advance(ms),
    shortTtlMs: 1_000,
    cleanup: async () => {
      await store.close()
      tmp.remove()
    },
  }
})

test('sqlite: devices and rings survive a restart on the same file', async () => {
  const tmp = tempDir()
  const path = join(tmp.dir, 'nested', 'gateway.db')
  const clock = new FakeClock()
  try {
    const first = openSqliteStore({ path, clock })
    await first.upsertDevice(device('agent-1', 'tok-1'))
    await first.createRing(ring(), 60_000)
    assert.equal(await first.claimOnce('dedup:1', 60_000), true)
    await first.close()

    const second = openSqliteStore({ path, clock })
    try {
      assert.deepEqual(await second.listDevices('agent-1'), [device('agent-1', 'tok-1')])
      assert.deepEqual(await second.getRing(ringKey(ring())), ring())
      assert.equal(await second.createRing(ring(), 60_000), false, 'the restarted gateway does not ring again')
      assert.equal(await second.claimOnce('dedup:1', 60_000), false)
    } finally {
      await second.close()
    }
  } finally {
    tmp.remove()
  }
})

test('sqlite: the database file is owner-only (0600) in an owner-only new directory (0700)', async () => {
  const tmp = tempDir()
  const path = join(tmp.dir, 'data', 'gateway.db')
  try {
    const store = openSqliteStore({ path })
    await store.upsertDevice(device('agent-1', 'tok-1'))
    assert.equal(statSync(path).mode & 0o777, 0o600)
    assert.equal(statSync(join(tmp.dir, 'data')).mode & 0o777, 0o700)
    await store.close()
  } finally {
    tmp.remove()
  }
})

test('sqlite: schema is versioned with user_version, WAL mode and synchronous NORMAL', async () => {
  const tmp = tempDir()
  const path = join(tmp.dir, 'gateway.db')
  try {
    const store = openSqliteStore({ path })
    await store.close()
    const db = new Database(path, { readonly: true })
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
    db.close()
  } finally {
    tmp.remove()
  }
})

test('sqlite: a database from before phones is migrated: its devices stay, new ones carry their deviceId', async () => {
  const tmp = tempDir()
  const path = join(tmp.dir, 'gateway.db')
  try {
    const first = openSqliteStore({ path })
    await first.upsertDevice(device('agent-1', 'old-tok'))
    await first.close()
    // Turn it back into a version-2 database, as the gateway before phones left it.
    const db = new Database(path)
    db.exec(
      'DROP TABLE deliveries; DROP TABLE reach; DROP INDEX devices_user_phone; ALTER TABLE devices DROP COLUMN device_id',
    )
    db.pragma('user_version = 2')
    db.close()

    const store = openSqliteStore({ path })
    try {
      assert.deepEqual(await store.listDevices('agent-1'), [device('agent-1', 'old-tok')])
      await store.upsertDevice(device('agent-1', 'new-tok', { deviceId: 'iphone-1' }))
      assert.deepEqual(await store.removePhone('agent-1', 'iphone-1'), ['new-tok'])
      assert.deepEqual(await store.listDevices('agent-1'), [device('agent-1', 'old-tok')])
    } finally {
      await store.close()
    }
    const after = new Database(path, { readonly: true })
    assert.equal(after.pragma('user_version', { simple: true }), SCHEMA_VERSION)
    after.close()
  } finally {
    tmp.remove()
  }
})

test('sqlite: a database from a newer gateway is refused with a clear error', async () => {
  const tmp = tempDir()
  const path = join(tmp.dir, 'gateway.db')
  try {
    const db = new Database(path)
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    db.close()
    assert.throws(() => openSqliteStore({ path }), /newer than this gateway supports/)
  } finally {
    tmp.remove()
  }
})

test('sqlite: a second process on the same file is logged as a warning', async () => {
  const tmp = tempDir()
  const path = join(tmp.dir, 'gateway.db')
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  try {
    // The parent process (the test runner) is alive and is not us: it stands in for another gateway.
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.ppid, host: hostname() }))
    const store = openSqliteStore({ path, logger: createLogger({ level: 'warn' }, sink) })
    await store.close()
    const warning = lines
      .map((l) => JSON.parse(l) as { level: number; msg: string; otherPid: number })
      .find((l) => l.level === 40)
    assert.ok(warning, 'a warn line was logged')
    assert.match(warning.msg, /another gateway process is using this SQLite store/)
    assert.equal(warning.otherPid, process.ppid)

    lines.length = 0
    const alone = openSqliteStore({ path, logger: createLogger({ level: 'warn' }, sink) })
    await alone.close()
    assert.deepEqual(lines, [], 'no warning once the lock was released')
  } finally {
    tmp.remove()
  }
})

test('sqlite: sqlite::memory: works without a file', async () => {
  const store = openSqliteStore({ path: ':memory:' })
  await store.upsertDevice(device('agent-1', 'tok-1'))
  assert.equal((await store.countDevices()).total, 1)
  await store.close()
})

test('sqlite: calls after close fail as StoreUnavailableError', async () => {
  const store = openSqliteStore({ path: ':memory:' })
  await store.close()
  await assert.rejects(store.ping(), { name: 'StoreUnavailableError', code: 'STORE_UNAVAILABLE' })
})

test('sqlite: expired rings, cancel claims and once-claims are swept from the file', async () => {
  const tmp = tempDir()
  const path = join(tmp.dir, 'gateway.db')
  const clock = new FakeClock()
  const store = openSqliteStore({ path, clock, sweepIntervalMs: 10 })
  try {
    await store.createRing(ring(), 1_000)
    await store.claimCancels(ringKey(ring()), ['tok-a'])
    await store.claimOnce('dedup:1', 1_000)
    const db = new Database(path, { readonly: true })
    const rows = (): number =>
      ['rings', 'ring_cancels', 'claims']
        .map((t) => (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n)
        .reduce((a, b) => a + b, 0)
    assert.equal(rows(), 3)
    clock.advance(1_001)
    await new Promise((r) => setTimeout(r, 60))
    assert.equal(rows(), 0)
    db.close()
  } finally {
    await store.close()
    tmp.remove()
  }
})
