// No half state on the DynamoDB store when a write fails part-way. Every ring step (create, claim
// the cancels, end with its claims, mark sent) and every once-only claim is one conditional write of
// one item, so a step is either in the table whole or not at all; what remains to check is the
// network around it. Two failures, made by a proxy in front of dynalite: the request never arrives
// (nothing changes, the caller is told), and the write lands but its reply is lost (the SDK retries,
// the retry fails the condition the first attempt satisfied, and the store must still answer as if
// the first attempt had been answered: this instance rings, its cancels are its own).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { FakeClock } from '../../src/clock.js'
import { ringKey } from '../../src/model.js'
import { openDynamoStore } from '../../src/store/dynamodb.js'
import { parseDynamoUrl } from '../../src/store/dynamodb-url.js'
import type { Store } from '../../src/store/store.js'
import { DYNALITE_CREDENTIALS, DYNALITE_ENV, startDynalite, type Dynalite } from '../support/dynalite.js'
import { startDynamoFaultProxy, type DynamoFaultProxy } from '../support/dynamo-faults.js'
import { ring } from './contract.js'
import { fcmToken, startHarness } from '../e2e/harness.js'

let server: Dynalite
let proxy: DynamoFaultProxy
before(async () => {
  server = await startDynalite()
  proxy = await startDynamoFaultProxy(server.endpoint)
})
after(async () => {
  await proxy.close()
  await server.close()
})

/** Two instances on the same tables: `a` through the faulty proxy, `b` directly. */
async function twoInstances(): Promise<{ a: Store; b: Store; close(): Promise<void> }> {
  const target = parseDynamoUrl(server.storeUrl(`f${randomUUID().slice(0, 8)}`))
  const clock = new FakeClock()
  const b = await openDynamoStore({ target, clock, createTables: true, credentials: DYNALITE_CREDENTIALS })
  const a = await openDynamoStore({
    target: { ...target, endpoint: proxy.endpoint },
    clock,
    credentials: DYNALITE_CREDENTIALS,
  })
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) }
}

const end = { ifRung: ['tok-a', 'tok-b'], tokens: ['tok-a', 'tok-b'] }

test('dynamodb: a ring created whose reply was lost is still this instance’s ring to push, and no other instance’s', async () => {
  const { a, b, close } = await twoInstances()
  try {
    const r = ring({ conversationId: 'conv-lost-create' })
    proxy.fail('PutItem', 'lose-reply')
    assert.equal(await a.createRing(r, 60_000), true, 'the instance whose write landed rings (else nobody would)')
    assert.equal(await b.createRing(r, 60_000), false, 'another instance sees the ring as taken')
    assert.equal((await b.getRing(ringKey(r)))?.state, 'ringing')
  } finally {
    await close()
  }
})

test('dynamodb: a ring ended whose reply was lost still hands its cancels to that instance, once across instances', async () => {
  const { a, b, close } = await twoInstances()
  try {
    const r = ring({ conversationId: 'conv-lost-end' })
    const key = ringKey(r)
    assert.equal(await b.createRing(r, 60_000), true)
    proxy.fail('PutItem', 'lose-reply')
    const ended = await a.endRing(key, ['ringing'], 'answered', 60_000, end)
    assert.deepEqual(ended?.claimed?.sort(), ['tok-a', 'tok-b'], 'the cancels are this instance’s to send now')
    assert.equal(ended?.before.state, 'ringing')
    assert.deepEqual(await b.claimCancels(key, ['tok-a', 'tok-b']), [], 'no second cancel from another instance')
    assert.equal(await b.endRing(key, ['ringing'], 'cancelled', 60_000, end), undefined, 'and no second end')
    assert.equal((await b.getRing(key))?.state, 'answered')
  } finally {
    await close()
  }
})

