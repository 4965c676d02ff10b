import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import type { RoutingEvent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { GenesysRest, type NotificationChannel } from '../../src/genesys/rest.js'
import { NotificationsSource, type NotificationsSourceOptions } from '../../src/sources/notifications.js'
import { snapshot, userTopic } from '../fixtures/genesys/snapshots.js'
import { IntakeGate } from '../../src/sources/intake-gate.js'
import { startNetProxy, type NetProxy } from '../../src/sim/net-proxy.js'
import { Events } from './helpers.js'
import { requests, world, type World } from '../genesys/helpers.js'

const PUT_SUBS = 'PUT /api/v2/notifications/channels/{channelId}/subscriptions'
const POST_SUBS = 'POST /api/v2/notifications/channels/{channelId}/subscriptions'

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  o: {
    agents?: number
    heartbeatIntervalMs?: number
    simClock?: FakeClock
    source?: Partial<NotificationsSourceOptions>
    /** The channel sockets reach the simulator through a loopback proxy (net-proxy.ts) the test can break. */
    viaProxy?: boolean
  } = {},
): Promise<{
  w: World
  source: NotificationsSource
  events: Events
  agents: Array<{ userId: string }>
  proxy: NetProxy | undefined
}> {
  const w = await world({
    ...(o.heartbeatIntervalMs !== undefined && { heartbeatIntervalMs: o.heartbeatIntervalMs }),
    ...(o.simClock && { simClock: o.simClock }),
  })
  const proxy = o.viaProxy ? await startNetProxy({ target: { port: Number(new URL(w.sim.url).port) } }) : undefined
  if (proxy) w.sim.routeSocketsVia(proxy.port)
  const agents = Array.from({ length: o.agents ?? 3 }, () => w.sim.addAgent())
  const events = new Events()
  const source = new NotificationsSource({
    rest: w.rest,
    listUserIds: () => Promise.resolve(agents.map((a) => a.userId)),
    onEvent: events.handler,
    logger: silentLogger(),
    wsOptions: { ca: w.ca },
    backoff: { initialMs: 20, maxMs: 200 },
    ...o.source,
  })
  t.after(async () => {
    await source.stop()
    await proxy?.close()
    await w.close()
  })
  await source.start()
  return { w, source, events, agents, proxy }
}

const ofConversation = (cid: string, kind: RoutingEvent['kind']) => (e: RoutingEvent) =>
  e.conversationId === cid && e.kind === kind

test('start subscribes every agent in one PUT and hears an offer then its answer', async (t) => {
  const { w, source, events, agents } = await setup(t)
  assert.equal(requests(w.sim, PUT_SUBS), 1)
  assert.equal(requests(w.sim, POST_SUBS), 0)
  const [channel] = w.sim.channels()
  assert.ok(channel?.connected)
  assert.deepEqual(channel.topics.sort(), agents.map((a) => `v2.users.${a.userId}.conversations`).sort())
  assert.deepEqual(source.status(), {
    name: 'notifications',
    connected: true,
    channels: 1,
    topics: 3,
    reconnects: 0,
    rejectedFrames: 0,
  })

  const queue = w.sim.addQueue({ name: 'Support' })
  const agent = agents[1]!
  const { conversationId, participantId } = w.sim.offer({ userId: agent.userId, mediaType: 'voice', queueId: queue.id })
  const offer = await events.next(ofConversation(conversationId, 'offer'))
  assert.equal(offer.userId, agent.userId)
  assert.equal(offer.participantId, participantId)
  assert.equal(offer.mediaType, 'voice')
  assert.equal(offer.queueId, queue.id)
  assert.equal(offer.source, 'notifications')
  assert.equal(typeof offer.receivedAtHr, 'number')
  w.sim.answer(conversationId)
  await events.next(ofConversation(conversationId, 'answered'))
  assert.equal(events.all.filter((e) => e.conversationId === conversationId).length, 2)
})

