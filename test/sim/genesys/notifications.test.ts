import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../../src/clock.js'
import { createTestPki } from '../../../src/sim/tls.js'
import { startGenesysSim } from '../../../src/sim/genesys/index.js'
import { api, clientToken, connect, isConversation, subscribedChannel, type Listener } from './helpers.js'

test('a subscribed channel receives the offer snapshot in the Notifications API frame shape', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const agent = sim.addAgent()
  const { listener } = await subscribedChannel(sim, token, [`v2.users.${agent.userId}.conversations`])
  t.after(() => listener.close())
  const { conversationId } = sim.offer({ userId: agent.userId, mediaType: 'voice' })
  const f = await listener.next(isConversation)
  assert.equal(f.topicName, `v2.users.${agent.userId}.conversations`)
  assert.equal(f.version, '2')
  assert.equal(typeof f.metadata?.CorrelationId, 'string')
  assert.equal(f.eventBody.id, conversationId)
})

test('subscriptions: POST adds, PUT replaces, GET lists, DELETE clears; unknown topics and more than 1000 topics are 400', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const ch = (await api(sim, token, 'POST', '/api/v2/notifications/channels')).body as {
    id: string
    connectUri: string
    expires: string
  }
  assert.match(ch.connectUri, new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/channels/${ch.id}$`))
  assert.ok(Date.parse(ch.expires) > Date.now())
  const path = `/api/v2/notifications/channels/${ch.id}/subscriptions`
  await api(sim, token, 'POST', path, [{ id: 'v2.users.u1.conversations' }])
  const added = await api(sim, token, 'POST', path, [{ id: 'v2.routing.queues.q1.conversations.calls' }])
  assert.deepEqual(
    (added.body as { entities: Array<{ id: string }> }).entities.map((e) => e.id),
    ['v2.users.u1.conversations', 'v2.routing.queues.q1.conversations.calls'],
  )
  await api(sim, token, 'PUT', path, [{ id: 'v2.users.u2.presence' }])
  assert.deepEqual(
    ((await api(sim, token, 'GET', path)).body as { entities: Array<{ id: string }> }).entities.map((e) => e.id),
    ['v2.users.u2.presence'],
  )

  const unknown = await api(sim, token, 'POST', path, [{ id: 'routing.queue.member.added' }])
  assert.equal(unknown.status, 400)
  assert.match((unknown.body as { message: string }).message, /routing\.queue\.member\.added/)

  const many = Array.from({ length: 1000 }, (_, i) => ({ id: `v2.users.user-${i}.conversations` }))
  assert.equal((await api(sim, token, 'PUT', path, many)).status, 200)
  const over = await api(sim, token, 'POST', path, [{ id: 'v2.users.one-more.conversations' }])
  assert.equal(over.status, 400)
  assert.equal(sim.channels()[0]?.topics.length, 1000, 'a refused request changes nothing')

  assert.equal((await api(sim, token, 'DELETE', path)).status, 204)
  assert.deepEqual(((await api(sim, token, 'GET', path)).body as { entities: unknown[] }).entities, [])
  const head = await fetch(`${sim.url}/api/v2/notifications/channels/${ch.id}`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${token}` },
  })
  assert.equal(head.status, 200)
  const other = await api(sim, await clientToken(sim), 'GET', path)
  assert.equal(other.status, 404, "another client's channel is not found")
})

test('the 21st channel evicts the least recently used one and closes its socket', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const first = await subscribedChannel(sim, token, ['v2.users.a.conversations'])
  const ids = [first.id]
  for (let i = 1; i < 20; i++)
    ids.push(((await api(sim, token, 'POST', '/api/v2/notifications/channels')).body as { id: string }).id)
  // Channels without a connection go first, so connect them all (first is already connected).
  const sockets: Listener[] = []
  for (const id of ids.slice(1)) sockets.push(await connect(`${sim.url.replace('http', 'ws')}/channels/${id}`))
  t.after(() => sockets.forEach((s) => s.close()))
  await api(sim, token, 'POST', '/api/v2/notifications/channels')
  await first.listener.closed
  assert.equal(sim.channels().length, 20)
  assert.ok(!sim.channels().some((c) => c.id === first.id))
  assert.equal((await api(sim, token, 'GET', `/api/v2/notifications/channels/${first.id}/subscriptions`)).status, 404)
})

