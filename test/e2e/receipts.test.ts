// Device receipts end to end: the real gateway against the Genesys simulator and the push sandboxes.
// The agent's app reports each push as a real app would (POST /api/v1/agent/received/{id}); the
// admin sees which phones ring; an agent whose phone stops reporting is flagged, announced to a
// webhook receiver on loopback and taken off queue in the simulator; a repeat is harmless; another
// agent's device, an unknown conversation and a flood are refused.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { recordTrial } from '../support/trials.js'
import { fcmToken, apnsToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

const ADMIN = 'admin-token-for-receipts-tests'
let h: Harness
let hooks: Server
const notices: Array<Record<string, unknown>> = []

before(async () => {
  hooks = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      notices.push({
        path: req.url,
        contentType: req.headers['content-type'],
        ...(JSON.parse(body) as Record<string, unknown>),
      })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve))
  const port = (hooks.address() as AddressInfo).port
  h = await startHarness({
    ADMIN_TOKEN: ADMIN,
    UNREACHABLE_AFTER: '2',
    UNREACHABLE_WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/secret-path`,
    UNREACHABLE_ACTION: 'off-queue',
    RATE_LIMIT_PER_MINUTE: '40',
  })
})
after(async () => {
  await h.close()
  await new Promise((resolve) => hooks.close(resolve))
})

async function agentWithAndroid(name: string): Promise<{ userId: string; accessToken: string; token: string }> {
  const agent = h.world.genesys.addAgent({ name })
  const token = fcmToken()
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'android', token, deviceId: `pixel-${agent.userId.slice(0, 8)}` }))
      .status,
    201,
  )
  await subscribed(h, agent.userId)
  return { userId: agent.userId, accessToken: agent.accessToken, token }
}

/** Offers a call and waits until the Android sandbox accepted the ring. */
async function rang(userId: string): Promise<{ conversationId: string; participantId: string }> {
  const offered = h.world.genesys.offer({ userId, mediaType: 'voice' })
  await waitFor('the ring on the Android phone', () =>
    h.world.fcm.accepted.some(
      (m) => (m.message.data as Record<string, string>).genesys_conversation_id === offered.conversationId,
    ),
  )
  return offered
}

function received(accessToken: string, conversationId: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${h.api}/api/v1/agent/received/${conversationId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

async function reachability(query = ''): Promise<{
  agents: Array<{ userId: string; name: string | null; state: string; devices: Array<Record<string, unknown>> }>
}> {
  const res = await fetch(`${h.api}/api/v1/admin/reachability${query}`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  })
  assert.equal(res.status, 200)
  return (await res.json()) as never
}

const agentIn = async (userId: string, query = '') =>
  (await reachability(query)).agents.find((a) => a.userId === userId)

test('the phone reports the ring: 204 (and 204 again for a repeat), the admin sees the agent reachable with its receipt latency', async () => {
  const agent = await agentWithAndroid('Rita Receipt')
  const { conversationId, participantId } = await rang(agent.userId)
  assert.equal((await agentIn(agent.userId))?.state, 'unknown', 'rung, not reported yet')

  const first = await received(agent.accessToken, conversationId, { token: agent.token, action: 'ring', participantId })
  assert.equal(first.status, 204)
  assert.equal(
    (await received(agent.accessToken, conversationId, { token: agent.token })).status,
    204,
    'a repeat is harmless',
  )

  const view = await agentIn(agent.userId)
  assert.equal(view?.state, 'reachable')
  assert.equal(view?.name, 'Rita Receipt')
  const [device] = view?.devices ?? []
  assert.equal(device?.token, `${agent.token.slice(0, 8)}…`, 'a prefix only')
  assert.equal(device?.platform, 'android')
  assert.equal(device?.state, 'reachable')
  assert.equal(device?.missedInARow, 0)
  assert.equal(typeof device?.receiptLatencyMs, 'number')
  assert.ok(Date.parse(String(device?.lastReceiptAt)) > Date.now() - 10_000)
  assert.ok(!JSON.stringify(await reachability()).includes(agent.token), 'no full token anywhere in the view')

  const metrics = await (await fetch(`${h.api}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text()
  assert.match(metrics, /push_gateway_device_receipt_seconds_count\{[^}]*provider="fcm"[^}]*action="ring"[^}]*\} 1\b/)
  assert.match(metrics, /push_gateway_unreachable_agents\{[^}]*\} \d+/)
  h.world.genesys.answer(conversationId)
})