test('a caller who hangs up while the agent is alerting ends the ring as abandoned', async (t) => {
  const { w, events, agents } = await setup(t, { agents: 1 })
  const { conversationId } = w.sim.offer({ userId: agents[0]!.userId, mediaType: 'chat' })
  await events.next(ofConversation(conversationId, 'offer'))
  w.sim.abandon(conversationId)
  const ended = await events.next(ofConversation(conversationId, 'ended'))
  assert.equal(ended.kind === 'ended' && ended.reason, 'abandoned')
  assert.equal(ended.mediaType, 'chat')
})

test('reconnects after the sockets drop and hears offers again', async (t) => {
  const { w, source, events, agents } = await setup(t, { agents: 1 })
  const channelBefore = source.channelId
  w.sim.dropSockets()
  await until(() => source.status().reconnects >= 1 && source.status().connected)
  assert.equal(source.channelId, channelBefore, 'the channel outlives its socket and is reused')
  const { conversationId } = w.sim.offer({ userId: agents[0]!.userId, mediaType: 'voice' })
  await events.next(ofConversation(conversationId, 'offer'))
})

test('socket_closing moves to a new channel without missing an offer made right after', async (t) => {
  const { w, source, events, agents } = await setup(t, { agents: 2 })
  const oldChannel = source.channelId
  w.sim.sendSocketClosing()
  const first = w.sim.offer({ userId: agents[0]!.userId, mediaType: 'voice' })
  await events.next(ofConversation(first.conversationId, 'offer'))
  await until(() => source.channelId !== oldChannel && source.status().connected)
  const channels = w.sim.channels()
  const fresh = channels.find((c) => c.id === source.channelId)
  assert.ok(fresh?.connected)
  assert.equal(fresh.topics.length, 2)
  // Make-before-break: the old socket closes once the new one carries the topics (asynchronously).
  await until(() => !(w.sim.channels().find((c) => c.id === oldChannel)?.connected ?? false))
  const second = w.sim.offer({ userId: agents[1]!.userId, mediaType: 'message' })
  await events.next(ofConversation(second.conversationId, 'offer'))
  w.sim.answer(first.conversationId)
  await events.next(ofConversation(first.conversationId, 'answered'))
  assert.equal(events.all.filter((e) => e.kind === 'offer').length, 2, 'each offer heard exactly once')
  assert.equal(source.status().reconnects, 0)
})

test('agents added and removed while running change the channel topics, concurrently without races', async (t) => {
  const { w, source, events } = await setup(t, { agents: 1 })
  const newcomers = Array.from({ length: 5 }, () => w.sim.addAgent())
  await Promise.all(newcomers.map((a) => source.addUser(a.userId)))
  assert.equal(requests(w.sim, POST_SUBS), 5)
  assert.equal(w.sim.channels()[0]?.topics.length, 6)
  const heard = w.sim.offer({ userId: newcomers[4]!.userId, mediaType: 'email' })
  await events.next(ofConversation(heard.conversationId, 'offer'))

  await Promise.all([source.removeUser(newcomers[0]!.userId), source.removeUser(newcomers[1]!.userId)])
  const topics = w.sim.channels()[0]?.topics ?? []
  assert.equal(topics.length, 4)
  assert.ok(!topics.includes(`v2.users.${newcomers[0]!.userId}.conversations`))
  assert.equal(source.status().topics, 4)
  const unheard = w.sim.offer({ userId: newcomers[0]!.userId, mediaType: 'voice' })
  const control = w.sim.offer({ userId: newcomers[2]!.userId, mediaType: 'voice' })
  await events.next(ofConversation(control.conversationId, 'offer'))
  assert.ok(!events.all.some((e) => e.conversationId === unheard.conversationId))
})

test('a silent socket is detected by the heartbeat watchdog and replaced', async (t) => {
  // Heartbeats every 10 s, watchdog at 300 ms: the socket looks dead and must be reconnected.
  const { source } = await setup(t, { agents: 1, heartbeatIntervalMs: 10_000, source: { heartbeatTimeoutMs: 300 } })
  await until(() => source.status().reconnects >= 1 && source.status().connected)
})

