import { test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { FakeClock } from '../../../src/clock.js'
import { startGenesysSim } from '../../../src/sim/genesys/index.js'
import { api, clientToken } from './helpers.js'

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
const form = { 'content-type': 'application/x-www-form-urlencoded' }

test('client credentials: good secret gets a bearer token, a wrong secret 401 invalid_client, a wrong grant 400', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const c = sim.addClient({ tokenTtlS: 3600 })

  const good = await fetch(`${sim.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(c.clientId, c.clientSecret), ...form },
    body: 'grant_type=client_credentials',
  })
  assert.equal(good.status, 200)
  const body = (await good.json()) as Record<string, unknown>
  assert.equal(body.token_type, 'bearer')
  assert.equal(body.expires_in, 3600)
  assert.equal(typeof body.access_token, 'string')

  const bad = await fetch(`${sim.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(c.clientId, 'nope'), ...form },
    body: 'grant_type=client_credentials',
  })
  assert.equal(bad.status, 401)
  assert.equal(((await bad.json()) as { error: string }).error, 'invalid_client')

  const grant = await fetch(`${sim.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(c.clientId, c.clientSecret), ...form },
    body: 'grant_type=password',
  })
  assert.equal(grant.status, 400)
  assert.equal(((await grant.json()) as { error: string }).error, 'unsupported_grant_type')

  const creds = await fetch(`${sim.url}/oauth/token`, {
    method: 'POST',
    headers: form,
    body: `grant_type=client_credentials&client_id=${c.clientId}&client_secret=${c.clientSecret}`,
  })
  assert.equal(creds.status, 401, 'credentials in the body instead of Basic auth are refused')
})

test('a token stops working when it expires on the clock, and when it is revoked', async (t) => {
  const clock = new FakeClock()
  const sim = await startGenesysSim({ clock })
  t.after(() => sim.close())
  const token = await clientToken(sim, sim.addClient({ tokenTtlS: 60 }))
  const q = sim.addQueue({ name: 'Support' })
  assert.equal((await api(sim, token, 'GET', `/api/v2/routing/queues/${q.id}`)).status, 200)
  clock.advance(60_000)
  const expired = await api(sim, token, 'GET', `/api/v2/routing/queues/${q.id}`)
  assert.equal(expired.status, 401)
  assert.deepEqual(
    { ...(expired.body as object), contextId: 'x' },
    {
      message: 'Invalid login credentials.',
      code: 'bad.credentials',
      status: 401,
      messageParams: {},
      contextId: 'x',
      details: [],
      errors: [],
    },
  )

  const agent = sim.addAgent({ name: 'Ada' })
  assert.equal((await api(sim, agent.accessToken, 'GET', '/api/v2/users/me')).status, 200)
  sim.revokeToken(agent.accessToken)
  assert.equal((await api(sim, agent.accessToken, 'GET', '/api/v2/users/me')).status, 401)
  assert.equal((await api(sim, 'made-up', 'GET', '/api/v2/users/me')).status, 401)
})

test('users/me answers a user token with the User and refuses a client-credentials token like Genesys', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const agent = sim.addAgent({ name: 'Grace Hopper', email: 'grace@example.com' })
  const me = await api(sim, agent.accessToken, 'GET', '/api/v2/users/me')
  assert.equal(me.status, 200)
  const user = me.body as Record<string, unknown>
  assert.equal(user.id, agent.userId)
  assert.equal(user.name, 'Grace Hopper')
  assert.equal(user.email, 'grace@example.com')
  assert.equal(user.state, 'active')
  assert.equal(typeof user.version, 'number')
  assert.equal(user.selfUri, `/api/v2/users/${agent.userId}`)

  const cc = await api(sim, await clientToken(sim), 'GET', '/api/v2/users/me')
  assert.equal(cc.status, 400)
  assert.match((cc.body as { message: string }).message, /requires a user context/)
})

test('presence and routing status read back in the real shapes', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const a = sim.addAgent()
  const b = sim.addAgent()
  sim.setPresence(b.userId, 'AWAY')
  const p = (await api(sim, token, 'GET', `/api/v2/users/${a.userId}/presences/purecloud`)).body as {
    presenceDefinition: { systemPresence: string; id: string }
  }
  assert.equal(p.presenceDefinition.systemPresence, 'On Queue')
  const bulk = (await api(sim, token, 'GET', `/api/v2/users/presences/purecloud/bulk?id=${a.userId}&id=${b.userId}`))
    .body as Array<{ userId: string; presenceDefinition: { systemPresence: string } }>
  assert.deepEqual(
    bulk.map((x) => [x.userId, x.presenceDefinition.systemPresence]),
    [
      [a.userId, 'On Queue'],
      [b.userId, 'Away'],
    ],
  )
  // "Limit 50" (PresenceApi.getUsersPresencesPurecloudBulk): a 51st id is refused as Genesys would.
  const many = Array.from({ length: 51 }, () => sim.addAgent().userId)
  const tooMany = await api(
    sim,
    token,
    'GET',
    `/api/v2/users/presences/purecloud/bulk?${many.map((id) => `id=${id}`).join('&')}`,
  )
  assert.equal(tooMany.status, 400)
  const error = tooMany.body as { code: string; status: number; message: string; contextId: string }
  assert.deepEqual([error.code, error.status], ['bad.request', 400])
  assert.match(error.message, /50/)
  assert.equal(typeof error.contextId, 'string')
  assert.equal(
    (
      await api(
        sim,
        token,
        'GET',
        `/api/v2/users/presences/purecloud/bulk?${many
          .slice(0, 50)
          .map((id) => `id=${id}`)
          .join('&')}`,
      )
    ).status,
    200,
  )
  const rs = (await api(sim, token, 'GET', `/api/v2/users/${b.userId}/routingstatus`)).body as {
    userId: string
    status: string
    startTime: string
  }
  assert.equal(rs.userId, b.userId)
  assert.equal(rs.status, 'OFF_QUEUE', 'leaving On Queue takes the agent off queue')
  assert.ok(!Number.isNaN(Date.parse(rs.startTime)))
})

test('more than requestsPerMinute calls on one token get 429 with Retry-After until the minute passes', async (t) => {
  const clock = new FakeClock()
  const sim = await startGenesysSim({ clock, requestsPerMinute: 3 })
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const q = sim.addQueue({ name: 'Sales' })
  for (let i = 0; i < 3; i++) assert.equal((await api(sim, token, 'GET', `/api/v2/routing/queues/${q.id}`)).status, 200)
  clock.advance(20_000)
  const limited = await api(sim, token, 'GET', `/api/v2/routing/queues/${q.id}`)
  assert.equal(limited.status, 429)
  assert.equal(limited.headers.get('retry-after'), '40')
  assert.equal((limited.body as { code: string }).code, 'too.many.requests.retry.after')
  assert.equal(
    (await api(sim, await clientToken(sim), 'GET', `/api/v2/routing/queues/${q.id}`)).status,
    200,
    'the limit is per token',
  )
  clock.advance(40_000)
  assert.equal((await api(sim, token, 'GET', `/api/v2/routing/queues/${q.id}`)).status, 200)
  assert.equal(sim.stats.requests.get('GET /api/v2/routing/queues/{queueId}'), 6)
})

test('setDown answers 503 and refuses WebSocket upgrades; failNext injects a status a set number of times', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const ch = (await api(sim, token, 'POST', '/api/v2/notifications/channels')).body as { connectUri: string }
  sim.setDown(true)
  assert.equal((await api(sim, token, 'POST', '/api/v2/notifications/channels')).status, 503)
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(ch.connectUri)
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    ws.on('error', () => undefined)
  })
  assert.equal(refused, 503)
  sim.setDown(false)

  sim.failNext({ method: 'POST', pathPrefix: '/api/v2/notifications/channels', status: 503, count: 2, retryAfterS: 7 })
  const first = await api(sim, token, 'POST', '/api/v2/notifications/channels')
  assert.equal(first.status, 503)
  assert.equal(first.headers.get('retry-after'), '7')
  assert.equal((await api(sim, token, 'POST', '/api/v2/notifications/channels')).status, 503)
  assert.equal((await api(sim, token, 'POST', '/api/v2/notifications/channels')).status, 200)
})
