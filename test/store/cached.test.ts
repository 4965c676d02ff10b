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
import { Redis } from 'ioredis'
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
  const store = createCachedStore(
    createRedisStore({ url: redis.url, keyPrefix: `test:cached:${randomUUID()}:`, connectTimeoutMs: 1_000 }),
  )
  try {
    await store.upsertDevice(device('agent-1', 'tok-1'))
    await store.upsertDevice(device('agent-1', 'tok-2'))
    assert.equal((await store.listDevices('agent-1')).length, 2, 'read through (fills the cache)')
    await store.upsertDevice(device('agent-1', 'tok-3')) // a registration after the read updates it
    const before = await storeReadiness(store)
    assert.deepEqual(before, { ok: true, detail: 'redis: reachable' })

    await redis.kill()
    await assert.rejects(
      store.upsertDevice(device('agent-2', 'tok-9')),
      StoreUnavailableError,
      'a write fails as unavailable (503)',
    )
    assert.deepEqual(
      (await store.listDevices('agent-1')).map((d) => d.token).sort(),
      ['tok-1', 'tok-2', 'tok-3'],
      'served from the cache',
    )
    await assert.rejects(
      store.listDevices('agent-unknown'),
      StoreUnavailableError,
      'an agent never read is not invented',
    )
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
    await until('recovery', async () =>
      store.ping().then(
        () => true,
        () => false,
      ),
    )
    assert.equal(store.health().degraded, false)
    assert.equal(await store.createRing(r, 60_000), false, 'the ring made during the outage still dedups after it')
    const ended = await store.transitionRing(ringKey(r), ['ringing'], 'answered', 60_000)
    assert.equal(ended?.state, 'ringing', 'the answer after recovery finds the ring and cancels it')
    assert.deepEqual(await store.claimCancels(ringKey(r), ['tok-1']), ['tok-1'])
    assert.deepEqual(await store.claimCancels(ringKey(r), ['tok-1']), [], 'one cancel per device')
    await store.upsertDevice(device('agent-2', 'tok-9'))
    assert.equal((await store.listDevices('agent-2')).length, 1, 'writes work again, without a restart')
    assert.deepEqual(
      (await store.listDevices('agent-1')).map((d) => d.token).sort(),
      ['tok-1', 'tok-2', 'tok-3'],
      'the registrations answered before the crash survived it (AOF)',
    )
  } finally {
    await store.close()
  }
})

