// Per-agent and per-address request limits (@fastify/rate-limit): past the limit every route answers
// 429 with Retry-After and the usual error body, before Genesys is asked about the token or the store
// is touched; other agents and the probes are not affected; TRUST_PROXY decides whose address counts.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fcmToken, startHarness, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const PER_AGENT = 5
const PER_IP = 40
const WRITES_PER_USER = 3
let h: Harness
before(async () => {
  h = await startHarness({
    RATE_LIMIT_PER_MINUTE: String(PER_AGENT),
    RATE_LIMIT_PER_IP_PER_MINUTE: String(PER_IP),
    RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: String(WRITES_PER_USER),
    TRUST_PROXY: '127.0.0.1',
  })
})
after(() => h.close())

interface Answer {
  status: number
  retryAfter: string | null
  body: { error?: { code: string; message: string } }
}
async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${h.api}${path}`, init)
  const text = await res.text()
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: text ? (JSON.parse(text) as Answer['body']) : {},
  }
}

test('one agent past RATE_LIMIT_PER_MINUTE gets 429 with Retry-After on every agent route; another agent does not', async () => {
  const agent = h.world.genesys.addAgent()
  const other = h.world.genesys.addAgent()
  const auth = { authorization: `Bearer ${agent.accessToken}` }
  const lookups = (): number => h.world.genesys.stats.requests.get('GET /api/v2/users/me') ?? 0
  const answers: Answer[] = []
  for (let i = 0; i < PER_AGENT; i++)
    answers.push(await call('/api/v1/devices', { headers: { ...auth, 'x-forwarded-for': '198.51.100.1' } }))
  assert.ok(
    answers.every((a) => a.status === 200),
    'within the limit',
  )
  const lookupsBefore = lookups()
  const devicesBefore = (await h.gateway.store.countDevices()).total
  const over = [
    await call('/api/v1/devices', { headers: { ...auth, 'x-forwarded-for': '198.51.100.2' } }),
    await call('/api/v1/devices', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.3' },
      body: JSON.stringify({ platform: 'android', token: fcmToken() }),
    }),
    await call('/register-token', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.4' },
      body: JSON.stringify({ platform: 'android', token: fcmToken() }),
    }),
    await call(`/api/v1/devices/${fcmToken()}`, {
      method: 'DELETE',
      headers: { ...auth, 'x-forwarded-for': '198.51.100.5' },
    }),
    await call('/api/v1/agent/answered/c0ffee00-0000-4000-8000-000000000000', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.6' },
      body: JSON.stringify({ token: fcmToken() }),
    }),
  ]
  recordTrial(
    {
      id: 'security.rate-limit-agent',
      area: 'security',
      what: 'One agent token past RATE_LIMIT_PER_MINUTE, from changing addresses, on every agent route',
      tried: over.length,
      unit: 'requests over the limit',
      held: '429 + Retry-After + error body; Genesys not asked, store untouched; other agents served',
      lost: over.filter((a) => a.status !== 429).length,
    },
    import.meta.url,
  )
  for (const a of over) {
    assert.equal(a.status, 429)
    assert.equal(a.body.error?.code, 'RATE_LIMITED')
    assert.match(a.body.error?.message ?? '', /for this agent/)
    assert.ok(Number(a.retryAfter) >= 1 && Number(a.retryAfter) <= 60, `Retry-After in seconds (${a.retryAfter})`)
  }
  assert.equal(lookups(), lookupsBefore, 'refused before Genesys is asked who the token is')
  assert.equal((await h.gateway.store.countDevices()).total, devicesBefore, 'nothing registered')
  assert.equal(
    (
      await call('/api/v1/devices', {
        headers: { authorization: `Bearer ${other.accessToken}`, 'x-forwarded-for': '198.51.100.7' },
      })
    ).status,
    200,
    'another agent is served',
  )
})

test('one address past RATE_LIMIT_PER_IP_PER_MINUTE gets 429 on any route, with forged tokens too; probes stay open', async () => {
  // TRUST_PROXY=127.0.0.1: the load balancer (this test) names the client in X-Forwarded-For.
  const client = { 'x-forwarded-for': '203.0.113.9' }
  const statuses: number[] = []
  for (let i = 0; i < PER_IP + 5; i++) {
    // A fresh made-up token each time: the per-agent limit cannot catch this, the per-address one must.
    const a = await call('/api/v1/devices', {
      headers: { ...client, authorization: `Bearer forged-token-${i}-abcdefgh` },
    })
    statuses.push(a.status)
    if (a.status === 429) {
      assert.equal(a.body.error?.code, 'RATE_LIMITED')
      assert.ok(Number(a.retryAfter) >= 1)
    }
  }
  const limited = statuses.filter((s) => s === 429).length
  const notFound = await call('/no/such/route', { headers: client })
  recordTrial(
    {
      id: 'security.rate-limit-address',
      area: 'security',
      what: 'One client address past RATE_LIMIT_PER_IP_PER_MINUTE with a new forged token each request (behind TRUST_PROXY)',
      tried: PER_IP + 5,
      unit: 'requests',
      held: `the first ${PER_IP} answered (401), every later one 429, unknown routes too; /healthz and /readyz never limited`,
      lost: statuses.slice(PER_IP).filter((s) => s !== 429).length + (notFound.status === 429 ? 0 : 1),
    },
    import.meta.url,
  )
  assert.deepEqual(statuses.slice(0, PER_IP), Array(PER_IP).fill(401))
  assert.equal(limited, 5)
  assert.equal(notFound.status, 429, 'unknown paths count too')
  assert.equal((await call('/healthz', { headers: client })).status, 200)
  assert.notEqual((await call('/readyz', { headers: client })).status, 429)
  assert.notEqual(
    (await call('/api/v1/devices', { headers: { 'x-forwarded-for': '203.0.113.10' } })).status,
    429,
    'another address is served',
  )
})

test('two tokens of one agent share RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: the user is counted once Genesys says whose token it is', async () => {
  const agent = h.world.genesys.addAgent()
  const tokens = [
    agent.accessToken,
    h.world.genesys.issueAgentToken(agent.userId),
    h.world.genesys.issueAgentToken(agent.userId),
  ]
  const register = (token: string, i: number): Promise<Answer> =>
    call('/api/v1/devices', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'x-forwarded-for': `198.51.100.${40 + i}`,
      },
      body: JSON.stringify({ platform: 'android', token: fcmToken() }),
    })
  const statuses: number[] = []
  // Two writes per token: each token stays well under its own limit of PER_AGENT.
  for (const [i, token] of tokens.entries())
    for (let j = 0; j < 2; j++) statuses.push((await register(token, i)).status)
  const removal = await call(`/api/v1/devices/${fcmToken()}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${tokens[2]}`, 'x-forwarded-for': '198.51.100.50' },
  })
  const read = await call('/api/v1/devices', {
    headers: { authorization: `Bearer ${tokens[2]}`, 'x-forwarded-for': '198.51.100.51' },
  })
  const stored = (await h.gateway.store.listDevices(agent.userId)).length
  const over = statuses.slice(WRITES_PER_USER).concat(removal.status)
  recordTrial(
    {
      id: 'security.rate-limit-user-writes',
      area: 'security',
      what: `Three tokens of one agent, each under RATE_LIMIT_PER_MINUTE, writing devices past RATE_LIMIT_WRITES_PER_USER_PER_MINUTE (${WRITES_PER_USER})`,
      tried: over.length,
      unit: 'writes over the limit',
      held: '429 + Retry-After once the user (not the token) is over the limit, registrations and removals alike; nothing stored past it; reads still served',
      lost: over.filter((s) => s !== 429).length + Math.max(0, stored - WRITES_PER_USER),
    },
    import.meta.url,
  )
  assert.deepEqual(statuses, [201, 201, 201, 429, 429, 429])
  assert.equal(removal.status, 429)
  assert.match(removal.body.error?.message ?? '', /Genesys user/)
  assert.ok(Number(removal.retryAfter) >= 1)
  assert.equal(read.status, 200)
  assert.equal(stored, WRITES_PER_USER)
})
