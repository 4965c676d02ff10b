// No secret and no full device token leaves the gateway through what operators and clients read:
// Prometheus metrics, the dashboard's state and live stream, the admin audit and alarms, readiness,
// the OpenAPI document, every error body (requests deliberately carrying tokens in paths, queries,
// headers and malformed bodies), and the debug logs of the same scenario.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apnsToken, fcmToken, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { startLoggedGateway } from '../support/logged-gateway.js'
import type { TestWorld } from '../../src/sim/world.js'
import { recordTrial } from '../support/trials.js'

const ADMIN = 'admin-token-secrets-test-0123456789'
const SECRET = 'webhook-secret-secrets-test-0123'
let logs: string[]
let world: TestWorld
let api: string
let close: () => Promise<void>

before(async () => {
  ;({ world, api, lines: logs, close } = await startLoggedGateway({ ADMIN_TOKEN: ADMIN, WEBHOOK_SECRET: SECRET }))
})
after(() => close())

const admin = { authorization: `Bearer ${ADMIN}` }

async function readStream(ms: number): Promise<string> {
  const ac = new AbortController()
  const res = await fetch(`${api}/dashboard/api/stream`, { headers: admin, signal: ac.signal })
  const reader = res.body!.getReader()
  let text = ''
  const stop = setTimeout(() => ac.abort(), ms)
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString()
    }
  } catch {
    // aborted: the stream never ends by itself
  }
  clearTimeout(stop)
  return text
}

