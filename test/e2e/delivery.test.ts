// Whole-gateway delivery scenarios against the simulator and the sandboxes: answered on a device,
// the soft presence filter, Web Push devices, the admin audit query.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

const ADMIN = 'admin-token-0123456789abcdef'
let h: Harness
before(async () => {
  h = await startHarness({ PRESENCE_FILTER: 'soft', PRESENCE_LAG_MS: '400', ADMIN_TOKEN: ADMIN })
})
after(() => h.close())

interface Agent {
  userId: string
  accessToken: string
  voip: string
  alert: string
  android: string
  web: string
}

async function agentWithDevices(name: string): Promise<Agent> {
  const agent = h.world.genesys.addAgent({ name })
  const sub = h.world.webpush.subscribe({ applicationServerKey: h.world.vapid.publicKey })
  const a = { ...agent, voip: apnsToken(), alert: apnsToken(), android: fcmToken(), web: sub.endpoint }
  for (const body of [
    { platform: 'ios', token: a.voip, pushType: 'voip', environment: 'sandbox' },
    { platform: 'ios', token: a.alert, pushType: 'alert', environment: 'sandbox' },
    { platform: 'android', token: a.android },
    { platform: 'web', subscription: { ...sub, expirationTime: null } },
  ]) {
    const res = await h.register(agent.accessToken, body)
    assert.equal(res.status, 201, JSON.stringify(res.json))
  }
  await subscribed(h, agent.userId)
  return a
}

/** Every push (any service) for one conversation, as [device token, action] in arrival order. */
function pushes(cid: string): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = []
  for (const p of h.world.apns.accepted)
    if (p.payload.genesys_conversation_id === cid) out.push([p.token, String(p.payload.action), p.hrtime])
  for (const m of h.world.fcm.accepted) {
    const data = m.message.data as Record<string, string>
    if (data.genesys_conversation_id === cid) out.push([String(m.message.token), data.action ?? '', m.hrtime])
  }
  for (const w of h.world.webpush.accepted)
    if (w.payload?.genesys_conversation_id === cid) out.push([w.endpoint, String(w.payload.action), w.hrtime])
  return out.sort((x, y) => x[2] - y[2])
}
const tokensFor = (cid: string, action: string): string[] =>
  pushes(cid)
    .filter(([, a]) => a === action)
    .map(([t]) => t)
    .sort()

