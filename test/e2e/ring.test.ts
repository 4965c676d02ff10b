import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { AcceptedPush } from '../../src/sim/apns/index.js'
import type { AcceptedMessage } from '../../src/sim/fcm/index.js'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

let h: Harness
before(async () => {
  h = await startHarness({ RING_TIMEOUT_S: '30' })
})
after(() => h.close())

interface Phone {
  voip: string
  alert: string
  android: string
}

/** An agent with an iPhone (PushKit and alert tokens) and an Android phone, registered through the API. */
async function agentWithPhones(name: string): Promise<{ userId: string; phone: Phone }> {
  const agent = h.world.genesys.addAgent({ name })
  const phone = { voip: apnsToken(), alert: apnsToken(), android: fcmToken() }
  for (const body of [
    { platform: 'ios', token: phone.voip, pushType: 'voip', environment: 'sandbox' },
    { platform: 'ios', token: phone.alert, pushType: 'alert', environment: 'sandbox' },
    { platform: 'android', token: phone.android },
  ])
    assert.equal((await h.register(agent.accessToken, body)).status, 201)
  await subscribed(h, agent.userId)
  return { userId: agent.userId, phone }
}

const apnsFor = (cid: string, action: string): AcceptedPush[] =>
  h.world.apns.accepted.filter((p) => p.payload.genesys_conversation_id === cid && p.payload.action === action)
const fcmFor = (cid: string, action: string): AcceptedMessage[] =>
  h.world.fcm.accepted.filter(
    (m) =>
      (m.message.data as Record<string, string>).genesys_conversation_id === cid &&
      (m.message.data as Record<string, string>).action === action,
  )

test('a call offered to an agent rings the iPhone through PushKit and the Android phone with a data message', async () => {
  const { userId, phone } = await agentWithPhones('Ring Voice')
  const queue = h.world.genesys.addQueue({ name: 'Sales Support' })
  const { conversationId, participantId } = h.world.genesys.offer({
    userId,
    mediaType: 'voice',
    queueId: queue.id,
    ani: 'tel:+15550199888',
  })

  const [voip] = await waitFor('the VoIP push', () => {
    const p = apnsFor(conversationId, 'ring')
    return p.length > 0 && p
  })
  const [android] = await waitFor('the FCM message', () => {
    const m = fcmFor(conversationId, 'ring')
    return m.length > 0 && m
  })
  assert.ok(voip && android)

  assert.equal(voip.token, phone.voip)
  assert.equal(voip.headers['apns-push-type'], 'voip')
  assert.equal(voip.headers['apns-topic'], `${h.world.bundleId}.voip`)
  assert.equal(voip.headers['apns-priority'], '10')
  assert.equal(voip.headers['apns-collapse-id'], conversationId)
  const expiration = Number(voip.headers['apns-expiration'])
  assert.ok(expiration > Date.now() / 1000 && expiration <= Date.now() / 1000 + 31, 'expires with the ring')
  assert.equal(voip.payload.genesys_user_id, userId)
  assert.equal(voip.payload.genesys_participant_id, participantId)
  assert.equal(voip.payload.media_type, 'voice')
  assert.equal(voip.payload.caller, '+15550199888')
  assert.ok(
    typeof voip.payload.aps === 'object' && !('custom' in (voip.payload.aps as object)),
    'custom keys stand beside aps',
  )

  const msg = android.message as {
    token: string
    data: Record<string, string>
    android: { priority: string; ttl: string }
    notification?: unknown
  }
  assert.equal(msg.token, phone.android)
  assert.equal(msg.android.priority, 'HIGH')
  assert.match(msg.android.ttl, /^(30|29)s$/)
  assert.equal(msg.notification, undefined, 'data-only')
  assert.equal(msg.data.genesys_conversation_id, conversationId)

  // The alert token of the same iPhone stays quiet for a call: PushKit rings it.
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(h.world.apns.accepted.filter((p) => p.token === phone.alert).length, 0)
})