test('dynamodb: cancels claimed and a once-only claim whose replies were lost are claimed once, by that instance', async () => {
  const { a, b, close } = await twoInstances()
  try {
    const r = ring({ conversationId: 'conv-lost-claim' })
    const key = ringKey(r)
    assert.equal(await b.createRing(r, 60_000), true)
    proxy.fail('PutItem', 'lose-reply')
    assert.deepEqual((await a.claimCancels(key, ['tok-a'])).sort(), ['tok-a'])
    assert.deepEqual(await b.claimCancels(key, ['tok-a', 'tok-b']), ['tok-b'])
    proxy.fail('PutItem', 'lose-reply')
    assert.equal(await a.claimOnce('webhook:evt-1', 60_000), true, 'the claim that landed is this instance’s')
    assert.equal(await b.claimOnce('webhook:evt-1', 60_000), false)
  } finally {
    await close()
  }
})

test('dynamodb: an end whose write never arrives changes nothing (still ringing, nothing claimed); ended again, it ends whole', async () => {
  const { a, b, close } = await twoInstances()
  try {
    const r = ring({ conversationId: 'conv-lost-request' })
    const key = ringKey(r)
    assert.equal(await b.createRing(r, 60_000), true)
    // Every attempt the SDK makes fails before reaching the table; the read before it went through.
    proxy.fail('PutItem', 'lose-request', { times: 2 })
    await assert.rejects(a.endRing(key, ['ringing'], 'answered', 60_000, end), { code: 'STORE_UNAVAILABLE' })
    const after = await b.getRing(key)
    assert.equal(after?.state, 'ringing', 'not ended without its cancels')
    assert.deepEqual(after?.cancelledTokens, [], 'and no cancel claimed without the end')
    assert.deepEqual(await b.listUnsentCancels(0), [], 'nothing for recovery to resend')
    const ended = await a.endRing(key, ['ringing'], 'answered', 60_000, end)
    assert.deepEqual(ended?.claimed?.sort(), ['tok-a', 'tok-b'], 'the retried end claims every cancel')
  } finally {
    await close()
  }
})

test('dynamodb: a timeout sweep is two queries however many rings ring, and reads only the rings due', async () => {
  const { a, b, close } = await twoInstances()
  try {
    for (let i = 0; i < 30; i++)
      assert.equal(await b.createRing(ring({ conversationId: `conv-sweep-${i}`, expiresAt: 35_000 + i }), 60_000), true)
    const before = proxy.forwarded.get('Query') ?? 0
    const gets = proxy.forwarded.get('GetItem') ?? 0
    // The engine's sweep: rings due by now (none: their timeouts are later), then unsent claims.
    assert.deepEqual(await a.listOpenRings(20_000), [])
    assert.deepEqual(await a.listUnsentCancels(2_000), [])
    assert.equal((proxy.forwarded.get('Query') ?? 0) - before, 2, 'one query each, not one per shard')
    assert.equal((proxy.forwarded.get('GetItem') ?? 0) - gets, 0, 'and no ring read one by one')
    assert.equal((await a.listOpenRings(35_010)).length, 11, 'those due by then')
  } finally {
    await close()
  }
})

test('dynamodb: throttled (ThrottlingException), a registration is answered 503 with Retry-After and a JSON body; afterwards it registers', async () => {
  Object.assign(process.env, DYNALITE_ENV)
  const tables = `f${randomUUID().slice(0, 8)}`
  const h = await startHarness({}, async () => ({
    STORE_URL: `dynamodb://${tables}?region=eu-west-1&endpoint=${encodeURIComponent(proxy.endpoint)}`,
    DYNAMODB_CREATE_TABLES: '1',
  }))
  try {
    const agent = h.world.genesys.addAgent()
    const body = { platform: 'android', token: fcmToken() }
    // Both attempts the SDK makes are refused, as DynamoDB does over a table's capacity.
    proxy.fail('PutItem', 'throttle', { times: 2 })
    const res = await fetch(`${h.api}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    assert.equal(res.status, 503)
    assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After says when to come back')
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'STORE_UNAVAILABLE')
    assert.equal((await h.register(agent.accessToken, body)).status, 201, 'the retry registers')
  } finally {
    await h.close()
  }
})
