import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { ringKey } from '../../src/model.js'
import { startNetProxy, type NetProxy } from '../../src/sim/net-proxy.js'
import { createRedisStore } from '../../src/store/redis.js'
import { createCachedStore } from '../../src/store/cached.js'
import { StoreUnavailableError, UnreplicatedWriteError } from '../../src/store/store.js'
import { device, ring, storeContract } from './contract.js'
import { recordTrial } from '../support/trials.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Deletes every key under `prefix` and returns how many there were. */
async function dropPrefix(prefix: string): Promise<number> {
  const admin = new Redis(REDIS_URL)
  try {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    return keys.length
  } finally {
    await admin.quit()
  }
}

/** A loopback proxy (net-proxy.ts) to the test Redis, and the URL that reaches Redis through it. */
async function redisProxy(): Promise<{ proxy: NetProxy; url: string }> {
  const target = new URL(REDIS_URL)
  const proxy = await startNetProxy({ target: { host: target.hostname, port: Number(target.port || 6379) } })
  return { proxy, url: `redis://127.0.0.1:${proxy.port}` }
}

function uniquePrefix(): string {
  return `test:store:${randomUUID()}:`
}

storeContract('redis', async () => {
  const keyPrefix = uniquePrefix()
  const store = createRedisStore({ url: REDIS_URL, keyPrefix })
  return {
    store,
    now: () => Date.now(),
    passTime: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    shortTtlMs: 60,
    cleanup: async () => {
      await store.close()
      await dropPrefix(keyPrefix)
    },
  }
})

test('redis: two instances (two connections) creating the same ring: exactly one wins', async () => {
  const keyPrefix = uniquePrefix()
  const a = createRedisStore({ url: REDIS_URL, keyPrefix })
  const b = createRedisStore({ url: REDIS_URL, keyPrefix })
  try {
    for (let i = 0; i < 10; i++) {
      const r = ring({ conversationId: `conv-${i}` })
      const results = await Promise.all([
        a.createRing(r, 60_000),
        b.createRing(r, 60_000),
        a.createRing(r, 60_000),
        b.createRing(r, 60_000),
      ])
      assert.equal(results.filter(Boolean).length, 1, `ring ${i}`)
    }
    const r = ring()
    const key = ringKey(r)
    const claims = await Promise.all([a.claimCancels(key, ['tok-a', 'tok-b']), b.claimCancels(key, ['tok-b', 'tok-a'])])
    assert.deepEqual(claims.flat().sort(), ['tok-a', 'tok-b'], 'each device gets one cancel across instances')
    await b.upsertDevice(device('agent-1', 'tok-1'))
    assert.deepEqual(await a.listDevices('agent-1'), [device('agent-1', 'tok-1')])
  } finally {
    await a.close()
    await b.close()
    await dropPrefix(keyPrefix)
  }
})

test('redis: every ring-related key carries a TTL, device keys follow the documented layout', async () => {
  const keyPrefix = uniquePrefix()
  const store = createRedisStore({ url: REDIS_URL, keyPrefix })
  const admin = new Redis(REDIS_URL)
  try {
    const r = ring()
    await store.upsertDevice(device('agent-1', 'tok-1'))
    await store.createRing(r, 60_000)
    await store.claimCancels(ringKey(r), ['tok-a'])
    await store.claimCancels('gone:agent-1:part-1', ['tok-a'])
    await store.claimOnce('dedup:1', 60_000)
    const openTtl = await admin.pttl(`${keyPrefix}rings:open`)
    assert.ok(openTtl > 0 && openTtl <= 60_000, `the open-rings index has a TTL (${openTtl})`)
    await store.transitionRing(ringKey(r), ['ringing'], 'cancelled', 30_000)
    const keys = (await admin.keys(`${keyPrefix}*`)).map((key) => key.slice(keyPrefix.length)).sort()
    assert.deepEqual(
      keys,
      [
        'agents',
        'cancels:unsent',
        'device:tok-1',
        'device_counts',
        'gen_user_id_agent-1',
        'once:dedup:1',
        'ring:conv-1:agent-1:part-1',
        'ring:conv-1:agent-1:part-1:cancelled',
        'ring:conv-1:agent-1:part-1:unsent',
        'ring:gone:agent-1:part-1:cancelled',
      ],
      'the open-rings index emptied when its only ring stopped ringing; the unclaimed cancel waits in the outbox',
    )
    assert.equal(
      await admin.hget(`${keyPrefix}gen_user_id_agent-1`, 'tok-1'),
      JSON.stringify(device('agent-1', 'tok-1')),
    )
    for (const key of keys.filter((k) => k.startsWith('ring') || k.startsWith('once:') || k.startsWith('cancels:'))) {
      const ttl = await admin.pttl(keyPrefix + key)
      assert.ok(ttl > 0 && ttl <= 600_000, `${key} has a TTL (${ttl})`)
    }
    assert.ok((await admin.pttl(`${keyPrefix}ring:conv-1:agent-1:part-1`)) <= 30_000, 'transition resets the TTL')
  } finally {
    await store.close()
    await admin.quit()
    await dropPrefix(keyPrefix)
  }
})

