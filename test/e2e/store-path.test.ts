// The store's network path goes silent, the usual failure on cloud networks: a NAT or firewall
// forgets the flow, bytes vanish and nothing is closed. The gateway must notice within
// REDIS_REPLY_TIMEOUT_MS, reconnect, and ring the next offer, not wait for the kernel to give up on
// the connection (about 15 minutes, during which no decision could finish). The store is a real
// Redis behind the loopback proxy that black-holes the flows it already carries.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { NetProxy } from '../../src/sim/net-proxy.js'
import { recordTrial } from '../support/trials.js'
import { fcmPushes, fcmToken, startHarnessOnProxiedRedis, subscribed, waitFor, type Harness } from './harness.js'

const REPLY_TIMEOUT_MS = 500
let proxy: NetProxy
let h: Harness
let close: () => Promise<void>

before(async () => {
  ;({ h, proxy, close } = await startHarnessOnProxiedRedis('store-path', {
    REDIS_REPLY_TIMEOUT_MS: String(REPLY_TIMEOUT_MS),
  }))
})
after(() => close())

const fcmFor = (cid: string, action: string): number => fcmPushes(h, cid, action)

test('the Redis path goes silent mid-run: the connection is replaced and the next offer rings within seconds, once', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Silent Path' })
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: fcmToken() })).status, 201)
  await subscribed(h, agent.userId)

  const first = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' }).conversationId
  await waitFor('the first ring', () => fcmFor(first, 'ring') === 1, 10_000)
  h.world.genesys.answer(first)
  await waitFor('the first cancel', () => fcmFor(first, 'cancel_ring') === 1, 10_000)

  // Every flow the proxy carries now loses its bytes; new connections still go through.
  const connectsBefore = proxy.connects
  proxy.blackHoleExisting()
  const offeredAt = Date.now()
  const second = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' }).conversationId
  await waitFor('the ring after the path went silent', () => fcmFor(second, 'ring') === 1, 10_000)
  const ringAfterMs = Date.now() - offeredAt
  assert.ok(ringAfterMs < 5_000, `rang ${ringAfterMs} ms after the offer`)
  assert.ok(proxy.connects > connectsBefore, 'the gateway opened a new connection to Redis')

  // The new connection carries the rest of the conversation: the answer cancels the ring, and
  // nothing was pushed twice by the commands sent again on it.
  h.world.genesys.answer(second)
  await waitFor('the cancel on the new connection', () => fcmFor(second, 'cancel_ring') === 1, 10_000)
  await new Promise((resolve) => setTimeout(resolve, REPLY_TIMEOUT_MS))
  recordTrial(
    {
      id: 'fault.redis-path-silent',
      area: 'fault',
      what: 'The path to Redis goes silent mid-run (a NAT forgets the flows: bytes vanish, nothing is closed), then an offer and its answer',
      tried: 1,
      unit: 'silent path',
      held: 'the connection is replaced within REDIS_REPLY_TIMEOUT_MS; the offer rings once, within 5 s, and is cancelled once',
      lost: Math.abs(fcmFor(second, 'ring') - 1) + Math.abs(fcmFor(second, 'cancel_ring') - 1),
      observed: `rang ${ringAfterMs} ms after the offer (REDIS_REPLY_TIMEOUT_MS ${REPLY_TIMEOUT_MS})`,
    },
    import.meta.url,
  )
  assert.equal(fcmFor(second, 'ring'), 1)
  assert.equal(fcmFor(second, 'cancel_ring'), 1)
})