test('the cache is bounded: the least recently read agent is evicted', async () => {
  const store = createCachedStore(
    createRedisStore({ url: redis.url, keyPrefix: `test:cached:${randomUUID()}:`, connectTimeoutMs: 1_000 }),
    { maxAgents: 2 },
  )
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

// Device lists kept current by the change feed (Redis pub/sub). A write straight into an agent's
// hash, which publishes nothing, shows whether a read was served from memory or from Redis.
const tokens = (list: Array<{ token: string }>): string[] => list.map((d) => d.token).sort()

function sneakIn(admin: Redis, prefix: string, userId: string, token: string): Promise<number> {
  return admin.hset(`${prefix}gen_user_id_${userId}`, token, JSON.stringify(device(userId, token)))
}

test('device lists are served from memory while the change feed listens; changes made on another instance reach the next read', async () => {
  const prefix = `test:cached:${randomUUID()}:`
  const a = createCachedStore(createRedisStore({ url: redis.url, keyPrefix: prefix }))
  const b = createCachedStore(createRedisStore({ url: redis.url, keyPrefix: prefix }))
  const admin = new Redis(redis.url)
  try {
    await until(
      'the feed to listen',
      async () => a.health().deviceFeedListening === true && b.health().deviceFeedListening === true,
    )
    await b.upsertDevice(device('agent-1', 'tok-1'))
    await new Promise((r) => setTimeout(r, 100)) // B's publish reaches A (a read racing it is simply not cached)
    assert.deepEqual(tokens(await a.listDevices('agent-1')), ['tok-1'])
    await sneakIn(admin, prefix, 'agent-1', 'tok-sneaked')
    assert.deepEqual(
      tokens(await a.listDevices('agent-1')),
      ['tok-1'],
      'unchanged as far as any instance said: served from memory',
    )

    await b.upsertDevice(device('agent-1', 'tok-2'))
    await until(
      'a registration on B to reach A',
      async () => tokens(await a.listDevices('agent-1')).includes('tok-2'),
      2_000,
    )
    assert.deepEqual(tokens(await a.listDevices('agent-1')), ['tok-1', 'tok-2', 'tok-sneaked'], 'read again from Redis')

    assert.deepEqual(await a.listDevices('agent-2'), [])
    await b.upsertDevice(device('agent-2', 'tok-1')) // the phone changes hands
    await until(
      'the move to reach A',
      async () =>
        tokens(await a.listDevices('agent-2')).includes('tok-1') &&
        !tokens(await a.listDevices('agent-1')).includes('tok-1'),
      2_000,
    )
    await b.removeDevice('agent-2', 'tok-1')
    await until('the removal to reach A', async () => (await a.listDevices('agent-2')).length === 0, 2_000)
    await b.pruneToken('tok-2') // APNs said 410 to instance B
    await until('the prune to reach A', async () => !tokens(await a.listDevices('agent-1')).includes('tok-2'), 2_000)

    // A's own writes show in its very next read, without waiting for its own publish.
    assert.deepEqual(await a.listDevices('agent-3'), [])
    await a.upsertDevice(device('agent-3', 'tok-3'))
    assert.deepEqual(tokens(await a.listDevices('agent-3')), ['tok-3'])
    await a.removeDevice('agent-3', 'tok-3')
    assert.deepEqual(await a.listDevices('agent-3'), [])

    // A phone signed out on B (both its tokens) stops ringing on A too.
    await a.upsertDevice(device('agent-4', 'tok-4-voip', { deviceId: 'phone-4' }))
    await a.upsertDevice(device('agent-4', 'tok-4-alert', { deviceId: 'phone-4', pushType: 'alert' }))
    assert.deepEqual(tokens(await a.listDevices('agent-4')), ['tok-4-alert', 'tok-4-voip'])
    assert.deepEqual((await b.removePhone('agent-4', 'phone-4')).sort(), ['tok-4-alert', 'tok-4-voip'])
    await until('the sign-out to reach A', async () => (await a.listDevices('agent-4')).length === 0, 2_000)
    await a.upsertDevice(device('agent-4', 'tok-4-voip', { deviceId: 'phone-4' }))
    assert.deepEqual(await a.removePhone('agent-4', 'phone-4'), ['tok-4-voip'])
    assert.deepEqual(await a.listDevices('agent-4'), [], "A's own sign-out shows in its next read")
  } finally {
    await Promise.all([a.close(), b.close(), admin.quit()])
  }
})

test('while the change feed is down nothing cached is served; once it listens again, lists are cached again', async () => {
  const prefix = `test:cached:${randomUUID()}:`
  const store = createCachedStore(createRedisStore({ url: redis.url, keyPrefix: prefix }))
  const admin = new Redis(redis.url)
  try {
    await until('the feed to listen', async () => store.health().deviceFeedListening === true)
    await store.upsertDevice(device('agent-1', 'tok-1'))
    assert.deepEqual(tokens(await store.listDevices('agent-1')), ['tok-1'])
    await admin.client('KILL', 'TYPE', 'pubsub') // the feed's connection drops: changes published now go unheard
    await until('the store to notice', async () => store.health().deviceFeedListening === false)
    await sneakIn(admin, prefix, 'agent-1', 'tok-missed')
    assert.deepEqual(
      tokens(await store.listDevices('agent-1')),
      ['tok-1', 'tok-missed'],
      'read from Redis, not from memory',
    )

    await until('the feed to listen again', async () => store.health().deviceFeedListening === true)
    assert.deepEqual(tokens(await store.listDevices('agent-1')), ['tok-1', 'tok-missed'])
    await sneakIn(admin, prefix, 'agent-1', 'tok-sneaked')
    assert.deepEqual(tokens(await store.listDevices('agent-1')), ['tok-1', 'tok-missed'], 'cached again')
  } finally {
    await Promise.all([store.close(), admin.quit()])
  }
})

test('a Redis user whose ACL forbids the change channel still registers devices; every read then goes to Redis', async () => {
  const prefix = `test:cached:${randomUUID()}:`
  const admin = new Redis(redis.url)
  const user = `nochannel-${randomUUID()}`
  await admin.call('ACL', 'SETUSER', user, 'on', '>secret', '~*', 'resetchannels', '+@all')
  const store = createCachedStore(
    createRedisStore({ url: `redis://${user}:secret@127.0.0.1:${redis.port}`, keyPrefix: prefix }),
  )
  try {
    await store.upsertDevice(device('agent-1', 'tok-1'))
    assert.deepEqual(tokens(await store.listDevices('agent-1')), ['tok-1'])
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(store.health().deviceFeedListening, false)
    await sneakIn(admin, prefix, 'agent-1', 'tok-sneaked')
    assert.deepEqual(tokens(await store.listDevices('agent-1')), ['tok-1', 'tok-sneaked'], 'read from Redis')
  } finally {
    await store.close()
    await admin.call('ACL', 'DELUSER', user)
    await admin.quit()
  }
})