test('redis: outbox marks made together are all written, including those still waiting for their batch at close()', async () => {
  const keyPrefix = uniquePrefix()
  const store = createRedisStore({ url: REDIS_URL, keyPrefix })
  const rings = Array.from({ length: 300 }, (_, i) => ring({ conversationId: `conv-${i}`, rungTokens: ['a', 'b'] }))
  try {
    for (const r of rings) {
      await store.createRing(r, 60_000)
      await store.claimCancels(ringKey(r), ['a', 'b'])
    }
    assert.equal((await store.listUnsentCancels(0)).length, 300, 'every cancel claimed and unsent')
    // More marks at once than one batch holds: each promise settles once its own mark is in Redis.
    await Promise.all(
      rings.map((r, i) => store.markSent(ringKey(r), { ring: true, cancelTokens: ['a', 'b'] }, 10_000 + i)),
    )
    assert.deepEqual(await store.listUnsentCancels(0), [])
    assert.deepEqual(
      (await Promise.all(rings.map((r) => store.getRing(ringKey(r))))).map((r) => r?.dispatchedAt),
      rings.map((_, i) => 10_000 + i),
    )

    // A graceful stop: marks not awaited before close() still reach Redis.
    const late = ring({ conversationId: 'late', rungTokens: ['a'] })
    await store.createRing(late, 60_000)
    await store.claimCancels(ringKey(late), ['a'])
    const marked = store.markSent(ringKey(late), { ring: true, cancelTokens: ['a'] }, 20_000)
    await store.close()
    await marked
    const reader = createRedisStore({ url: REDIS_URL, keyPrefix })
    try {
      assert.equal((await reader.getRing(ringKey(late)))?.dispatchedAt, 20_000)
      assert.deepEqual(await reader.listUnsentCancels(0), [])
    } finally {
      await reader.close()
    }
  } finally {
    await store.close()
    await dropPrefix(keyPrefix)
  }
})

test('redis: a Redis that is down fails fast with StoreUnavailableError', async () => {
  // Port 1 on localhost refuses connections.
  const store = createRedisStore({ url: 'redis://127.0.0.1:1', keyPrefix: uniquePrefix(), connectTimeoutMs: 1_000 })
  try {
    const started = Date.now()
    await assert.rejects(store.ping(), { name: 'StoreUnavailableError', code: 'STORE_UNAVAILABLE' })
    await assert.rejects(store.listUserIds(), { name: 'StoreUnavailableError' })
    assert.ok(Date.now() - started < 2_500, 'no hanging while Redis is down')
  } finally {
    await store.close()
  }
})

