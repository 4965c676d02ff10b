// Agents' display names come from Genesys (GET /api/v2/users/{id}) in the background. A gateway
// that starts beside a thousand agents must not ask for every name at once: the lookups go a few at
// a time, each name is asked once, and every name arrives.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { systemClock } from '../../src/clock.js'
import { silentLogger } from '../../src/observability/logger.js'
import { NameCache } from '../../src/ring/names.js'
import { requests, world } from './helpers.js'

test('sixty unknown agents: names are looked up four at a time, once each, and all arrive', async (t) => {
  const w = await world({ requestsPerMinute: 1000 })
  t.after(() => w.close())
  const agents = Array.from({ length: 60 }, (_, i) => w.sim.addAgent({ name: `Agent ${i}` }))
  let running = 0
  let most = 0
  const names = new NameCache({
    what: 'agent',
    clock: systemClock,
    logger: silentLogger(),
    fetch: async (id) => {
      running++
      most = Math.max(most, running)
      try {
        return await w.rest.getUser(id)
      } finally {
        running--
      }
    },
  })
  // Every agent rings within the same moment: the dashboard feed peeks at each name.
  for (const a of agents) assert.equal(names.peek(a.userId), undefined, 'not known yet, and never awaited')
  const deadline = Date.now() + 10_000
  while (agents.some((a) => names.peek(a.userId) === undefined) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(
    agents.map((a) => names.peek(a.userId)),
    agents.map((_, i) => `Agent ${i}`),
  )
  assert.equal(most, 4, 'at most four lookups at once')
  assert.equal(requests(w.sim, 'GET /api/v2/users/{userId}'), 60, 'each name asked once')
})