async function answered(
  a: Agent,
  cid: string,
  body: Record<string, unknown>,
  accessToken = a.accessToken,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${h.api}/api/v1/agent/answered/${cid}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

async function auditFor(
  q: string,
  token = ADMIN,
): Promise<{ status: number; json: { entries?: Array<Record<string, unknown>>; error?: { code: string } } }> {
  const res = await fetch(`${h.api}/api/v1/admin/audit?${q}`, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, json: (await res.json()) as { entries?: Array<Record<string, unknown>> } }
}

test('answered via the endpoint on the Android phone: the other devices get a cancel at once, then Genesys connected adds none', async () => {
  const a = await agentWithDevices('Answer Endpoint')
  const { conversationId, participantId } = h.world.genesys.offer({ userId: a.userId, mediaType: 'voice' })
  await waitFor('the ring on every device', () => tokensFor(conversationId, 'ring').length === 3)
  assert.deepEqual(tokensFor(conversationId, 'ring'), [a.voip, a.android, a.web].sort())

  const res = await answered(a, conversationId, { token: a.android, participantId })
  assert.equal(res.status, 200)
  assert.deepEqual(res.json, { conversationId, rings: 1, cancelled: 2 })
  await waitFor('the cancels', () => tokensFor(conversationId, 'cancel_ring').length === 2)
  // The PushKit ring is cancelled through the iPhone's alert token; the Android phone that answered gets nothing.
  assert.deepEqual(tokensFor(conversationId, 'cancel_ring'), [a.alert, a.web].sort())

  h.world.genesys.answer(conversationId)
  await new Promise((r) => setTimeout(r, 250))
  assert.deepEqual(tokensFor(conversationId, 'cancel_ring'), [a.alert, a.web].sort(), 'each device at most one cancel')
})

test("the answered endpoint refuses another agent's device and a missing token", async () => {
  const a = await agentWithDevices('Answer Owner')
  const b = h.world.genesys.addAgent({ name: 'Answer Intruder' })
  const { conversationId } = h.world.genesys.offer({ userId: a.userId, mediaType: 'chat' })
  await waitFor('the ring', () => tokensFor(conversationId, 'ring').length === 3)
  assert.equal((await answered(a, conversationId, { token: a.android }, b.accessToken)).status, 404)
  const noAuth = await fetch(`${h.api}/api/v1/agent/answered/${conversationId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"token":"x"}',
  })
  assert.equal(noAuth.status, 401)
  assert.equal((await answered(a, conversationId, {})).status, 400)
  await new Promise((r) => setTimeout(r, 100))
  assert.deepEqual(tokensFor(conversationId, 'cancel_ring'), [])
})

test('offer then abandon inside 50 ms: on each device the ring, then the cancel, in that order', async () => {
  const a = await agentWithDevices('Fast Abandon')
  const { conversationId } = h.world.genesys.offer({ userId: a.userId, mediaType: 'chat' })
  await new Promise((r) => setTimeout(r, 20))
  h.world.genesys.abandon(conversationId)
  await waitFor('three cancels', () => tokensFor(conversationId, 'cancel_ring').length === 3)
  for (const token of [a.alert, a.android, a.web]) {
    assert.deepEqual(
      pushes(conversationId)
        .filter(([t]) => t === token)
        .map(([, action]) => action),
      ['ring', 'cancel_ring'],
      token.slice(0, 24),
    )
  }
})

test('a Web Push device gets the ring decrypted with Urgency high and a TTL within the ring', async () => {
  const a = await agentWithDevices('Web Ring')
  const queue = h.world.genesys.addQueue({ name: 'Web Support' })
  const { conversationId } = h.world.genesys.offer({ userId: a.userId, mediaType: 'message', queueId: queue.id })
  const push = await waitFor('the web push', () =>
    h.world.webpush.accepted.find((w) => w.endpoint === a.web && w.payload?.genesys_conversation_id === conversationId),
  )
  assert.equal(push.urgency, 'high')
  assert.ok(push.ttl > 0 && push.ttl <= 30)
  assert.equal(push.payload?.media_type, 'message')
  assert.equal(push.payload?.title, 'Incoming message')
  assert.equal(push.vapid.sub, h.world.vapid.subject)
})

test('presence soft: an agent Away for longer than the lag is not rung and the audit says why; just changed, it rings', async () => {
  const a = await agentWithDevices('Presence Away')
  await waitFor(
    'the presence subscription',
    () => h.world.genesys.channels().some((c) => c.topics.includes(`v2.users.${a.userId}.presence`)) || undefined,
  )
  h.world.genesys.setPresence(a.userId, 'Away')
  await new Promise((r) => setTimeout(r, 600))
  const held = h.world.genesys.offer({ userId: a.userId, mediaType: 'voice' })
  const entry = await waitFor(
    'the audit entry',
    async () => (await auditFor(`userId=${a.userId}&conversationId=${held.conversationId}`)).json.entries?.[0],
  )
  assert.equal(entry.kind, 'suppressed')
  assert.match(String(entry.reason), /presence.*Away/i)
  assert.deepEqual(tokensFor(held.conversationId, 'ring'), [])

  h.world.genesys.setPresence(a.userId, 'On Queue')
  h.world.genesys.setPresence(a.userId, 'Break')
  // Break, but changed a moment ago: Genesys presence lags routing, so the offer is trusted.
  const lagged = h.world.genesys.offer({ userId: a.userId, mediaType: 'voice' })
  await waitFor('the ring despite Break', () => tokensFor(lagged.conversationId, 'ring').length === 3)
})

test('the admin audit query needs the admin token', async () => {
  assert.equal((await fetch(`${h.api}/api/v1/admin/audit`)).status, 401)
  const wrong = await auditFor('', 'not-the-admin-token-at-all')
  assert.equal(wrong.status, 401)
  assert.equal(wrong.json.error?.code, 'UNAUTHORIZED')
  assert.equal((await auditFor('userId=bad%20id')).status, 400)
  assert.equal((await auditFor('')).status, 200)
})