test('redis: calls after the connection is lost fail fast, and it reconnects in the background', async () => {
  const keyPrefix = uniquePrefix()
  const connectionName = `pgw-test-${randomUUID()}`
  const store = createRedisStore({ url: REDIS_URL, keyPrefix, redisOptions: { connectionName } })
  const admin = new Redis(REDIS_URL)
  try {
    await store.ping()
    // Kill only this store's connection: the Redis server is shared with other tests.
    const line = String(await admin.client('LIST'))
      .split('\n')
      .find((l) => l.includes(`name=${connectionName} `))
    const id = /\bid=(\d+)/.exec(line ?? '')?.[1]
    assert.ok(id, 'found the store connection')
    await admin.client('KILL', 'ID', id)
    // Immediately after the kill the socket is closed; a call must not queue forever.
    const outcome = await Promise.race([
      store.ping().then(
        () => 'ok',
        (err: Error) => err.name,
      ),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 2_000)),
    ])
    // Either it failed at once or ioredis had already reconnected and retried it; never a hang.
    assert.ok(outcome === 'StoreUnavailableError' || outcome === 'ok', `got ${String(outcome)}`)
    let recovered = false
    for (let i = 0; i < 40 && !recovered; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      recovered = await store.ping().then(
        () => true,
        () => false,
      )
    }
    assert.ok(recovered, 'reconnected without a restart')
  } finally {
    await store.close()
    await admin.quit()
  }
})

