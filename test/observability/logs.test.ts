// The logs of a whole scenario, at debug level, as an operator's log pipeline would store them:
// JSON lines with request and conversation ids, and not one secret.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apnsToken, fcmToken, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { startLoggedGateway } from '../support/logged-gateway.js'
import type { TestWorld } from '../../src/sim/world.js'

const ADMIN = 'admin-token-for-log-test-0123'
let lines: string[]
let world: TestWorld
let api: string
let close: () => Promise<void>

before(async () => {
  ;({ world, api, lines: lines, close } = await startLoggedGateway({ ADMIN_TOKEN: ADMIN }))
})
after(() => close())

const parsed = (): Array<Record<string, unknown>> => lines.map((l) => JSON.parse(l) as Record<string, unknown>)

test('a full scenario logs JSON lines with request and conversation ids, and no secret', async () => {
  const agent = world.genesys.addAgent({ name: 'Log Agent' })
  const tokens = { voip: apnsToken(), alert: apnsToken(), android: fcmToken(), dead: fcmToken() }
  const register = async (body: object, requestId?: string): Promise<Response> =>
    fetch(`${api}/api/v1/devices`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${agent.accessToken}`,
        'content-type': 'application/json',
        ...(requestId ? { 'x-request-id': requestId } : {}),
      },
      body: JSON.stringify(body),
    })
  const first = await register(
    { platform: 'ios', token: tokens.voip, pushType: 'voip', environment: 'sandbox' },
    'lb-trace-42',
  )
  assert.equal(first.status, 201)
  assert.equal(first.headers.get('x-request-id'), 'lb-trace-42', 'a load balancer’s request id is kept and echoed')
  for (const body of [
    { platform: 'ios', token: tokens.alert, pushType: 'alert', environment: 'sandbox' },
    { platform: 'android', token: tokens.android },
    { platform: 'android', token: tokens.dead },
  ])
    assert.equal((await register(body)).status, 201)
  // A wrong token and a malformed body: error paths log too.
  assert.equal(
    (await fetch(`${api}/api/v1/devices`, { headers: { authorization: 'Bearer not-a-real-token-123456' } })).status,
    401,
  )
  assert.equal((await register({ platform: 'android', token: 'short' })).status, 400)
  await subscribed({ world } as Harness, agent.userId)

  world.fcm.failToken(tokens.dead, { status: 404, errorCode: 'UNREGISTERED' })
  const { conversationId } = world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  await waitFor('the ring', () =>
    world.fcm.accepted.some(
      (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
    ),
  )
  world.genesys.answer(conversationId)
  await waitFor('the cancel', () =>
    world.apns.accepted.some(
      (p) => p.payload.genesys_conversation_id === conversationId && p.payload.action === 'cancel_ring',
    ),
  )
  await waitFor('the dead token to be pruned', () =>
    parsed().some((l) => l.msg === 'push not delivered' && l.result === 'invalid-token' && l.pruned === true),
  )
  assert.equal((await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).status, 200)
  assert.equal(
    (await fetch(`${api}/dashboard/api/state`, { headers: { authorization: `Bearer ${ADMIN}` } })).status,
    200,
  )
  assert.equal(
    (await fetch(`${api}/dashboard/api/state`, { headers: { authorization: 'Bearer guessing-the-admin-token' } }))
      .status,
    401,
  )

  const all = lines.join('\n')
  if (process.env.SHOW_LOGS) console.log(all)
  assert.ok(lines.length > 10, `a debug-level scenario logs its steps (${lines.length} lines)`)
  const secrets: Record<string, string> = {
    'the Genesys client secret': world.client.clientSecret,
    'the agent access token': agent.accessToken,
    'the admin token': ADMIN,
    ...Object.fromEntries(Object.entries(tokens).map(([k, v]) => [`the full ${k} device token`, v])),
    ...keyLines('the APNs private key', world.apnsKey.privateKeyPem),
    ...keyLines('the FCM private key', world.serviceAccount.private_key),
  }
  for (const [what, secret] of Object.entries(secrets))
    assert.equal(all.includes(secret), false, `${what} is in the logs`)
  assert.doesNotMatch(all, /Bearer [A-Za-z0-9._~+/=-]{8,}/, 'no bearer credential of any kind')
  assert.doesNotMatch(all, /eyJ[A-Za-z0-9_-]{10,}\.eyJ/, 'no JWT (APNs provider token, Google assertion)')

  const entries = parsed()
  const registered = entries.filter((l) => l.msg === 'device registered')
  assert.equal(registered.length, 4)
  assert.ok(
    registered.every((l) => typeof l.reqId === 'string' && l.reqId.length > 0),
    'API lines carry the request id',
  )
  assert.equal(registered[0]?.reqId, 'lb-trace-42')
  assert.ok(
    registered.every((l) => typeof l.device === 'string' && (l.device as string).endsWith('…')),
    'devices appear as a short prefix',
  )
  const pushLines = entries.filter(
    (l) => l.component === 'dispatch' || l.component === 'fcm' || l.component === 'apns' || l.component === 'ring',
  )
  const forThisCall = pushLines.filter((l) => JSON.stringify(l).includes(tokens.dead.slice(0, 8)))
  assert.ok(forThisCall.length > 0, 'the dead token is logged (by prefix)')
  assert.ok(
    forThisCall.every((l) => l.conversationId === conversationId),
    'ring and push lines carry the conversation id',
  )
})

/** Each base64 line of a PEM body: no part of the key may appear. */
function keyLines(what: string, pem: string): Record<string, string> {
  return Object.fromEntries(
    pem
      .split('\n')
      .filter((l) => l.length > 20 && !l.startsWith('-----'))
      .map((l, i) => [`${what} (line ${i + 1})`, l]),
  )
}
