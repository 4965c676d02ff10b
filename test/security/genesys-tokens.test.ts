// Only a live Genesys Cloud user token of the gateway's own organisation registers a device: forged,
// expired, revoked, client-credentials and other-organisation tokens are refused with 401 and change
// nothing. Another organisation's token is valid on the same API host (users/me answers for it), so
// the gateway compares users/me?expand=organization with its own organisation (organizations/me);
// when that cannot be learned, registrations get 503, never an unchecked 201. The identity cache is
// keyed by the token's hash, lives a minute, and a revoked token stops working once its entry expires.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { FakeClock } from '../../src/clock.js'
import {
  AgentAuthError,
  AgentDirectory,
  ClientCredentialsAuth,
  GatewayOrganization,
  GenesysApiError,
  GenesysRest,
  createDispatcher,
} from '../../src/genesys/index.js'
import { silentLogger } from '../../src/observability/logger.js'
import { fcmToken, startHarness, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const NO_LIMITS = { RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PER_IP_PER_MINUTE: '0' }
let h: Harness
before(async () => {
  h = await startHarness(NO_LIMITS)
})
after(async () => {
  await h.close()
})

const post = (api: string, token: string): Promise<Response> =>
  fetch(`${api}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ platform: 'android', token: fcmToken() }),
  })

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')

test('forged, expired, revoked, client-credentials and other-organisation tokens are refused and register nothing', async () => {
  const victim = h.world.genesys.addAgent({ name: 'Victim' })
  // Another organisation of the same region, on the same API host, even has a user with the victim's id.
  const impostor = h.world.genesys.addForeignAgent({ name: 'Impostor', userId: victim.userId })
  const expired = h.world.genesys.issueAgentToken(victim.userId, 0)
  const revoked = h.world.genesys.issueAgentToken(victim.userId)
  h.world.genesys.revokeToken(revoked)
  const clientToken = await new ClientCredentialsAuth({
    loginUrl: h.world.genesys.url,
    ...h.world.client,
    dispatcher: createDispatcher(h.world.pki.caCert),
    logger: silentLogger(),
  }).getToken()
  const forged: Record<string, string> = {
    'random opaque token': randomBytes(32).toString('base64url'),
    'the victim user id as a token': victim.userId,
    'an unsigned JWT naming the victim': `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: victim.userId, org: h.world.genesys.orgId })}.`,
    'an HS256 JWT naming the victim': `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: victim.userId })}.${randomBytes(32).toString('base64url')}`,
    'the victim token with one character changed': `${victim.accessToken.slice(0, -1)}${victim.accessToken.endsWith('A') ? 'B' : 'A'}`,
    'the victim token truncated': victim.accessToken.slice(0, 20),
    'the victim token with a suffix': `${victim.accessToken}x`,
  }
  const cases: Record<string, string> = {
    ...forged,
    'an expired token': expired,
    'a revoked token': revoked,
    "the gateway's own client-credentials token": clientToken,
    'another organisation’s user token': impostor.accessToken,
  }
  const answers: Record<string, number> = {}
  for (const [what, token] of Object.entries(cases)) {
    for (const path of ['/api/v1/devices', '/register-token']) {
      const res = await fetch(`${h.api}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'android', token: fcmToken() }),
      })
      answers[`${what} → POST ${path}`] = res.status
    }
    answers[`${what} → GET /api/v1/devices`] = (
      await fetch(`${h.api}/api/v1/devices`, { headers: { authorization: `Bearer ${token}` } })
    ).status
  }
  const devices = (await h.gateway.store.countDevices()).total
  const letIn = Object.entries(answers).filter(([, s]) => s !== 401)
  recordTrial(
    {
      id: 'security.genesys-tokens',
      area: 'security',
      what: 'Forged (random, unsigned/HS256 JWTs naming a victim, altered), expired, revoked, client-credentials and other-organisation tokens on the agent routes',
      tried: Object.keys(answers).length,
      unit: 'requests',
      held: '401 UNAUTHORIZED, nothing stored',
      lost: letIn.length + devices,
    },
    import.meta.url,
  )
  assert.deepEqual(letIn, [], 'every one is 401')
  assert.equal(devices, 0, 'nothing was registered')
})

test('the identity cache is keyed by the token hash, and a revoked token stops working once its minute is up', async () => {
  const clock = new FakeClock(Date.now())
  const dir = new AgentDirectory({
    apiUrl: h.world.genesys.url,
    organization: { id: () => Promise.resolve(h.world.genesys.orgId) },
    dispatcher: createDispatcher(h.world.pki.caCert),
    clock,
    logger: silentLogger(),
  })
  const agent = h.world.genesys.addAgent()
  assert.equal((await dir.resolve(agent.accessToken)).userId, agent.userId)
  assert.deepEqual(
    dir.cacheKeys(),
    [createHash('sha256').update(agent.accessToken).digest('hex')],
    'the hash, never the token',
  )
  h.world.genesys.revokeToken(agent.accessToken)
  // Documented: a revoked token keeps working from the cache for at most the TTL (60 s).
  clock.advance(59_000)
  assert.equal((await dir.resolve(agent.accessToken)).userId, agent.userId)
  clock.advance(1_000)
  await assert.rejects(dir.resolve(agent.accessToken), (err: unknown) => err instanceof AgentAuthError)
  // Rejections are not cached, and not remembered as identities.
  assert.equal(dir.cached, 0)
  await assert.rejects(dir.resolve(agent.accessToken), (err: unknown) => err instanceof AgentAuthError)
})

