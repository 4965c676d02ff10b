// push-gateway migrate-store: SQLite → Redis, interrupted and resumed, verified, and as a command.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { migrateDevices } from '../../src/cli/migrate-store.js'
import { openStore } from '../../src/store/open.js'
import { StoreUnavailableError, type Store } from '../../src/store/store.js'
import { device } from './contract.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts'), 'migrate-store']

async function withStores(
  fn: (o: { dbUrl: string; redisUrl: string; from: Store; to: Store; prefix: string }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-migrate-'))
  const prefix = `test:migrate:${randomUUID()}:`
  const dbUrl = `sqlite:${join(dir, 'gateway.db')}`
  const redisUrl = `${REDIS_URL}?prefix=${prefix}`
  const from = await openStore(dbUrl)
  const to = await openStore(redisUrl)
  try {
    for (let u = 0; u < 40; u++)
      for (let d = 0; d < 5; d++)
        await from.upsertDevice(device(`agent-${u}`, `tok-${u}-${d}`, { registeredAt: 1_000 + d }))
    await fn({ dbUrl, redisUrl, from, to, prefix })
  } finally {
    await from.close()
    await to.close()
    const admin = new Redis(REDIS_URL)
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
    rmSync(dir, { recursive: true, force: true })
  }
}

test('an interrupted copy resumes where it stopped, never downgrades a newer registration, and verifies by count', () =>
  withStores(async ({ from, to }) => {
    // The target fails after 70 writes (Redis lost mid-copy).
    let writes = 0
    const flaky: Store = {
      ...to,
      upsertDevice: async (d) => {
        if (++writes > 70) throw new StoreUnavailableError('Redis store unavailable: connection lost')
        return to.upsertDevice(d)
      },
    }
    await assert.rejects(migrateDevices({ from, to: flaky }), StoreUnavailableError)
    assert.equal((await to.countDevices()).total, 70)

    // Meanwhile a phone re-registered on the new store: its newer entry must survive.
    await to.upsertDevice(device('agent-39', 'tok-39-0', { registeredAt: 9_999, appId: 'new' }))
    const progress: number[] = []
    const result = await migrateDevices({ from, to, onProgress: (done) => progress.push(done) })
    assert.deepEqual(result, { total: 200, copied: 129, skipped: 71, verified: 200 })
    assert.equal(progress.at(-1), 200)
    assert.equal((await to.getDevice('tok-39-0'))?.appId, 'new')
    assert.equal((await to.countDevices()).total, 200)
    assert.deepEqual((await to.listUserIds()).length, 40)

    const again = await migrateDevices({ from, to })
    assert.deepEqual(again, { total: 200, copied: 0, skipped: 200, verified: 200 }, 'a re-run copies nothing')
  }))

test('a phone survives the move: its deviceId is copied, and a copy made without it is completed', () =>
  withStores(async ({ from, to }) => {
    await from.upsertDevice(device('agent-0', 'tok-0-0', { registeredAt: 1_000, deviceId: 'iphone-0' }))
    await from.upsertDevice(
      device('agent-0', 'tok-0-1', { registeredAt: 1_001, deviceId: 'iphone-0', pushType: 'alert' }),
    )
    // As an older gateway's copy left it: the same token and time, no deviceId.
    await to.upsertDevice(device('agent-0', 'tok-0-1', { registeredAt: 1_001, pushType: 'alert' }))
    const result = await migrateDevices({ from, to })
    assert.deepEqual(result, { total: 200, copied: 200, skipped: 0, verified: 200 })
    assert.equal((await to.getDevice('tok-0-0'))?.deviceId, 'iphone-0')
    assert.equal((await to.getDevice('tok-0-1'))?.deviceId, 'iphone-0')
    assert.deepEqual(
      (await to.removePhone('agent-0', 'iphone-0')).sort(),
      ['tok-0-0', 'tok-0-1'],
      'the phone signs out as one on the new store',
    )
  }))

test('push-gateway migrate-store: progress on stderr, the result on stdout, exit codes 0 / 1 / 2', () =>
  withStores(async ({ dbUrl, redisUrl, to }) => {
    const env = { ...process.env }
    const ok = spawnSync(process.execPath, [...CLI, '--from', dbUrl, '--to', redisUrl], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    })
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /copied 200, already there 0, verified 200\/200/)
    assert.match(ok.stderr, /200\/200/, 'the progress bar')
    assert.equal((await to.countDevices()).total, 200)

    const usage = spawnSync(process.execPath, [...CLI, '--from', 'memory:', '--to', dbUrl], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    })
    assert.equal(usage.status, 2)
    assert.match(usage.stderr, /--from and --to must each be a sqlite:<path>, redis…:\/\/ or dynamodb:\/\/ store URL/)

    const down = spawnSync(process.execPath, [...CLI, '--from', dbUrl, '--to', 'redis://:s3cret@127.0.0.1:1'], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    })
    assert.equal(down.status, 1)
    assert.match(down.stderr, /failed: Redis store unavailable/)
    assert.equal(down.stderr.includes('s3cret'), false, 'no password in the message')
  }))

test('migrate-store moves devices between every pair of stores: SQLite, Redis and DynamoDB, each way', async () => {
  const { startDynalite, DYNALITE_ENV } = await import('../support/dynalite.js')
  const dynalite = await startDynalite()
  // openStore's DynamoDB client takes credentials from the SDK's default chain, as in production.
  Object.assign(process.env, DYNALITE_ENV)
  const dir = mkdtempSync(join(tmpdir(), 'pgw-migrate-'))
  const prefix = `test:migrate:${randomUUID()}:`
  const urls = {
    sqlite: `sqlite:${join(dir, 'gateway.db')}`,
    redis: `${REDIS_URL}?prefix=${prefix}`,
    dynamodb: dynalite.storeUrl(`m${randomUUID().slice(0, 8)}`),
  }
  const stores = Object.fromEntries(
    await Promise.all(
      Object.entries(urls).map(async ([name, url]) => [name, await openStore(url, { createTables: true })]),
    ),
  ) as Record<keyof typeof urls, Store>
  try {
    const names = Object.keys(urls) as (keyof typeof urls)[]
    let n = 0
    for (const from of names) {
      for (const to of names) {
        if (from === to) continue
        // Each pair moves its own agent's phone, so every copy is checked on its own.
        const userId = `agent-${from}-${to}`
        const devices = [
          device(userId, `tok-${n++}`, { deviceId: 'phone-1' }),
          { userId, token: `tok-${n++}`, platform: 'android' as const, registeredAt: 2_000 },
        ]
        for (const d of devices) await stores[from].upsertDevice(d)
        const result = await migrateDevices({ from: stores[from], to: stores[to] })
        assert.equal(result.verified, result.total, `${from} → ${to}: verified`)
        for (const d of devices)
          assert.deepEqual(await stores[to].getDevice(d.token), d, `${from} → ${to}: ${d.token} arrived as it was`)
      }
    }
  } finally {
    await Promise.all(Object.values(stores).map((s) => s.close()))
    await dynalite.close()
    const admin = new Redis(REDIS_URL)
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
    rmSync(dir, { recursive: true, force: true })
  }
})
