import { test } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../../src/observability/logger.js'
import { TopicCapacityError } from '../../src/sources/channel-pool.js'
import { NotificationsSource, type NotificationsSourceOptions } from '../../src/sources/notifications.js'
import { requests, world, type World } from '../genesys/helpers.js'
import { Events, ofConversation, until } from './helpers.js'

const PUT_SUBS = 'PUT /api/v2/notifications/channels/{channelId}/subscriptions'
const POST_CHANNELS = 'POST /api/v2/notifications/channels'

async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  userIds: (w: World) => string[],
  o: Partial<NotificationsSourceOptions> = {},
): Promise<{ w: World; source: NotificationsSource; events: Events }> {
  const w = await world({ maxRetries: 0 })
  const ids = userIds(w)
  const events = new Events()
  const source = new NotificationsSource({
    rest: w.rest,
    listUserIds: () => Promise.resolve(ids),
    onEvent: events.handler,
    logger: silentLogger(),
    wsOptions: { ca: w.ca },
    backoff: { initialMs: 20, maxMs: 200 },
    ...o,
  })
  t.after(async () => {
    await source.stop()
    await w.close()
  })
  await source.start()
  return { w, source, events }
}

test('2,500 agents are spread over 3 channels of at most 1000 topics, one PUT per channel, and all are heard', async (t) => {
  let agents: string[] = []
  const { w, source, events } = await setup(
    t,
    (w) => (agents = Array.from({ length: 2500 }, (_, i) => w.sim.addAgent({ name: `Agent ${i}` }).userId)),
  )
  const channels = w.sim.channels()
  assert.equal(channels.length, 3)
  assert.ok(
    channels.every((c) => c.connected && c.topics.length <= 1000),
    'every channel connected and within the limit',
  )
  assert.equal(
    channels.reduce((n, c) => n + c.topics.length, 0),
    2500,
  )
  assert.equal(new Set(channels.flatMap((c) => c.topics)).size, 2500, 'each agent on exactly one channel')
  assert.equal(requests(w.sim, PUT_SUBS), 3, 'bulk: one PUT per channel, not one call per agent')
  assert.equal(requests(w.sim, POST_CHANNELS), 3)
  assert.deepEqual(
    { ...source.status(), reconnects: 0 },
    { name: 'notifications', connected: true, channels: 3, topics: 2500, reconnects: 0, rejectedFrames: 0 },
  )

  for (const userId of [agents[0]!, agents[1250]!, agents[2499]!]) {
    const { conversationId } = w.sim.offer({ userId, mediaType: 'voice' })
    await events.next(ofConversation(conversationId, 'offer'))
  }

  // The registry moves on: a newcomer goes to the emptiest channel; a leaver's topic is dropped.
  const newcomer = w.sim.addAgent().userId
  await source.addUser(newcomer)
  await source.removeUser(agents[7]!)
  const after = w.sim.channels()
  assert.equal(after.length, 3, 'room left: no new channel')
  assert.ok(after.some((c) => c.topics.includes(`v2.users.${newcomer}.conversations`)))
  assert.ok(!after.some((c) => c.topics.includes(`v2.users.${agents[7]}.conversations`)))
  const { conversationId } = w.sim.offer({ userId: newcomer, mediaType: 'chat' })
  await events.next(ofConversation(conversationId, 'offer'))
})

test('past 19 channels of 1000 topics the start fails, naming the webhook (EventBridge) source', async (t) => {
  const w = await world()
  t.after(() => w.close())
  const source = new NotificationsSource({
    rest: w.rest,
    listUserIds: () => Promise.resolve(Array.from({ length: 19_001 }, (_, i) => `user-${i}`)),
    onEvent: () => undefined,
    logger: silentLogger(),
  })
  await assert.rejects(
    source.start(),
    (err: unknown) =>
      err instanceof TopicCapacityError && /webhook/.test(err.message) && /EventBridge/.test(err.message),
  )
  assert.equal(requests(w.sim, POST_CHANNELS), 0, 'refused before touching Genesys')
})