test('refused: another agent’s device, a conversation that never rang this device, a malformed body; nothing changes', async () => {
  const agent = await agentWithAndroid('Rae Refused')
  const other = await agentWithAndroid('Otto Other')
  const { conversationId } = await rang(agent.userId)

  const foreign = await received(other.accessToken, conversationId, { token: agent.token })
  assert.equal(foreign.status, 404)
  assert.equal(((await foreign.json()) as { error: { code: string } }).error.code, 'DEVICE_NOT_FOUND')
  const unknown = await received(agent.accessToken, '7d1c6a57-0000-4000-8000-000000000000', { token: agent.token })
  assert.equal(unknown.status, 404)
  assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'PUSH_NOT_FOUND')
  const notRung = await received(other.accessToken, conversationId, { token: other.token })
  assert.equal(notRung.status, 404, 'the conversation rang another agent, not this device')
  const cancelNotSent = await received(agent.accessToken, conversationId, { token: agent.token, action: 'cancel_ring' })
  assert.equal(cancelNotSent.status, 404, 'no cancel went out yet')
  const bad = await received(agent.accessToken, conversationId, { token: agent.token, action: 'ringing' })
  assert.equal(bad.status, 400)
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'INVALID_REQUEST')

  const statesAfter = [(await agentIn(agent.userId))?.state, (await agentIn(other.userId))?.state]
  const refusals = [foreign.status, unknown.status, notRung.status, cancelNotSent.status, bad.status]
  recordTrial(
    {
      id: 'security.device-receipts',
      area: 'security',
      what: "Device receipts that must not count: another agent's device token, a conversation that never rang the device, a ring that went to another agent, a cancel never sent, an unknown action",
      tried: refusals.length,
      unit: 'requests',
      held: "each refused with 404 or 400 and the error body; neither agent's reachability changed",
      lost:
        refusals.filter((status) => status < 400 || status >= 500).length +
        statesAfter.filter((state) => state !== 'unknown').length,
    },
    import.meta.url,
  )
  assert.deepEqual(statesAfter, ['unknown', 'unknown'])
  h.world.genesys.abandon(conversationId)
})

test('a flood of receipts is rate-limited per agent with 429 and Retry-After', async () => {
  const agent = await agentWithAndroid('Flo Flood')
  const { conversationId } = await rang(agent.userId)
  const statuses: number[] = []
  for (let i = 0; i < 45; i++) {
    const res = await received(agent.accessToken, conversationId, { token: agent.token })
    statuses.push(res.status)
    if (res.status === 429) {
      assert.ok(Number(res.headers.get('retry-after')) >= 1)
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED')
    } else await res.body?.cancel()
  }
  // RATE_LIMIT_PER_MINUTE=40 per agent token, the registration included: at most 39 receipts pass.
  const letIn = Math.max(0, statuses.filter((s) => s === 204).length - 39)
  const errors = statuses.filter((s) => s >= 500).length
  recordTrial(
    {
      id: 'security.device-receipt-flood',
      area: 'security',
      what: "A flood of 45 device receipts from one agent's token within a minute (RATE_LIMIT_PER_MINUTE=40)",
      tried: statuses.length,
      unit: 'requests',
      held: 'past the limit every receipt answered 429 RATE_LIMITED with Retry-After; no 5xx',
      lost: letIn + errors,
    },
    import.meta.url,
  )
  assert.equal(letIn + errors, 0, statuses.join(','))
  assert.ok(statuses.includes(204))
  assert.ok(statuses.filter((s) => s === 429).length >= 5, `429s: ${statuses.join(',')}`)
  h.world.genesys.abandon(conversationId)
})

