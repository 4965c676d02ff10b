// The source lease on the DynamoDB store (a conditional-write item with its fencing token), on dynalite.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { silentLogger } from '../../src/observability/logger.js'
import { dynamoCoordination } from '../../src/scale/dynamo-lease.js'
import { RedisLease } from '../../src/scale/lease.js'
import { startNetProxy } from '../../src/sim/net-proxy.js'
import { openDynamoStore } from '../../src/store/dynamodb.js'
import { parseDynamoUrl } from '../../src/store/dynamodb-url.js'
import { DYNALITE_CREDENTIALS, startDynalite, type Dynalite } from '../support/dynalite.js'

let server: Dynalite
before(async () => {
  server = await startDynalite()
})
after(() => server.close())

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function tables(): Promise<ReturnType<typeof parseDynamoUrl>> {
  const target = parseDynamoUrl(server.storeUrl(`l${randomUUID().slice(0, 8)}`))
  const store = await openDynamoStore({ target, createTables: true, credentials: DYNALITE_CREDENTIALS })
  await store.close()
  return target
}

function contender(target: ReturnType<typeof parseDynamoUrl>, instanceId: string, ttlMs: number) {
  const coordination = dynamoCoordination({ target, name: 'source', credentials: DYNALITE_CREDENTIALS })
  const events: string[] = []
  const tokens: number[] = []
  const lease = new RedisLease({
    backend: coordination.backend,
    name: 'source',
    instanceId,
    ttlMs,
    logger: silentLogger(),
    onAcquired: (token) => {
      events.push('acquired')
      tokens.push(token)
    },
    onLost: (reason) => events.push(reason),
  })
  return { lease, events, tokens, close: () => coordination.close() }
}

test('dynamodb lease: one holder among three, a fencing token that only grows, and a dead holder replaced within the TTL', async () => {
  const target = await tables()
  const ttlMs = 1_000
  const all = ['gw-a', 'gw-b', 'gw-c'].map((id) => contender(target, id, ttlMs))
  try {
    await Promise.all(all.map((c) => c.lease.start()))
    await sleep(300)
    const holders = all.filter((c) => c.lease.isValid())
    assert.equal(holders.length, 1, 'exactly one holder')
    const first = holders[0] as (typeof all)[number]
    assert.deepEqual(first.tokens, [1])
    const others = all.filter((c) => c !== first)
    for (const c of others)
      assert.equal(c.lease.state().holderId, first.lease.state().holderId, 'standbys see who holds it')

    // The holder stops renewing without releasing (a crash): a standby takes over once its TTL lapses.
    const diedAt = Date.now()
    ;(first.lease as unknown as { running: boolean }).running = false
    clearTimeout((first.lease as unknown as { timer: NodeJS.Timeout }).timer)
    const next = await (async () => {
      for (;;) {
        const h = others.find((c) => c.lease.isValid())
        if (h) return h
        if (Date.now() - diedAt > 3 * ttlMs) throw new Error('no new holder')
        await sleep(10)
      }
    })()
    assert.ok(Date.now() - diedAt <= ttlMs + 300, `a new holder within the TTL (${Date.now() - diedAt} ms)`)
    assert.ok((next.tokens[0] ?? 0) > 1, 'its fencing token is larger')
    await sleep(ttlMs)
    assert.equal(first.lease.isValid(), false, 'the old holder counts itself out')
    assert.equal(others.filter((c) => c.lease.isValid()).length, 1, 'still one holder')

    // A graceful stop releases: the other standby takes over without waiting for a TTL.
    await next.lease.stop()
    const last = others.find((c) => c !== next) as (typeof all)[number]
    const stoppedAt = Date.now()
    while (!last.lease.isValid() && Date.now() - stoppedAt < 3 * ttlMs) await sleep(10)
    assert.equal(last.lease.isValid(), true, 'the last standby took it')
    assert.ok((last.tokens[0] ?? 0) > (next.tokens[0] ?? 0), 'with a larger token again')
  } finally {
    for (const c of all) {
      await c.lease.stop()
      c.close()
    }
  }
})

test('dynamodb lease: a holder whose every store round trip is slow (a third of the TTL) keeps its lease', async () => {
  const target = await tables()
  // 330 ms each way: every acquire and renewal answers in about 660 ms of a 2 s lease (valid 1.9 s,
  // renewed every 667 ms). Counted from the replies, two renewals in a row (1.33 s) would overrun
  // it although each is well inside; counted from the sends, each has some 1.2 s to answer.
  const proxy = await startNetProxy({ target: { port: Number(new URL(server.endpoint).port) } })
  proxy.setDelay(330)
  const slow = { ...target, endpoint: `http://127.0.0.1:${proxy.port}` }
  const holder = contender(slow, 'gw-slow', 2_000)
  try {
    await holder.lease.start()
    assert.equal(holder.lease.isValid(), true, 'it took the free lease')
    await sleep(6_000)
    assert.deepEqual(holder.events, ['acquired'], 'held throughout: never expired, never taken')
    assert.equal(holder.lease.isValid(), true)
  } finally {
    await holder.lease.stop()
    holder.close()
    await proxy.close()
  }
})