test('a second socket on a channel disconnects the first; frames go to the newest', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const agent = sim.addAgent()
  const one = await subscribedChannel(sim, token, [`v2.users.${agent.userId}.conversations`])
  const two = await connect(`${sim.url.replace('http', 'ws')}/channels/${one.id}`)
  t.after(() => two.close())
  await one.listener.closed
  sim.offer({ userId: agent.userId, mediaType: 'chat' })
  await two.next(isConversation)
  assert.equal(sim.stats.connectionAttempts, 2)
  assert.equal(sim.stats.openSockets, 1)
})

test('ping gets a pong, heartbeats arrive on the interval, socket_closing is sent on demand', async (t) => {
  const sim = await startGenesysSim({ heartbeatIntervalMs: 50 })
  t.after(() => sim.close())
  const { id, listener } = await subscribedChannel(sim, await clientToken(sim), [])
  t.after(() => listener.close())
  listener.ws.send(JSON.stringify({ message: 'ping' }))
  const pong = await listener.next((f) => f.eventBody.message === 'pong')
  assert.deepEqual(pong, { topicName: 'channel.metadata', eventBody: { message: 'pong' } })
  const hb = await listener.next((f) => f.eventBody.message === 'WebSocket Heartbeat')
  assert.equal(hb.topicName, 'channel.metadata')
  const seen: string[] = []
  sim.on('frame', (channelId, frame) => seen.push(`${channelId} ${(frame as { topicName: string }).topicName}`))
  sim.sendSocketClosing(id)
  await listener.next((f) => f.topicName === 'v2.system.socket_closing')
  assert.ok(seen.includes(`${id} v2.system.socket_closing`))
})

test('an expired channel closes its socket, refuses reconnection, and re-subscribing extends it', async (t) => {
  const clock = new FakeClock()
  const sim = await startGenesysSim({ clock, channelTtlMs: 60_000 })
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const { id, listener } = await subscribedChannel(sim, token, ['v2.users.x.conversations'])
  clock.advance(50_000)
  await api(sim, token, 'POST', `/api/v2/notifications/channels/${id}/subscriptions`, [
    { id: 'v2.users.y.conversations' },
  ])
  clock.advance(50_000)
  sim.sweep()
  assert.equal(sim.channels().length, 1, 're-subscribing extended the channel')
  clock.advance(10_000)
  sim.sweep()
  await listener.closed
  await assert.rejects(connect(`${sim.url.replace('http', 'ws')}/channels/${id}`), /upgrade refused: 404/)
  await assert.rejects(connect(`${sim.url.replace('http', 'ws')}/channels/no-such-channel`), /upgrade refused: 404/)
})

test('dropSockets closes every socket abruptly; the channel stays and can be reconnected', async (t) => {
  const sim = await startGenesysSim({ upgradeDelayMs: 30 })
  t.after(() => sim.close())
  const { id, listener } = await subscribedChannel(sim, await clientToken(sim), [])
  sim.dropSockets()
  assert.equal((await listener.closed).code, 1006)
  const uri = `${sim.url.replace('http', 'ws')}/channels/${id}`
  const [a, b] = await Promise.all([connect(uri), connect(uri)])
  a.close()
  b.close()
  assert.equal(sim.stats.maxConcurrentUpgradeAttemptsPerChannel, 2)
})

test('over TLS: https API and wss channel with a trusted test CA', async (t) => {
  const pki = await createTestPki()
  const sim = await startGenesysSim({ tls: { key: pki.key, cert: pki.cert } })
  t.after(() => sim.close())
  const { Agent, fetch: ufetch } = await import('undici')
  const dispatcher = new Agent({ connect: { ca: pki.caCert } })
  t.after(() => dispatcher.close())
  const c = sim.addClient()
  const tokenRes = await ufetch(`${sim.url}/oauth/token`, {
    method: 'POST',
    dispatcher,
    headers: {
      authorization: `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  })
  const token = ((await tokenRes.json()) as { access_token: string }).access_token
  const chRes = await ufetch(`${sim.url}/api/v2/notifications/channels`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${token}` },
  })
  const ch = (await chRes.json()) as { connectUri: string }
  assert.match(ch.connectUri, /^wss:\/\//)
  const l = await connect(ch.connectUri, { ca: pki.caCert })
  l.ws.send(JSON.stringify({ message: 'ping' }))
  await l.next((f) => f.eventBody.message === 'pong')
  l.close()
})
