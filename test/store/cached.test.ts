// The device cache and ring fallback in front of Redis, against a private redis-server that is
// killed and restarted: reads keep serving, rings keep going, writes fail as 503s, all recovers.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { ringKey } from '../../src/model.js'
import { createCachedStore, storeReadiness } from '../../src/store/cached.js'
import { createRedisStore } from '../../src/store/redis.js'
import { StoreUnavailableError } from '../../src/store/store.js'
import { device, ring } from './contract.js'
import { startOwnRedis, type OwnRedis } from './redis-server.js'

let redis: OwnRedis
before(async () => {
  redis = await startOwnRedis()
})
after(() => redis.close())

async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

test('Redis down: devices come from the cache, rings are created and ended in-process, writes fail; all recovers', async () => {
  const store = createCachedStore(createRedisStore({ url: redis.url, keyPrefix: `test:cached:${randomUUID()}:`, connectTimeoutMs: 1_000 }))
  try {
    await store.upsertDevice(device('agent-1', 'tok-1'))
    await store.upsertDevice(device('agent-1', 'tok-2'))
    assert.equal((await store.listDevices('agent-1')).length, 2, 'read through (fills the cache)')
    await store.upsertDevice(device('agent-1', 'tok-3')) // a registration after the read updates it
    const before = await storeReadiness(store)
    assert.deepEqual(before, { ok: true, detail: 'redis: reachable' })

    await redis.kill()
    await assert.rejects(store.upsertDevice(device('agent-2', 'tok-9')), StoreUnavailableError, 'a write fails as unavailable (503)')
    assert.deepEqual((await store.listDevices('agent-1')).map((d) => d.token).sort(), ['tok-1', 'tok-2', 'tok-3'], 'served from the cache')
    await assert.rejects(store.listDevices('agent-unknown'), StoreUnavailableError, 'an agent never read is not invented')
    assert.equal(store.health().degraded, true)
    const ready = await storeReadiness(store)
    assert.equal(ready.ok, true)
    assert.match(ready.detail, /^degraded: redis unreachable/)

    const r = ring({ rungTokens: ['tok-1'] })
    assert.equal(await store.createRing(r, 60_000), true, 'the ring goes out')
    assert.equal(await store.createRing(r, 60_000), false, 'a repeat of the offer is still suppressed')
    assert.equal(await store.claimOnce('dedup:x', 60_000), true)
    assert.equal(await store.claimOnce('dedup:x', 60_000), false)
    assert.equal((await store.listOpenRings()).length, 1, 'the timeout sweep sees it')
    assert.equal(store.health().localRings, 1)

    await redis.restart()
    await until('recovery', async () => store.ping().then(() => true, () => false))
    assert.equal(store.health().degraded, false)
    assert.equal(await store.createRing(r, 60_000), false, 'the ring made during the outage still dedups after it')
    const ended = await store.transitionRing(ringKey(r), ['ringing'], 'answered', 60_000)
    assert.equal(ended?.state, 'ringing', 'the answer after recovery finds the ring and cancels it')
    assert.deepEqual(await store.claimCancels(ringKey(r), ['tok-1']), ['tok-1'])
    assert.deepEqual(await store.claimCancels(ringKey(r), ['tok-1']), [], 'one cancel per device')
    await store.upsertDevice(device('agent-2', 'tok-9'))
    assert.equal((await store.listDevices('agent-2')).length, 1, 'writes work again, without a restart')
    assert.deepEqual((await store.listDevices('agent-1')).map((d) => d.token).sort(), ['tok-1', 'tok-2', 'tok-3'], 'the registrations answered before the crash survived it (AOF)')
  } finally {
    await store.close()
  }
})

test('the cache is bounded: the least recently read agent is evicted', async () => {
  const store = createCachedStore(createRedisStore({ url: redis.url, keyPrefix: `test:cached:${randomUUID()}:`, connectTimeoutMs: 1_000 }), { maxAgents: 2 })
  try {
    for (const id of ['a', 'b', 'c']) {
      await store.upsertDevice(device(id, `tok-${id}`))
      await store.listDevices(id)
    }
    assert.equal(store.health().cachedAgents, 2)
    await redis.kill()
    await assert.rejects(store.listDevices('a'), StoreUnavailableError, 'evicted')
    assert.equal((await store.listDevices('c')).length, 1)
    await redis.restart()
  } finally {
    await store.close()
  }
})
