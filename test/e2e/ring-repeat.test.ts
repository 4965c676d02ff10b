// RING_REPEAT_S end to end: a ring no device reported is sent again to the Android phone (same
// collapse key) until it reports or the ring ends; the iPhone rung through PushKit gets it once,
// since iOS reports every VoIP push as a new call.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

let h: Harness
before(async () => {
  h = await startHarness({ RING_REPEAT_S: '1', RING_TIMEOUT_S: '20' })
})
after(() => h.close())

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('an unreported ring repeats every RING_REPEAT_S on Android with the same collapse key, never through PushKit, and stops at the receipt', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Rex Repeat' })
  const android = fcmToken()
  const voip = apnsToken()
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: android })).status, 201)
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'ios', token: voip, pushType: 'voip', environment: 'sandbox' }))
      .status,
    201,
  )
  await subscribed(h, agent.userId)

  const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  const rings = () =>
    h.world.fcm.accepted.filter(
      (m) =>
        (m.message.data as Record<string, string>).genesys_conversation_id === conversationId &&
        (m.message.data as Record<string, string>).action === 'ring',
    )
  const voipRings = () =>
    h.world.apns.accepted.filter(
      (p) => p.payload.genesys_conversation_id === conversationId && p.payload.action === 'ring',
    )
  await waitFor('two repeats on the Android phone', () => rings().length >= 3, 5_000)
  for (const m of rings())
    assert.equal((m.message as { android: { collapse_key: string } }).android.collapse_key, conversationId)
  assert.equal(voipRings().length, 1, 'PushKit rang once')

  // The phone reports: the repeats stop.
  const res = await fetch(`${h.api}/api/v1/agent/received/${conversationId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token: android }),
  })
  assert.equal(res.status, 204)
  await sleep(300)
  const afterReceipt = rings().length
  await sleep(2_300)
  assert.equal(rings().length, afterReceipt, 'no repeat after the receipt')
  assert.equal(voipRings().length, 1)
  h.world.genesys.answer(conversationId)
})

test('repeats stop when the ring ends, and the last push the phone gets is the cancel', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Rhea Repeat' })
  const android = fcmToken()
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: android })).status, 201)
  await subscribed(h, agent.userId)
  const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
  const pushes = () =>
    h.world.fcm.accepted.filter(
      (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
    )
  await waitFor('a repeat', () => pushes().length >= 2, 5_000)
  h.world.genesys.abandon(conversationId)
  await waitFor('the cancel', () => pushes().some((m) => (m.message.data as Record<string, string>).action !== 'ring'))
  await sleep(2_300)
  const last = pushes().at(-1)
  assert.notEqual((last?.message.data as Record<string, string>).action, 'ring', 'nothing rings after the cancel')
})
