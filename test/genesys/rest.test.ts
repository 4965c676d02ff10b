import { test } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { FakeClock } from '../../src/clock.js'
import {
  ClientCredentialsAuth,
  GenesysApiError,
  GenesysRest,
  createDispatcher,
  genesysUrls,
} from '../../src/genesys/index.js'
import { silentLogger } from '../../src/observability/logger.js'
import { requests, world } from './helpers.js'

const QUEUE_ROUTE = 'GET /api/v2/routing/queues/{queueId}'

test('genesysUrls builds the api and login hosts of a region', () => {
  assert.deepEqual(genesysUrls('mypurecloud.ie'), {
    apiUrl: 'https://api.mypurecloud.ie',
    loginUrl: 'https://login.mypurecloud.ie',
  })
  assert.deepEqual(genesysUrls('usw2.pure.cloud'), {
    apiUrl: 'https://api.usw2.pure.cloud',
    loginUrl: 'https://login.usw2.pure.cloud',
  })
  assert.throws(() => genesysUrls('not a region'))
})

test('the OAuth token is fetched once, shared by concurrent callers, and renewed before it expires', async (t) => {
  const clock = new FakeClock(Date.now())
  const w = await world({ clock, tokenTtlS: 100 })
  t.after(() => w.close())
  const tokens = await Promise.all([1, 2, 3, 4, 5].map(() => w.auth.getToken()))
  assert.equal(new Set(tokens).size, 1)
  assert.equal(w.auth.fetches, 1)
  clock.advance(89_000)
  assert.equal(await w.auth.getToken(), tokens[0])
  clock.advance(2_000) // past 90 % of the 100 s lifetime
  const renewed = await w.auth.getToken()
  assert.notEqual(renewed, tokens[0])
  assert.equal(w.auth.fetches, 2)
  const q = w.sim.addQueue({ name: 'Support' })
  assert.deepEqual(await w.rest.getQueue(q.id), { id: q.id, name: 'Support' })
})

test('wrong client credentials fail with GENESYS_HTTP_401', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const auth = new ClientCredentialsAuth({
    loginUrl: w.sim.url,
    clientId: 'nobody',
    clientSecret: 'nothing',
    dispatcher: w.dispatcher,
    logger: silentLogger(),
  })
  await assert.rejects(
    auth.getToken(),
    (err: unknown) => err instanceof GenesysApiError && err.code === 'GENESYS_HTTP_401',
  )
})

test('429 waits for Retry-After, then succeeds', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const q = w.sim.addQueue({ name: 'Sales' })
  w.sim.failNext({ pathPrefix: '/api/v2/routing/queues', status: 429, count: 1, retryAfterS: 1 })
  const started = performance.now()
  assert.equal((await w.rest.getQueue(q.id)).name, 'Sales')
  assert.ok(performance.now() - started >= 950, 'retried before Retry-After elapsed')
  assert.equal(requests(w.sim, QUEUE_ROUTE), 2)
})

test('401 on a revoked token renews the token and retries once', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const q = w.sim.addQueue({ name: 'Billing' })
  w.sim.revokeToken(await w.auth.getToken())
  assert.equal((await w.rest.getQueue(q.id)).name, 'Billing')
  assert.equal(w.auth.fetches, 2)
  // A second 401 in a row is not retried again.
  w.sim.failNext({ pathPrefix: '/api/v2/routing/queues', status: 401, count: 5 })
  const before = requests(w.sim, QUEUE_ROUTE)
  await assert.rejects(
    w.rest.getQueue(q.id),
    (err: unknown) => err instanceof GenesysApiError && err.code === 'GENESYS_HTTP_401',
  )
  assert.equal(requests(w.sim, QUEUE_ROUTE) - before, 2)
})

test('5xx is retried a bounded number of times, then thrown with its status', async (t) => {
  const w = await world({ maxRetries: 2 })
  t.after(() => w.close())
  const q = w.sim.addQueue({ name: 'Ops' })
  w.sim.failNext({ pathPrefix: '/api/v2/routing/queues', status: 503, count: 3 })
  await assert.rejects(
    w.rest.getQueue(q.id),
    (err: unknown) => err instanceof GenesysApiError && err.code === 'GENESYS_HTTP_503' && err.status === 503,
  )
  assert.equal(requests(w.sim, QUEUE_ROUTE), 3)
  w.sim.failNext({ pathPrefix: '/api/v2/routing/queues', status: 503, count: 1 })
  assert.equal((await w.rest.getQueue(q.id)).name, 'Ops')
})

test('an unreachable Genesys is GENESYS_UNREACHABLE, and 404 is not retried', async (t) => {
  const w = await world({ maxRetries: 1 })
  t.after(() => w.close())
  await assert.rejects(
    w.rest.getConversation('does-not-exist'),
    (err: unknown) => err instanceof GenesysApiError && err.code === 'GENESYS_HTTP_404',
  )
  assert.equal(requests(w.sim, 'GET /api/v2/conversations/{conversationId}'), 1)
  const dispatcher = createDispatcher(w.ca)
  t.after(() => dispatcher.close())
  const auth = new ClientCredentialsAuth({
    loginUrl: 'https://127.0.0.1:1',
    clientId: 'a',
    clientSecret: 'b',
    dispatcher,
    logger: silentLogger(),
  })
  const rest = new GenesysRest({
    apiUrl: 'https://127.0.0.1:1',
    auth,
    dispatcher,
    logger: silentLogger(),
    maxRetries: 1,
  })
  await assert.rejects(
    rest.getQueue('q'),
    (err: unknown) => err instanceof GenesysApiError && err.code === 'GENESYS_UNREACHABLE' && err.status === 0,
  )
})

test('a server whose certificate is not trusted is refused', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const untrusted = createDispatcher()
  t.after(() => untrusted.close())
  const auth = new ClientCredentialsAuth({
    loginUrl: w.sim.url,
    ...w.sim.addClient(),
    dispatcher: untrusted,
    logger: silentLogger(),
  })
  await assert.rejects(
    auth.getToken(),
    (err: unknown) => err instanceof GenesysApiError && err.code === 'GENESYS_UNREACHABLE',
  )
})

test('channels, subscriptions and presence use the real Genesys paths', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const agent = w.sim.addAgent()
  const channel = await w.rest.createChannel()
  assert.match(channel.connectUri, /^wss:\/\//)
  assert.ok(Date.parse(channel.expires) > Date.now())
  await w.rest.subscribe(channel.id, [`v2.users.${agent.userId}.conversations`], 'replace')
  await w.rest.subscribe(channel.id, [`v2.users.${agent.userId}.presence`], 'add')
  assert.deepEqual(
    w.sim
      .channels()
      .find((c) => c.id === channel.id)
      ?.topics.sort(),
    [`v2.users.${agent.userId}.conversations`, `v2.users.${agent.userId}.presence`],
  )
  w.sim.setPresence(agent.userId, 'On Queue')
  const presence = await w.rest.getPresence(agent.userId)
  assert.match(presence.systemPresence.toLowerCase().replace(/[\s_]/g, ''), /^onqueue$/)
})