test('client pings keep a quiet socket alive', async (t) => {
  const { source } = await setup(t, {
    agents: 1,
    heartbeatIntervalMs: 10_000,
    source: { heartbeatTimeoutMs: 400, probe: { afterMs: 100, timeoutMs: 200 } },
  })
  await new Promise((r) => setTimeout(r, 900))
  assert.equal(source.status().reconnects, 0)
  assert.ok(source.status().connected)
})

test('a Genesys outage at start is retried until it comes back', async (t) => {
  const w = await world()
  const agent = w.sim.addAgent()
  w.sim.setDown(true)
  const events = new Events()
  const source = new NotificationsSource({
    rest: w.rest,
    listUserIds: () => Promise.resolve([agent.userId]),
    onEvent: events.handler,
    logger: silentLogger(),
    wsOptions: { ca: w.ca },
    backoff: { initialMs: 20, maxMs: 100 },
  })
  t.after(async () => {
    await source.stop()
    await w.close()
  })
  await source.start()
  assert.equal(source.status().connected, false)
  w.sim.setDown(false)
  await until(() => source.status().connected, 8000)
  const { conversationId } = w.sim.offer({ userId: agent.userId, mediaType: 'callback' })
  await events.next(ofConversation(conversationId, 'offer'))
})

test('when the channel has expired, the reconnect makes a new channel and subscribes it', async (t) => {
  const simClock = new FakeClock(Date.now())
  const { w, source, events, agents } = await setup(t, { agents: 2, simClock })
  const expired = source.channelId
  simClock.advance(25 * 3600_000) // channels live 24 h
  w.sim.sweep()
  await until(() => source.status().connected && source.channelId !== expired)
  assert.deepEqual(
    w.sim.channels().map((c) => c.id),
    [source.channelId],
  )
  assert.equal(w.sim.channels()[0]?.topics.length, 2)
  const { conversationId } = w.sim.offer({ userId: agents[1]!.userId, mediaType: 'voice' })
  await events.next(ofConversation(conversationId, 'offer'))
})

test('transfer, no-answer, decline and re-offer from the simulator reach the gateway as such', async (t) => {
  const { w, events, agents } = await setup(t, { agents: 2 })
  const [a, b] = [agents[0]!.userId, agents[1]!.userId]
  const reasonOf = async (cid: string, participantId: string): Promise<string> => {
    const e = await events.next(
      (x) => x.conversationId === cid && x.participantId === participantId && x.kind === 'ended',
    )
    return e.kind === 'ended' ? e.reason : ''
  }

  const c1 = w.sim.offer({ userId: a, mediaType: 'voice', ani: 'tel:+13175550199' })
  const offer = await events.next(ofConversation(c1.conversationId, 'offer'))
  assert.equal(offer.callerDisplay, '+13175550199')
  const toB = w.sim.transfer(c1.conversationId, b)
  assert.equal(await reasonOf(c1.conversationId, c1.participantId), 'transferred')
  const offerB = await events.next(
    (e) => e.conversationId === c1.conversationId && e.userId === b && e.kind === 'offer',
  )
  assert.equal(offerB.participantId, toB.participantId)

  const c2 = w.sim.offer({ userId: a, mediaType: 'voice' })
  await events.next(ofConversation(c2.conversationId, 'offer'))
  w.sim.noAnswer(c2.conversationId)
  assert.equal(await reasonOf(c2.conversationId, c2.participantId), 'not-answered')
  const again = w.sim.reoffer(c2.conversationId)
  const reoffer = await events.next(
    (e) => e.conversationId === c2.conversationId && e.participantId === again.participantId,
  )
  assert.equal(reoffer.kind, 'offer')
  w.sim.decline(c2.conversationId)
  assert.equal(await reasonOf(c2.conversationId, again.participantId), 'declined')
})