test("another organisation's agents are refused with a 401 that says so; the gateway's own agents still register", async () => {
  const own = h.world.genesys.addAgent({ name: 'Own Agent' })
  const foreign = h.world.genesys.addForeignAgent({ name: 'Foreign Agent' })
  const secondForeignOrg = h.world.genesys.addForeignAgent({ orgId: '6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f' })
  const before = (await h.gateway.store.countDevices()).total
  const foreignAnswers: number[] = []
  for (const token of [foreign.accessToken, secondForeignOrg.accessToken]) {
    const res = await post(h.api, token)
    foreignAnswers.push(res.status)
    const body = (await res.json()) as { error: { code: string; message: string } }
    assert.equal(body.error.code, 'UNAUTHORIZED')
    assert.match(body.error.message, /another Genesys Cloud organisation/)
  }
  assert.deepEqual(foreignAnswers, [401, 401])
  assert.equal((await h.gateway.store.countDevices()).total, before, 'nothing stored for another organisation')
  assert.equal((await post(h.api, own.accessToken)).status, 201, 'an agent of our organisation registers')
  assert.equal((await h.gateway.store.countDevices()).total, before + 1)
})

test("the identity cache never lets another organisation's token through, before or after a miss", async () => {
  const clock = new FakeClock(Date.now())
  const dispatcher = createDispatcher(h.world.pki.caCert)
  const logger = silentLogger()
  const auth = new ClientCredentialsAuth({ loginUrl: h.world.genesys.url, ...h.world.client, dispatcher, logger })
  // The real lookup: the gateway's client-credentials token asks organizations/me.
  const organization = new GatewayOrganization({
    lookup: () => new GenesysRest({ apiUrl: h.world.genesys.url, auth, dispatcher, logger }).getOrganization(),
    logger,
  })
  const dir = new AgentDirectory({ apiUrl: h.world.genesys.url, organization, dispatcher, clock, logger })
  const victim = h.world.genesys.addAgent()
  const impostor = h.world.genesys.addForeignAgent({ userId: victim.userId })
  const refused = (err: unknown): boolean =>
    err instanceof AgentAuthError && err.status === 401 && /another Genesys Cloud organisation/.test(err.message)
  // A miss on an empty cache, then again: rejections are not remembered as identities.
  await assert.rejects(dir.resolve(impostor.accessToken), refused)
  await assert.rejects(dir.resolve(impostor.accessToken), refused)
  assert.equal(dir.cached, 0)
  assert.equal(organization.known?.id, h.world.genesys.orgId, 'learned from organizations/me')
  // The victim (same user id) is cached; the impostor's token hashes elsewhere and still asks Genesys.
  assert.equal((await dir.resolve(victim.accessToken)).userId, victim.userId)
  await assert.rejects(dir.resolve(impostor.accessToken), refused)
  clock.advance(61_000)
  await assert.rejects(dir.resolve(impostor.accessToken), refused)
  assert.deepEqual(dir.cacheKeys(), [createHash('sha256').update(victim.accessToken).digest('hex')])
  await dispatcher.close()
})

test("when the gateway's organisation cannot be learned, registrations get 503 + Retry-After and nothing is stored", async () => {
  const h2 = await startHarness(NO_LIMITS)
  try {
    const own = h2.world.genesys.addAgent()
    const foreign = h2.world.genesys.addForeignAgent()
    // Genesys answers 503 to organizations/me (the gateway retries once per request).
    h2.world.genesys.failNext({ method: 'GET', pathPrefix: '/api/v2/organizations/me', status: 503, count: 1_000 })
    const during: Record<string, number> = {}
    for (const [who, token] of [
      ['own', own.accessToken],
      ['foreign', foreign.accessToken],
    ] as const) {
      const res = await post(h2.api, token)
      during[who] = res.status
      assert.ok(res.headers.get('retry-after'), 'Retry-After tells the app when to try again')
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GENESYS_UNAVAILABLE')
    }
    const storedDuring = (await h2.gateway.store.countDevices()).total
    h2.world.genesys.clearFailures()
    const afterOwn = (await post(h2.api, own.accessToken)).status
    const afterForeign = (await post(h2.api, foreign.accessToken)).status
    recordTrial(
      {
        id: 'security.genesys-other-org',
        area: 'security',
        what: "An agent token of another organisation (valid on the same API host) and one of our own on POST /api/v1/devices while the gateway's own organisation cannot be learned (organizations/me answering 503), then once it can",
        tried: 4,
        unit: 'requests',
        held: 'while unknown: 503 + Retry-After for both, nothing stored; then our agent 201, the other organisation 401',
        lost:
          (during.own === 503 ? 0 : 1) +
          (during.foreign === 503 ? 0 : 1) +
          storedDuring +
          (afterForeign === 401 ? 0 : 1),
      },
      import.meta.url,
    )
    assert.deepEqual(during, { own: 503, foreign: 503 }, 'never accepted unchecked')
    assert.equal(storedDuring, 0, 'nothing stored')
    assert.equal(afterOwn, 201, 'own agents register once the organisation is learned')
    assert.equal(afterForeign, 401, 'and another organisation is still refused')
  } finally {
    await h2.close()
  }
})

test('a GatewayOrganization failure is always a transient Genesys error (503), never an answer', async () => {
  const organization = new GatewayOrganization({
    lookup: () => Promise.reject(new GenesysApiError(403, 'GET /api/v2/organizations/me: forbidden')),
    logger: silentLogger(),
  })
  await assert.rejects(
    organization.id(),
    (err: unknown) => err instanceof GenesysApiError && err.status === 503 && err.transient,
  )
  assert.equal(organization.known, undefined)
})
