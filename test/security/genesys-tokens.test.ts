// Only a live Genesys Cloud user token of the gateway's own organisation registers a device: forged,
// expired, revoked, client-credentials and other-organisation tokens are refused with 401 and change
// nothing. The identity cache is keyed by the token's hash, lives a minute, and a revoked token stops
// working once its entry expires (fake clock).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { FakeClock } from '../../src/clock.js'
import { AgentAuthError, AgentDirectory, ClientCredentialsAuth, createDispatcher } from '../../src/genesys/index.js'
import { silentLogger } from '../../src/observability/logger.js'
import { startGenesysSim, type GenesysSim } from '../../src/sim/genesys/index.js'
import { fcmToken, startHarness, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

let h: Harness
let otherOrg: GenesysSim
before(async () => {
  h = await startHarness({ RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PER_IP_PER_MINUTE: '0' })
  // A second Genesys organisation (its own simulator, same CA), whose tokens are real but not ours.
  otherOrg = await startGenesysSim({ tls: { key: h.world.pki.key, cert: h.world.pki.cert } })
})
after(async () => {
  await otherOrg.close()
  await h.close()
})

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')

test('forged, expired, revoked, client-credentials and other-organisation tokens are refused and register nothing', async () => {
  const victim = h.world.genesys.addAgent({ name: 'Victim' })
  // The other organisation even has a user with the victim's id.
  const impostor = otherOrg.addAgent({ name: 'Impostor', userId: victim.userId })
  const expired = h.world.genesys.issueAgentToken(victim.userId, 0)
  const revoked = h.world.genesys.issueAgentToken(victim.userId)
  h.world.genesys.revokeToken(revoked)
  const clientToken = await new ClientCredentialsAuth({ loginUrl: h.world.genesys.url, ...h.world.client, dispatcher: createDispatcher(h.world.pki.caCert), logger: silentLogger() }).getToken()
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
      const res = await fetch(`${h.api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ platform: 'android', token: fcmToken() }) })
      answers[`${what} → POST ${path}`] = res.status
    }
    answers[`${what} → GET /api/v1/devices`] = (await fetch(`${h.api}/api/v1/devices`, { headers: { authorization: `Bearer ${token}` } })).status
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
  const dir = new AgentDirectory({ apiUrl: h.world.genesys.url, dispatcher: createDispatcher(h.world.pki.caCert), clock, logger: silentLogger() })
  const agent = h.world.genesys.addAgent()
  assert.equal((await dir.resolve(agent.accessToken)).userId, agent.userId)
  assert.deepEqual(dir.cacheKeys(), [createHash('sha256').update(agent.accessToken).digest('hex')], 'the hash, never the token')
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
