// Prometheus scrapes /metrics after a real scenario (simulator → gateway → sandboxes) and finds
// the counts an operator would check.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { sample } from '../observability/prom.js'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

const ADMIN = 'admin-token-for-metrics-0123'
let h: Harness
before(async () => {
  h = await startHarness({ ADMIN_TOKEN: ADMIN })
})
after(() => h.close())

const scrape = async (token = ADMIN): Promise<{ status: number; type: string | null; text: string }> => {
  const res = await fetch(`${h.api}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

test('/metrics needs the admin token as a bearer token when ADMIN_TOKEN is set', async () => {
  assert.equal((await scrape('')).status, 401)
  assert.equal((await scrape('wrong-token-0123456789')).status, 401)
  const ok = await scrape()
  assert.equal(ok.status, 200)
  assert.match(ok.type ?? '', /^text\/plain; version=0\.0\.4/)
})

test('after a scenario, /metrics counts events, rings, cancels, suppressions, pushes and devices', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Metrics Agent' })
  for (const body of [
    { platform: 'ios', token: apnsToken(), pushType: 'voip', environment: 'sandbox' },
    { platform: 'ios', token: apnsToken(), pushType: 'alert', environment: 'sandbox' },
    { platform: 'android', token: fcmToken() },
  ])
    assert.equal((await h.register(agent.accessToken, body)).status, 201)
  await subscribed(h, agent.userId)
  const deliveredTo = (cid: string, action: string): number =>
    h.world.apns.accepted.filter((p) => p.payload.genesys_conversation_id === cid && p.payload.action === action)
      .length +
    h.world.fcm.accepted.filter(
      (m) =>
        (m.message.data as Record<string, string>).genesys_conversation_id === cid &&
        (m.message.data as Record<string, string>).action === action,
    ).length

  // A call answered (ring, then cancel on the alert token and the Android phone), then ended (nothing left to cancel).
  const call = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  await waitFor('the call rings', () => deliveredTo(call.conversationId, 'ring') === 2)
  h.world.genesys.answer(call.conversationId)
  await waitFor('the call is cancelled', () => deliveredTo(call.conversationId, 'cancel_ring') === 2)
  h.world.genesys.end(call.conversationId)
  // A chat the customer abandons.
  const chat = h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
  await waitFor('the chat rings', () => deliveredTo(chat.conversationId, 'ring') === 2)
  h.world.genesys.abandon(chat.conversationId)
  await waitFor('the chat is cancelled', () => deliveredTo(chat.conversationId, 'cancel_ring') === 2)

  // Device counts are read from the store at most once a second, so a scrape may lag that much.
  const text = await waitFor('the end of the call and the devices to be counted', async () => {
    const t = (await scrape()).text
    return (
      (sample(t, 'push_gateway_suppressed_total', { reason: 'not-ringing' }) ?? 0) >= 1 &&
      sample(t, 'push_gateway_devices', { platform: 'ios' }) === 2 &&
      t
    )
  })
  assert.equal(sample(text, 'push_gateway_rings_total', { media_type: 'voice' }), 1)
  assert.equal(sample(text, 'push_gateway_rings_total', { media_type: 'chat' }), 1)
  assert.equal(sample(text, 'push_gateway_cancels_total', { reason: 'answered' }), 1)
  assert.equal(sample(text, 'push_gateway_cancels_total', { reason: 'abandoned' }), 1)
  assert.ok((sample(text, 'push_gateway_events_received_total', { source: 'notifications', kind: 'offer' }) ?? 0) >= 2)
  assert.ok(
    (sample(text, 'push_gateway_events_received_total', { source: 'notifications', kind: 'answered' }) ?? 0) >= 1,
  )
  assert.ok((sample(text, 'push_gateway_events_received_total', { source: 'notifications', kind: 'ended' }) ?? 0) >= 2)
  assert.equal(sample(text, 'push_gateway_pushes_total', { provider: 'apns', action: 'ring', outcome: 'delivered' }), 2)
  assert.equal(sample(text, 'push_gateway_pushes_total', { provider: 'fcm', action: 'ring', outcome: 'delivered' }), 2)
  assert.equal(
    sample(text, 'push_gateway_pushes_total', { provider: 'apns', action: 'cancel', outcome: 'delivered' }),
    2,
  )
  assert.equal(
    sample(text, 'push_gateway_pushes_total', { provider: 'fcm', action: 'cancel', outcome: 'delivered' }),
    2,
  )
  assert.equal(sample(text, 'push_gateway_event_to_push_seconds_count', { provider: 'fcm', action: 'ring' }), 2)
  assert.ok(
    (sample(text, 'push_gateway_push_service_response_seconds_count', { provider: 'apns', outcome: 'delivered' }) ??
      0) >= 4,
  )
  assert.equal(sample(text, 'push_gateway_devices', { platform: 'ios' }), 2)
  assert.equal(sample(text, 'push_gateway_devices', { platform: 'android' }), 1)
  assert.equal(sample(text, 'push_gateway_store_up', { store: 'sqlite' }), 1)
  assert.equal(sample(text, 'push_gateway_source_connected', { source: 'notifications' }), 1)
  assert.equal(sample(text, 'push_gateway_lease_holder'), 1)
  assert.equal(sample(text, 'push_gateway_pushes_in_flight'), 0)
  assert.equal(sample(text, 'push_gateway_pushes_waiting'), 0)
  assert.ok(
    sample(text, 'process_resident_memory_bytes') !== undefined ||
      sample(text, 'nodejs_heap_size_used_bytes') !== undefined,
    'process metrics too',
  )
})

test('a push the service refuses is counted by its outcome', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Metrics Dead Token' })
  const dead = fcmToken()
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: dead })).status, 201)
  await subscribed(h, agent.userId)
  h.world.fcm.failToken(dead, { status: 404, errorCode: 'UNREGISTERED' })
  h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  const text = await waitFor('the refused push to be counted', async () => {
    const t = (await scrape()).text
    return (
      sample(t, 'push_gateway_pushes_total', { provider: 'fcm', action: 'ring', outcome: 'invalid-token' }) === 1 && t
    )
  })
  assert.equal(sample(text, 'push_gateway_tokens_pruned_total', { provider: 'fcm' }), 1)
})