test('a channel that fills up gets a new channel for the next agent', async (t) => {
  const { w, source, events } = await setup(t, (w) => Array.from({ length: 4 }, () => w.sim.addAgent().userId), {
    maxTopicsPerChannel: 2,
  })
  assert.equal(w.sim.channels().length, 2)
  const late = w.sim.addAgent().userId
  await source.addUser(late)
  await until(() => source.status().connected && w.sim.channels().length === 3)
  const { conversationId } = w.sim.offer({ userId: late, mediaType: 'email' })
  await events.next(ofConversation(conversationId, 'offer'))
})

test('GENESYS_TOPICS=queues subscribes the queues, not the agents, and hears offers from those queues', async (t) => {
  const w = await world()
  const queue = w.sim.addQueue({ name: 'Mobile' })
  const other = w.sim.addQueue({ name: 'Desk only' })
  const agent = w.sim.addAgent().userId
  const events = new Events()
  const source = new NotificationsSource({
    rest: w.rest,
    listUserIds: () => Promise.resolve([agent]),
    onEvent: events.handler,
    logger: silentLogger(),
    wsOptions: { ca: w.ca },
    topics: 'queues',
    queueIds: [queue.id],
  })
  t.after(async () => {
    await source.stop()
    await w.close()
  })
  await source.start()
  assert.deepEqual(w.sim.channels()[0]?.topics, [`v2.routing.queues.${queue.id}.conversations`])
  const heard = w.sim.offer({ userId: agent, mediaType: 'voice', queueId: queue.id })
  const offer = await events.next(ofConversation(heard.conversationId, 'offer'))
  assert.equal(offer.queueId, queue.id)
  const unheard = w.sim.offer({ userId: agent, mediaType: 'voice', queueId: other.id })
  w.sim.answer(heard.conversationId)
  await events.next(ofConversation(heard.conversationId, 'answered'))
  assert.ok(!events.all.some((e) => e.conversationId === unheard.conversationId))
})

test("with a presence handler, agents' presence topics are subscribed and changes reported", async (t) => {
  const seen: Array<[string, string, number]> = []
  let agent = ''
  const { w, source } = await setup(t, (w) => [(agent = w.sim.addAgent().userId)], {
    onPresence: (u, p, at) => void seen.push([u, p, at]),
  })
  assert.deepEqual(
    w.sim.channels()[0]?.topics.sort(),
    [`v2.users.${agent}.conversations`, `v2.users.${agent}.presence`].sort(),
  )
  await until(() => seen.length > 0) // the start refreshes presence in bulk
  seen.length = 0
  w.sim.setPresence(agent, 'Break')
  await until(() => seen.some(([, p]) => p === 'BREAK'))
  const [userId, , changedAt] = seen.find(([, p]) => p === 'BREAK')!
  assert.equal(userId, agent)
  assert.ok(Math.abs(changedAt - Date.now()) < 5_000)
  await source.removeUser(agent)
  assert.deepEqual(w.sim.channels()[0]?.topics, [])
})

test('120 agents: the presence refresh after a gap reads everyone back in calls of at most 50 ids', async (t) => {
  const latest = new Map<string, string>()
  let agents: string[] = []
  const { w } = await setup(
    t,
    (w) => (agents = Array.from({ length: 120 }, (_, i) => w.sim.addAgent({ name: `Agent ${i}` }).userId)),
    {
      onPresence: (userId, presence) => void latest.set(userId, presence),
    },
  )
  await until(() => latest.size === 120)
  // During the gap every agent goes on break; the topic frames are lost with the socket.
  w.sim.setDown(true)
  w.sim.dropSockets()
  for (const userId of agents) w.sim.setPresence(userId, 'Break')
  w.sim.setDown(false)
  await until(() => agents.every((u) => latest.get(u)?.toLowerCase() === 'break'), 10_000)
  const bulk = 'GET /api/v2/users/presences/purecloud/bulk'
  assert.ok(requests(w.sim, bulk) >= 6, 'three calls at the start, three after the gap')
})
