// A gateway that falls behind stops reading its Notifications socket (EVENTS_MAX_IN_FLIGHT) and
// reads on once it has caught up: the frames wait at Genesys and in the socket's buffers, none is
// lost, and every phone still rings and is cancelled once. The store is a real Redis behind a slow
// loopback path, the usual reason decisions pile up.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { NetProxy } from '../../src/sim/net-proxy.js'
import { sample } from '../observability/prom.js'
import { fcmPushes, fcmToken, startHarnessOnProxiedRedis, subscribed, waitFor, type Harness } from './harness.js'

const MAX_IN_FLIGHT = 4
let proxy: NetProxy
let h: Harness
let close: () => Promise<void>

before(async () => {
  ;({ h, proxy, close } = await startHarnessOnProxiedRedis('intake', { EVENTS_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) }))
})
after(() => close())

const fcmFor = (cid: string, action: string): number => fcmPushes(h, cid, action)

const metric = async (name: string): Promise<number | undefined> =>
  sample(await (await fetch(`${h.api}/metrics`)).text(), name)

test('a burst of offers bigger than EVENTS_MAX_IN_FLIGHT on a slow store: the socket is paused, then every phone rings and is cancelled once', async () => {
  const agents: string[] = []
  for (let i = 0; i < 24; i++) {
    const agent = h.world.genesys.addAgent({ name: `Intake ${i}` })
    assert.equal((await h.register(agent.accessToken, { platform: 'android', token: fcmToken() })).status, 201)
    agents.push(agent.userId)
  }
  for (const userId of agents) await subscribed(h, userId)
  assert.equal(await metric('push_gateway_intake_pauses_total'), 0)

  // Every store round trip now takes 40 ms or more: decisions pile up far past the limit.
  proxy.setDelay(20)
  const conversations = agents.map((userId) => h.world.genesys.offer({ userId, mediaType: 'voice' }).conversationId)
  await waitFor('every ring', () => conversations.every((cid) => fcmFor(cid, 'ring') === 1), 20_000)
  for (const cid of conversations) h.world.genesys.answer(cid)
  await waitFor('every cancel', () => conversations.every((cid) => fcmFor(cid, 'cancel_ring') === 1), 20_000)

  assert.ok(((await metric('push_gateway_intake_pauses_total')) ?? 0) >= 1, 'the socket was paused at least once')
  assert.equal(await metric('push_gateway_events_in_flight'), 0)
  // Nothing twice: one ring and one cancel per conversation.
  for (const cid of conversations) {
    assert.equal(fcmFor(cid, 'ring'), 1)
    assert.equal(fcmFor(cid, 'cancel_ring'), 1)
  }
  // The socket is still the same, healthy one: being paused is not silence.
  assert.equal(h.world.genesys.channels().filter((c) => c.connected).length, 1)
})
