import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { FakeClock } from '../../src/clock.js'
import { AgentAuthError, AgentDirectory, GenesysApiError } from '../../src/genesys/index.js'
import { silentLogger } from '../../src/observability/logger.js'
import { requests, world } from './helpers.js'

const ME = 'GET /api/v2/users/me'

test("an agent's own token resolves to its Genesys user, cached by the token's hash", async (t) => {
  const w = await world()
  t.after(() => w.close())
  const clock = new FakeClock(Date.now())
  const dir = new AgentDirectory({
    apiUrl: w.sim.url,
    organization: { id: () => Promise.resolve(w.sim.orgId) },
    dispatcher: w.dispatcher,
    clock,
    logger: silentLogger(),
    cacheTtlMs: 60_000,
  })
  const agent = w.sim.addAgent({ name: 'Ada Agent' })
  const [a, b] = await Promise.all([dir.resolve(agent.accessToken), dir.resolve(agent.accessToken)])
  assert.deepEqual(a, { userId: agent.userId, name: 'Ada Agent' })
  assert.deepEqual(b, a)
  assert.equal(requests(w.sim, ME), 1)
  assert.deepEqual(dir.cacheKeys(), [createHash('sha256').update(agent.accessToken).digest('hex')])
  assert.ok(!dir.cacheKeys().some((k) => k.includes(agent.accessToken)))
  await dir.resolve(agent.accessToken)
  assert.equal(requests(w.sim, ME), 1)
  clock.advance(61_000)
  await dir.resolve(agent.accessToken)
  assert.equal(requests(w.sim, ME), 2)
})

test('a revoked or unknown agent token is rejected with GENESYS_TOKEN_REJECTED', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const dir = new AgentDirectory({
    apiUrl: w.sim.url,
    organization: { id: () => Promise.resolve(w.sim.orgId) },
    dispatcher: w.dispatcher,
    logger: silentLogger(),
  })
  const agent = w.sim.addAgent()
  w.sim.revokeToken(agent.accessToken)
  const rejected = (err: unknown): boolean => err instanceof AgentAuthError && err.code === 'GENESYS_TOKEN_REJECTED'
  await assert.rejects(dir.resolve(agent.accessToken), rejected)
  await assert.rejects(dir.resolve('made-up-token'), rejected)
  await assert.rejects(dir.resolve(''), rejected)
  assert.equal(dir.cached, 0)
})

test('a Genesys outage is a GenesysApiError, not a rejected agent', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const dir = new AgentDirectory({
    apiUrl: w.sim.url,
    organization: { id: () => Promise.resolve(w.sim.orgId) },
    dispatcher: w.dispatcher,
    logger: silentLogger(),
  })
  const agent = w.sim.addAgent()
  w.sim.setDown(true)
  await assert.rejects(
    dir.resolve(agent.accessToken),
    (err: unknown) => err instanceof GenesysApiError && err.code === 'GENESYS_HTTP_503',
  )
  w.sim.setDown(false)
  assert.equal((await dir.resolve(agent.accessToken)).userId, agent.userId)
})