test('a phone that stops reporting: after UNREACHABLE_AFTER missed rings the agent is unreachable, the webhook hears it, Genesys puts the agent off queue; one receipt and it is reachable again', async () => {
  const agent = await agentWithAndroid('Una Unreachable')
  assert.equal(h.world.genesys.routingStatus(agent.userId), 'IDLE')
  // The app reports once, so it is known to report.
  const first = await rang(agent.userId)
  assert.equal((await received(agent.accessToken, first.conversationId, { token: agent.token })).status, 204)
  h.world.genesys.answer(first.conversationId)

  for (let i = 1; i <= 2; i++) {
    const missed = await rang(agent.userId)
    h.world.genesys.abandon(missed.conversationId)
    await waitFor(`miss ${i} counted`, async () => (await agentIn(agent.userId))?.devices[0]?.missedInARow === i)
  }
  assert.equal((await agentIn(agent.userId))?.state, 'unreachable')
  assert.ok((await reachability('?state=unreachable')).agents.some((a) => a.userId === agent.userId))
  assert.ok(!(await reachability('?state=reachable')).agents.some((a) => a.userId === agent.userId))

  const down = await waitFor('the unreachable notice', () =>
    notices.find((n) => n.event === 'agent.unreachable' && (n.agent as { userId: string }).userId === agent.userId),
  )
  assert.equal(down.path, '/hooks/secret-path')
  assert.equal(down.contentType, 'application/json')
  assert.equal(down.previousState, 'reachable')
  assert.equal((down.agent as { name: string }).name, 'Una Unreachable')
  await waitFor('the agent off queue in Genesys', () => h.world.genesys.routingStatus(agent.userId) === 'OFF_QUEUE')

  const audit = (await (
    await fetch(`${h.api}/api/v1/admin/audit?userId=${agent.userId}`, { headers: { authorization: `Bearer ${ADMIN}` } })
  ).json()) as { entries: Array<{ kind: string; reason: string }> }
  const actions = audit.entries.filter((e) => e.kind === 'reachability').map((e) => e.reason)
  assert.ok(
    actions.some((r) => r.startsWith('webhook agent.unreachable delivered')),
    actions.join(' | '),
  )
  assert.ok(
    actions.some((r) => r.startsWith('routing status set to OFF_QUEUE')),
    actions.join(' | '),
  )

  const back = await rang(agent.userId)
  assert.equal((await received(agent.accessToken, back.conversationId, { token: agent.token })).status, 204)
  assert.equal((await agentIn(agent.userId))?.state, 'reachable')
  const up = await waitFor('the reachable-again notice', () =>
    notices.find((n) => n.event === 'agent.reachable' && (n.agent as { userId: string }).userId === agent.userId),
  )
  assert.equal(up.previousState, 'unreachable')
  assert.equal(
    notices.filter((n) => (n.agent as { userId: string }).userId === agent.userId).length,
    2,
    'one notice per change',
  )
  h.world.genesys.answer(back.conversationId)
})

test('answering on a phone counts as its receipt: the other phone that never reported stays unknown', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Andy Answer' })
  const android = fcmToken()
  const voip = apnsToken()
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: android })).status, 201)
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'ios', token: voip, pushType: 'voip', environment: 'sandbox' }))
      .status,
    201,
  )
  await subscribed(h, agent.userId)
  const { conversationId } = await rang(agent.userId)
  const res = await fetch(`${h.api}/api/v1/agent/answered/${conversationId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token: android }),
  })
  assert.equal(res.status, 200)
  h.world.genesys.answer(conversationId)
  const view = await waitFor('the answer counted', async () => {
    const a = await agentIn(agent.userId)
    return a?.state === 'reachable' && a
  })
  assert.equal(view.devices.find((d) => d.platform === 'android')?.state, 'reachable')
  assert.equal(view.devices.find((d) => d.platform === 'ios')?.state, 'unknown')
})