test('metrics, dashboard, audit, alarms, readiness, docs, error bodies and logs hold no secret and no full device token', async () => {
  const agent = world.genesys.addAgent({ name: 'Secret Keeper' })
  const other = world.genesys.addAgent({ name: 'Someone Else' })
  const tokens = { voip: apnsToken(), alert: apnsToken(), android: fcmToken(), dead: fcmToken(), others: fcmToken() }
  const register = (accessToken: string, body: unknown): Promise<Response> =>
    fetch(`${api}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  for (const body of [
    { platform: 'ios', token: tokens.voip, pushType: 'voip', environment: 'sandbox' },
    { platform: 'ios', token: tokens.alert, pushType: 'alert', environment: 'sandbox' },
    { platform: 'android', token: tokens.android },
    { platform: 'android', token: tokens.dead },
  ])
    assert.equal((await register(agent.accessToken, body)).status, 201)
  assert.equal((await register(other.accessToken, { platform: 'android', token: tokens.others })).status, 201)
  await subscribed({ world } as Harness, agent.userId)
  world.fcm.failToken(tokens.dead, { status: 404, errorCode: 'UNREGISTERED' })
  world.apns.failNext(1, { status: 500, reason: 'InternalServerError' })
  const { conversationId } = world.genesys.offer({ userId: agent.userId, mediaType: 'voice', ani: 'tel:+15550100999' })
  await waitFor('the ring', () =>
    world.fcm.accepted.some(
      (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
    ),
  )
  world.genesys.abandon(conversationId)
  await waitFor(
    'the cancel',
    () =>
      world.apns.accepted.some(
        (p) => p.payload.genesys_conversation_id === conversationId && p.payload.action === 'cancel_ring',
      ),
    10_000,
  )

  // Error paths that carry secrets in the request: none may come back in the answer.
  const bodies: string[] = []
  const call = async (path: string, init: RequestInit = {}): Promise<void> => {
    const res = await fetch(`${api}${path}`, init)
    assert.ok(res.status < 500, `${init.method ?? 'GET'} ${path.slice(0, 40)}: ${res.status}`)
    bodies.push(`${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`)
  }
  const json = { 'content-type': 'application/json' }
  const agentAuth = { authorization: `Bearer ${agent.accessToken}` }
  await call(`/api/v1/devices/${tokens.others}`, { method: 'DELETE', headers: agentAuth })
  await call(`/api/v1/devices/${tokens.android}`, { headers: agentAuth })
  await call(`/api/v1/devices/${tokens.android}/${tokens.voip}`, { method: 'PUT', headers: agentAuth })
  await call(`/no/such/${tokens.voip}?token=${tokens.android}&secret=${SECRET}`, { headers: admin })
  await call('/api/v1/devices', {
    method: 'POST',
    headers: { ...agentAuth, ...json },
    body: `{"platform":"android","token":"${tokens.android}", broken`,
  })
  await call('/api/v1/devices', {
    method: 'POST',
    headers: { ...agentAuth, ...json },
    body: JSON.stringify({ platform: 'ios', token: tokens.android, pushType: tokens.voip }),
  })
  await call('/api/v1/devices', {
    method: 'POST',
    headers: { ...agentAuth, ...json },
    body: JSON.stringify({
      platform: 'android',
      token: tokens.android,
      secret: SECRET,
      extra: world.client.clientSecret,
    }),
  })
  await call('/api/v1/devices', {
    method: 'POST',
    headers: { ...agentAuth, 'content-type': `text/${tokens.voip}` },
    body: tokens.android,
  })
  await call('/api/v1/devices', { headers: { authorization: `Bearer ${agent.accessToken}x` } })
  await call('/api/v1/devices', { headers: { authorization: `Token ${agent.accessToken}` } })
  await call('/api/v1/agent/answered/not a conversation', {
    method: 'POST',
    headers: { ...agentAuth, ...json },
    body: JSON.stringify({ token: tokens.others }),
  })
  await call(`/api/v1/agent/answered/${conversationId}`, {
    method: 'POST',
    headers: { ...agentAuth, ...json },
    body: JSON.stringify({ token: tokens.others, siblingTokens: [tokens.voip] }),
  })
  await call('/api/v1/events', {
    method: 'POST',
    headers: { ...json, 'x-webhook-secret': `${SECRET}x` },
    body: JSON.stringify({ secret: SECRET }),
  })
  await call('/api/v1/events', {
    method: 'POST',
    headers: { ...json, 'x-webhook-secret': SECRET },
    body: JSON.stringify({ 'detail-type': `v2.users.${tokens.voip}.conversations`, detail: { token: tokens.android } }),
  })
  await call('/metrics', { headers: { authorization: `Bearer ${ADMIN}x` } })
  await call(`/api/v1/admin/audit?userId=${tokens.voip}`, { headers: admin })

  const outputs: Record<string, string> = {
    metrics: await (await fetch(`${api}/metrics`, { headers: admin })).text(),
    'dashboard state': await (await fetch(`${api}/dashboard/api/state`, { headers: admin })).text(),
    'dashboard stream': await readStream(300),
    audit: await (await fetch(`${api}/api/v1/admin/audit?limit=1000`, { headers: admin })).text(),
    alarms: await (await fetch(`${api}/api/v1/admin/alarms`, { headers: admin })).text(),
    readiness: await (await fetch(`${api}/readyz`)).text(),
    'OpenAPI document': await (await fetch(`${api}/docs/json`)).text(),
    'error bodies': bodies.join('\n'),
    logs: logs.join('\n'),
  }
  assert.match(outputs.audit ?? '', /"entries":\[\{/, 'the audit has entries to check')
  assert.match(outputs.metrics ?? '', /push_gateway_pushes_total/)
  const secrets: Record<string, string> = {
    'the Genesys client secret': world.client.clientSecret,
    'the agent access token': agent.accessToken,
    "the other agent's access token": other.accessToken,
    'the admin token': ADMIN,
    'the webhook secret': SECRET,
    'the VAPID private key': world.vapid.privateKey,
    ...Object.fromEntries(Object.entries(tokens).map(([k, v]) => [`the full ${k} device token`, v])),
    // Every full 64-character PEM line: a fixed number per key (the last, shorter line varies in
    // length with the random key, which made the count in RELIABILITY.md change from run to run).
    ...Object.fromEntries(
      world.apnsKey.privateKeyPem
        .split('\n')
        .filter((l) => l.length === 64)
        .map((l, i) => [`APNs key line ${i + 1}`, l]),
    ),
    ...Object.fromEntries(
      world.serviceAccount.private_key
        .split('\n')
        .filter((l) => l.length === 64)
        .map((l, i) => [`FCM key line ${i + 1}`, l]),
    ),
  }
  const found: string[] = []
  for (const [where, text] of Object.entries(outputs)) {
    for (const [what, secret] of Object.entries(secrets)) if (text.includes(secret)) found.push(`${what} in ${where}`)
    if (/Bearer [A-Za-z0-9._~+/=-]{8,}/.test(text)) found.push(`a bearer credential in ${where}`)
    if (/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text)) found.push(`a JWT in ${where}`)
  }
  recordTrial(
    {
      id: 'security.secrets-in-outputs',
      area: 'security',
      what: 'Secrets (client secret, agent and admin tokens, webhook secret, VAPID and APNs/FCM keys) and full device tokens looked for in metrics, dashboard state and stream, audit, alarms, readiness, OpenAPI, 16 error bodies built from them, debug logs',
      tried: Object.keys(outputs).length * Object.keys(secrets).length,
      unit: 'searches',
      held: 'not one found (devices appear as 8-character prefixes)',
      lost: found.length,
    },
    import.meta.url,
  )
  assert.deepEqual(found, [])
})