test('malformed frames are counted and never crash the source; a throwing handler is contained', async (t) => {
  const w = await world()
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  // Genesys' REST surface from the simulator, a hostile socket from this test.
  class HostileChannelRest extends GenesysRest {
    override async createChannel(): Promise<NotificationChannel> {
      return { ...(await super.createChannel()), connectUri: `ws://127.0.0.1:${port}/` }
    }
  }
  const rest = new HostileChannelRest({
    apiUrl: w.sim.url,
    auth: w.auth,
    dispatcher: w.dispatcher,
    logger: silentLogger(),
  })
  const agent = w.sim.addAgent()
  const delivered: RoutingEvent[] = []
  const source = new NotificationsSource({
    rest,
    listUserIds: () => Promise.resolve([agent.userId]),
    onEvent: (e) => {
      delivered.push(e)
      throw new Error('handler bug')
    },
    logger: silentLogger(),
  })
  t.after(async () => {
    await source.stop()
    await new Promise((r) => server.close(r))
    await w.close()
  })
  server.on('connection', (ws) => {
    for (const bad of [
      'not json',
      '[]',
      '{"eventBody":{}}',
      '{"topicName":"v2.users.x.conversations","eventBody":null}',
      '{"topicName":"v2.unknown.topic","eventBody":{}}',
    ])
      ws.send(bad)
    ws.send(JSON.stringify({ topicName: 'channel.metadata', eventBody: { message: 'WebSocket Heartbeat' } }))
    ws.send(
      JSON.stringify({
        topicName: userTopic(),
        version: '2',
        eventBody: snapshot({ agents: [{ leg: { state: 'alerting' } }] }),
      }),
    )
  })
  await source.start()
  await until(() => delivered.length === 1)
  assert.equal(source.status().rejectedFrames, 5)
  assert.ok(source.status().connected)
  assert.equal(delivered[0]?.kind, 'offer')
})

test('a socket paused by the intake gate is not taken for a silent one, and its frames arrive once the gate opens', async (t) => {
  const gate = new IntakeGate(1)
  const { w, source, events, agents } = await setup(t, {
    agents: 1,
    heartbeatIntervalMs: 10_000,
    // Every event stays "being decided" until the test says so: the gate (limit 1) closes at the first.
    source: {
      heartbeatTimeoutMs: 300,
      intake: gate,
      onEvent: (e) => {
        gate.taken()
        events.handler(e)
      },
    },
  })
  const userId = (agents[0] as { userId: string }).userId
  const { conversationId } = w.sim.offer({ userId, mediaType: 'voice' })
  await events.next(ofConversation(conversationId, 'offer'))
  w.sim.answer(conversationId)
  // Three times the heartbeat timeout: the answer waits unread, and the socket is kept.
  await new Promise((r) => setTimeout(r, 900))
  assert.equal(events.all.filter((e) => e.kind === 'answered').length, 0, 'the answer waited in the socket')
  assert.equal(source.status().reconnects, 0)
  assert.equal(gate.pauses, 1)
  gate.decided()
  await events.next(ofConversation(conversationId, 'answered'))
  assert.equal(source.status().reconnects, 0)
})

test('a socket whose path goes silent is pinged, found dead when the pong does not come, and replaced long before the heartbeat timeout', async (t) => {
  const { w, source, events, agents, proxy } = await setup(t, {
    agents: 1,
    heartbeatIntervalMs: 30_000,
    viaProxy: true,
    // The defaults scaled down 50 times: 75 s heartbeat timeout, ping after 10 s, pong within 5 s.
    source: { heartbeatTimeoutMs: 1_500, probe: { afterMs: 200, timeoutMs: 100 } },
  })
  // A quiet, healthy socket is pinged, answers, and is kept past the heartbeat timeout (Genesys's
  // heartbeats come only every 30 s): its pongs are signs of life.
  await new Promise((r) => setTimeout(r, 2_000))
  assert.equal(source.status().reconnects, 0, 'a socket that answers its pings is kept')

  proxy?.blackHoleExisting()
  const silencedAt = Date.now()
  await until(() => source.status().reconnects >= 1 && source.status().connected, 3_000)
  const replacedAfterMs = Date.now() - silencedAt
  assert.ok(replacedAfterMs < 900, `replaced ${replacedAfterMs} ms after the path died (heartbeat timeout 1500 ms)`)
  // The new socket carries the next offer.
  const { conversationId } = w.sim.offer({ userId: (agents[0] as { userId: string }).userId, mediaType: 'voice' })
  await events.next(ofConversation(conversationId, 'offer'))
})