test('redis: fifty calls made before the first connection all wait for it, without a listener-leak warning', async () => {
  const keyPrefix = uniquePrefix()
  const warnings: string[] = []
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`)
  process.on('warning', onWarning)
  const store = createRedisStore({ url: REDIS_URL, keyPrefix })
  try {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.claimOnce(`early-${i}`, 60_000)))
    assert.deepEqual(new Set(results), new Set([true]))
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(warnings, [])
  } finally {
    process.off('warning', onWarning)
    await store.close()
    await dropPrefix(keyPrefix)
  }
})

test('redis: a path that goes silent is replaced after replyTimeoutMs; a write whose reply was lost is still its own', async () => {
  const keyPrefix = uniquePrefix()
  const { proxy, url } = await redisProxy()
  const store = createRedisStore({ url, keyPrefix, replyTimeoutMs: 300 })
  try {
    await store.ping()
    const connects = proxy.connects

    // Nothing comes back from now on, and nothing is closed: the commands reach Redis, which acts
    // on them. The connection is replaced and the commands are sent again on the new one; each
    // call still learns that it, not some other caller, created the ring and made the claim.
    proxy.loseRepliesOfExisting()
    const started = Date.now()
    const r = ring({ conversationId: `conv-lost-reply-${randomUUID()}` })
    const [created, claimed] = await Promise.all([store.createRing(r, 60_000), store.claimOnce('lost-reply', 60_000)])
    recordTrial(
      {
        id: 'fault.redis-reply-lost',
        area: 'fault',
        what: "Redis acts on a ring's creation and a once-only claim, and the replies are lost on a path that stays open",
        tried: 2,
        unit: 'writes',
        held: 'each write, sent again on a new connection, is still reported as made by its own call (a ring is not taken for a duplicate)',
        lost: (created ? 0 : 1) + (claimed ? 0 : 1),
        observed: `answered after ${Date.now() - started} ms (reply timeout 300 ms)`,
      },
      import.meta.url,
    )
    assert.equal(created, true, 'the ring this call created is reported as created')
    assert.equal(claimed, true, 'the claim this call made is reported as made')
    assert.ok(Date.now() - started < 3_000, `answered after ${Date.now() - started} ms`)
    assert.ok(proxy.connects > connects, 'a new connection')

    // And other calls still see them as taken.
    assert.equal(await store.createRing(r, 60_000), false)
    assert.equal(await store.claimOnce('lost-reply', 60_000), false)
    assert.equal((await store.getRing(ringKey(r)))?.state, 'ringing')

    // A path silent both ways: the same, for a read.
    proxy.blackHoleExisting()
    assert.equal((await store.getRing(ringKey(r)))?.state, 'ringing')
  } finally {
    await store.close()
    await proxy.close()
    await dropPrefix(keyPrefix)
  }
})

test('redis: a device feed whose idle connection went silent notices it at the next probe, reconnects, and hears changes again', async () => {
  const keyPrefix = uniquePrefix()
  const { proxy, url } = await redisProxy()
  // This instance reaches Redis through the proxy; the other one directly.
  const here = createRedisStore({ url, keyPrefix, replyTimeoutMs: 300, feedProbeEveryMs: 200 })
  const there = createRedisStore({ url: REDIS_URL, keyPrefix })
  const heard: string[] = []
  let gaps = 0
  const watch = here.watchDevices({ changed: (userId) => heard.push(userId), gap: () => gaps++ })
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.ok(ok(), what)
  }
  try {
    await until('listening', () => watch.listening())
    await there.upsertDevice(device('agent-before', 'token-before-0123456789'))
    await until('heard the change made on the other instance', () => heard.includes('agent-before'))

    // The subscriber's flow (and the command connection's) is forgotten: nothing is closed.
    const gapsBefore = gaps
    proxy.blackHoleExisting()
    await until('no longer listening', () => !watch.listening())
    assert.ok(gaps > gapsBefore, 'a gap: what was cached may be stale')
    await until('listening again on a new connection', () => watch.listening())
    await there.upsertDevice(device('agent-after', 'token-after-0123456789'))
    await until('heard a change made after the path died', () => heard.includes('agent-after'))
  } finally {
    await watch.stop()
    await here.close()
    await there.close()
    await proxy.close()
    await dropPrefix(keyPrefix)
  }
})

test('redis: with REDIS_WAIT_REPLICAS and no replica confirming, writes made together are refused within two WAIT timeouts, not one after another, and a read meanwhile is not held past one', async () => {
  const keyPrefix = uniquePrefix()
  // The test Redis has no replica: every WAIT runs to its timeout, as while a replica resyncs after a failover.
  const waitTimeoutMs = 300
  const store = createRedisStore({ url: REDIS_URL, keyPrefix, waitReplicas: 1, waitTimeoutMs })
  try {
    await store.ping()
    const started = Date.now()
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.upsertDevice(device(`agent-wait-${i}`, `token-wait-${i}-0123456789`)).then(
        () => 'answered as stored',
        (err: unknown) => (err instanceof StoreUnavailableError ? Date.now() - started : `other error: ${String(err)}`),
      ),
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    const readStarted = Date.now()
    assert.equal((await store.listDevices('agent-wait-0')).length, 1, 'the write itself is in Redis')
    const readMs = Date.now() - readStarted
    const refusedAfter = await Promise.all(writes)
    const slackMs = 250
    assert.ok(
      refusedAfter.every((ms) => typeof ms === 'number' && ms <= 2 * waitTimeoutMs + slackMs),
      `every write refused (503) within two WAIT timeouts: ${refusedAfter.join(', ')}`,
    )
    assert.ok(readMs <= waitTimeoutMs + slackMs, `a read waited ${readMs} ms behind the WAIT`)
  } finally {
    await store.close()
    await dropPrefix(keyPrefix)
  }
})

test('redis: a ring to 20,000 devices ends, claims and marks its cancels (no script unpacks an unbounded list)', async () => {
  const keyPrefix = uniquePrefix()
  const store = createRedisStore({ url: REDIS_URL, keyPrefix })
  try {
    const tokens = Array.from({ length: 20_000 }, (_, i) => `tok-${i.toString().padStart(6, '0')}`)
    const steps: Array<[string, boolean]> = []
    // endRing with the right guess: transition and claim in one script.
    const ended = ring({ conversationId: 'wide-1', rungTokens: tokens })
    await store.createRing(ended, 60_000)
    const result = await store.endRing(ringKey(ended), ['ringing'], 'cancelled', 60_000, { ifRung: tokens, tokens })
    steps.push(['endRing', result?.claimed?.length === tokens.length])
    // transitionRing of a ring with 20,000 claimed cancels, then claimCancels and markSent of them all.
    const moved = await store.transitionRing(ringKey(ended), ['cancelled'], 'answered', 60_000)
    steps.push(['transitionRing', moved?.state === 'cancelled' && moved.cancelledTokens.length === tokens.length])
    const other = ring({ conversationId: 'wide-2', rungTokens: tokens })
    await store.createRing(other, 60_000)
    steps.push(['claimCancels', (await store.claimCancels(ringKey(other), tokens)).length === tokens.length])
    await store.markSent(ringKey(other), { cancelTokens: tokens }, Date.now())
    steps.push(['markSent', (await store.listUnsentCancels(0)).every((u) => u.ring.conversationId !== 'wide-2')])
    recordTrial(
      {
        id: 'input.redis-wide-ring',
        area: 'input',
        what: 'A ring to 20,000 devices (an agent list from before MAX_DEVICES_PER_AGENT) ended, transitioned, cancel-claimed and marked sent on Redis',
        tried: steps.length,
        unit: 'store steps',
        held: 'each step done in full (Lua builds argument lists by a loop; unpack() failed past ~8,000 and left the ring cancelled with no cancel claimed)',
        lost: steps.filter(([, ok]) => !ok).length,
      },
      import.meta.url,
    )
    assert.deepEqual(
      steps.filter(([, ok]) => !ok),
      [],
    )
  } finally {
    await store.close()
    await dropPrefix(keyPrefix)
  }
})

test('redis: with REDIS_WAIT_REPLICAS and no replica confirming, a ring ended on the primary fails as unreplicated carrying what the primary answered, and the cached store acts on it', async () => {
  const keyPrefix = uniquePrefix()
  const confirmed = createRedisStore({ url: REDIS_URL, keyPrefix })
  // The test Redis has no replica: every WAIT runs to its timeout.
  const waiting = createRedisStore({ url: REDIS_URL, keyPrefix, waitReplicas: 1, waitTimeoutMs: 50 })
  const cached = createCachedStore(createRedisStore({ url: REDIS_URL, keyPrefix, waitReplicas: 1, waitTimeoutMs: 50 }))
  try {
    const rung = ring({ conversationId: 'conv-unreplicated', rungTokens: ['a', 'b'] })
    const other = ring({ conversationId: 'conv-unreplicated-cached', rungTokens: ['c'] })
    assert.equal(await confirmed.createRing(rung, 60_000), true)
    assert.equal(await confirmed.createRing(other, 60_000), true)

    const err = await waiting
      .endRing(ringKey(rung), ['ringing'], 'answered', 60_000, { ifRung: ['a', 'b'], tokens: ['a', 'b'] })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    assert.ok(err instanceof UnreplicatedWriteError, `refused as unreplicated: ${String(err)}`)
    assert.ok(err instanceof StoreUnavailableError, 'which the API answers 503')
    const written = err.written as { before: { state: string }; claimed: string[] }
    assert.equal(written.before.state, 'ringing')
    assert.deepEqual([...written.claimed].sort(), ['a', 'b'], "the primary's answer: the cancels it claimed")
    assert.equal((await confirmed.getRing(ringKey(rung)))?.state, 'answered', 'and the primary has the end')

    // A registration's answer holds the full device token: a logger printing every field of the error must not find it.
    const secret = 'token-unreplicated-0123456789abcdef'
    const refused = await waiting.upsertDevice(device('agent-unreplicated', secret)).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(refused instanceof UnreplicatedWriteError)
    assert.match(JSON.stringify(refused.written), /token-unreplicated/, "the primary's answer is kept")
    assert.doesNotMatch(JSON.stringify({ ...refused }), /token-unreplicated/)

    // The ring path goes on with the primary's answer: the cancel it claimed is pushed now.
    const ended = await cached.endRing(ringKey(other), ['ringing'], 'answered', 60_000, {
      ifRung: ['c'],
      tokens: ['c'],
    })
    assert.deepEqual(ended?.claimed, ['c'])
    assert.equal(
      cached.health().degraded,
      false,
      'replicas not confirming is no outage: devices are still read from Redis',
    )
  } finally {
    await Promise.all([confirmed.close(), waiting.close(), cached.close()])
    await dropPrefix(keyPrefix)
  }
})
