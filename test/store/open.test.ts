import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../src/store/open.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

test('STORE_URL sqlite:<path> opens a SQLite file, creating its directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-open-'))
  try {
    const path = join(dir, 'data', 'gateway.db')
    const store = await openStore(`sqlite:${path}`)
    assert.equal(store.kind, 'sqlite')
    await store.ping()
    await store.close()
    assert.ok(existsSync(path))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('STORE_URL sqlite::memory:, memory: and redis:// pick their backends', async () => {
  const sqlite = await openStore('sqlite::memory:')
  assert.equal(sqlite.kind, 'sqlite')
  await sqlite.close()
  const memory = await openStore('memory:')
  assert.equal(memory.kind, 'memory')
  await memory.close()
  const redis = await openStore(REDIS_URL, { keyPrefix: 'test:open:' })
  assert.equal(redis.kind, 'redis')
  await redis.ping()
  await redis.close()
})

test('an unsupported STORE_URL names the setting and the accepted forms, without echoing secrets', async () => {
  for (const url of ['postgres://user:s3cret@db/x', 'sqlite:', './gateway.db', '']) {
    await assert.rejects(openStore(url), (err: Error) => {
      assert.match(err.message, /STORE_URL/)
      assert.match(err.message, /sqlite:<path>.*redis:\/\/.*rediss:\/\/.*memory:/)
      assert.doesNotMatch(err.message, /s3cret/)
      return true
    })
  }
})