test('a chat rings the iPhone as a time-sensitive alert with INCOMING_CALL category', async () => {
  const { userId, phone } = await agentWithPhones('Ring Chat')
  const { conversationId } = h.world.genesys.offer({ userId, mediaType: 'chat' })
  const [alert] = await waitFor('the alert push', () => {
    const p = apnsFor(conversationId, 'ring')
    return p.length > 0 && p
  })
  assert.ok(alert)
  assert.equal(alert.token, phone.alert)
  assert.equal(alert.headers['apns-push-type'], 'alert')
  assert.equal(alert.headers['apns-topic'], h.world.bundleId)
  const aps = alert.payload.aps as Record<string, unknown>
  assert.equal(aps.category, 'INCOMING_CALL')
  assert.equal(aps.sound, 'default')
  assert.equal(aps['interruption-level'], 'time-sensitive')
  assert.equal((aps.alert as { title: string }).title, 'Incoming chat')
  assert.equal(
    apnsFor(conversationId, 'ring').some((p) => p.token === phone.voip),
    false,
    'no chat through PushKit',
  )
})

test('the agent answering cancels the ring on the devices that rang, once each', async () => {
  const { userId, phone } = await agentWithPhones('Ring Answer')
  const { conversationId } = h.world.genesys.offer({ userId, mediaType: 'voice' })
  await waitFor(
    'the ring',
    () => apnsFor(conversationId, 'ring').length === 1 && fcmFor(conversationId, 'ring').length === 1,
  )
  h.world.genesys.answer(conversationId)

  const [cancel] = await waitFor('the APNs cancel', () => {
    const p = apnsFor(conversationId, 'cancel_ring')
    return p.length > 0 && p
  })
  await waitFor('the FCM cancel', () => fcmFor(conversationId, 'cancel_ring').length === 1)
  assert.ok(cancel)
  // The PushKit ring is cancelled through the phone's alert token (Apple: every VoIP push must report a call).
  assert.equal(cancel.token, phone.alert)
  assert.equal((cancel.payload.aps as Record<string, unknown>).category, 'CALL_CANCEL')
  assert.equal(cancel.payload.reason, 'answered')
  assert.equal(cancel.headers['apns-collapse-id'], conversationId)

  h.world.genesys.end(conversationId)
  await new Promise((r) => setTimeout(r, 150))
  assert.equal(apnsFor(conversationId, 'cancel_ring').length, 1)
  assert.equal(fcmFor(conversationId, 'cancel_ring').length, 1)
})

test('the caller abandoning cancels the ring with reason abandoned', async () => {
  const { userId } = await agentWithPhones('Ring Abandon')
  const { conversationId } = h.world.genesys.offer({ userId, mediaType: 'voice' })
  await waitFor('the ring', () => fcmFor(conversationId, 'ring').length === 1)
  h.world.genesys.abandon(conversationId)
  const [cancel] = await waitFor('the FCM cancel', () => {
    const m = fcmFor(conversationId, 'cancel_ring')
    return m.length > 0 && m
  })
  assert.equal((cancel?.message.data as Record<string, string>).reason, 'abandoned')
  await waitFor('the APNs cancel', () => apnsFor(conversationId, 'cancel_ring').length === 1)
})

test('offer then abandon 10 ms later: each device gets the ring, then the cancel, in that order', async () => {
  const { userId, phone } = await agentWithPhones('Ring Fast Abandon')
  const { conversationId } = h.world.genesys.offer({ userId, mediaType: 'voice' })
  await new Promise((r) => setTimeout(r, 10))
  h.world.genesys.abandon(conversationId)
  await waitFor(
    'both cancels',
    () => fcmFor(conversationId, 'cancel_ring').length === 1 && apnsFor(conversationId, 'cancel_ring').length === 1,
  )
  const fcmOrder = h.world.fcm.accepted
    .filter((m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId)
    .map((m) => (m.message.data as Record<string, string>).action)
  assert.deepEqual(fcmOrder, ['ring', 'cancel_ring'])
  const ring = apnsFor(conversationId, 'ring')[0]
  const cancel = apnsFor(conversationId, 'cancel_ring')[0]
  assert.equal(ring?.token, phone.voip)
  assert.ok(ring && cancel && ring.hrtime <= cancel.hrtime, 'the ring reached Apple before its cancel')
})

test('a dropped Genesys socket and its reconnect do not ring an open ring again', async () => {
  const { userId } = await agentWithPhones('Ring Once')
  const { conversationId } = h.world.genesys.offer({ userId, mediaType: 'message' })
  await waitFor('the ring', () => fcmFor(conversationId, 'ring').length === 1)
  h.world.genesys.dropSockets()
  await subscribed(h, userId)
  await new Promise((r) => setTimeout(r, 200))
  assert.equal(fcmFor(conversationId, 'ring').length, 1)
})
