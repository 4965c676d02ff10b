import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startGenesysSim, type GenesysSim } from '../../../src/sim/genesys/index.js'
import { api, clientToken, isConversation, subscribedChannel, type Frame, type Listener } from './helpers.js'

interface Media {
  id: string
  state: string
  disconnectType?: string
  direction?: string
  provider?: string
  connectedTime?: string
  disconnectedTime?: string
  startAlertingTime?: string
}
interface Participant {
  id: string
  purpose: string
  userId?: string
  queueId?: string
  address?: string
  ani?: string
  queueName?: string
  alertingTimeoutMs?: number
  calls?: Media[]
  chats?: Media[]
  messages?: Media[]
  callbacks?: Media[]
  emails?: Media[]
}
interface Snapshot {
  id: string
  participants: Participant[]
}

async function setup(
  t: { after: (fn: () => unknown) => void },
  extraTopics: (ids: { a: string; b: string; q: string }) => string[] = () => [],
): Promise<{ sim: GenesysSim; a: string; b: string; q: string; token: string; listener: Listener }> {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  const a = sim.addAgent({ name: 'Ada' }).userId
  const b = sim.addAgent({ name: 'Bob' }).userId
  const q = sim.addQueue({ name: 'Support' }).id
  const { listener } = await subscribedChannel(sim, token, [
    `v2.users.${a}.conversations`,
    `v2.users.${b}.conversations`,
    ...extraTopics({ a, b, q }),
  ])
  t.after(() => listener.close())
  return { sim, a, b, q, token, listener }
}

const snapshot = async (l: Listener, topic?: string): Promise<Snapshot> =>
  (await l.next((f) => (topic ? f.topicName === topic : isConversation(f)))).eventBody as unknown as Snapshot
const agentLegs = (s: Snapshot): Participant[] => s.participants.filter((p) => p.purpose === 'agent')
const byPurpose = (s: Snapshot, purpose: string): Participant => {
  const p = s.participants.find((x) => x.purpose === purpose)
  assert.ok(p, `no ${purpose} participant`)
  return p
}

test('offer: a customer, an ACD and an alerting agent participant, in the topic model only', async (t) => {
  const { sim, a, q, listener } = await setup(t)
  const { conversationId, participantId } = sim.offer({
    userId: a,
    mediaType: 'voice',
    queueId: q,
    ani: 'tel:+15551234567',
    alertingTimeoutMs: 15_000,
  })
  const s = await snapshot(listener)
  assert.equal(s.id, conversationId)
  const agent = byPurpose(s, 'agent')
  assert.equal(agent.id, participantId)
  assert.equal(agent.userId, a)
  assert.equal(agent.queueId, q)
  assert.equal(agent.alertingTimeoutMs, 15_000)
  assert.equal(agent.calls?.[0]?.state, 'alerting')
  assert.equal(agent.calls?.[0]?.direction, 'inbound')
  assert.equal(agent.calls?.[0]?.provider, 'Edge')
  assert.equal(byPurpose(s, 'customer').address, 'tel:+15551234567')
  assert.equal(byPurpose(s, 'acd').queueId, q)
  // ConversationEventTopicParticipant has no ani and the topic media have no startAlertingTime.
  assert.equal(agent.ani, undefined)
  assert.equal(agent.calls?.[0]?.startAlertingTime, undefined)
  assert.equal(sim.routingStatus(a), 'INTERACTING')
})

test('answer: the agent leg connects with a connectedTime and the ACD leg hands over', async (t) => {
  const { sim, a, q, listener } = await setup(t)
  const { conversationId } = sim.offer({ userId: a, mediaType: 'chat', queueId: q })
  await snapshot(listener)
  sim.answer(conversationId)
  const s = await snapshot(listener)
  const chat = byPurpose(s, 'agent').chats?.[0]
  assert.equal(chat?.state, 'connected')
  assert.ok(chat?.connectedTime && !Number.isNaN(Date.parse(chat.connectedTime)))
  assert.deepEqual(
    [byPurpose(s, 'acd').chats?.[0]?.state, byPurpose(s, 'acd').chats?.[0]?.disconnectType],
    ['disconnected', 'transfer'],
  )
})

test('abandon: the customer leg disconnects as endpoint and the alerting agent leg as peer', async (t) => {
  const { sim, a, listener } = await setup(t)
  const { conversationId } = sim.offer({ userId: a, mediaType: 'voice' })
  await snapshot(listener)
  sim.abandon(conversationId)
  const s = await snapshot(listener)
  assert.deepEqual(
    [byPurpose(s, 'customer').calls?.[0]?.state, byPurpose(s, 'customer').calls?.[0]?.disconnectType],
    ['disconnected', 'endpoint'],
  )
  const leg = byPurpose(s, 'agent').calls?.[0]
  assert.deepEqual([leg?.state, leg?.disconnectType], ['disconnected', 'peer'])
  assert.ok(leg?.disconnectedTime)
  assert.equal(sim.routingStatus(a), 'IDLE')
  assert.throws(() => sim.answer(conversationId), /no alerting agent/)
})

test('transfer: the old agent leg disconnects with transfer and a new agent participant alerts; both agents hear it', async (t) => {
  const { sim, a, b, listener } = await setup(t)
  const { conversationId, participantId } = sim.offer({ userId: a, mediaType: 'message' })
  await snapshot(listener, `v2.users.${a}.conversations`)
  sim.answer(conversationId)
  await snapshot(listener, `v2.users.${a}.conversations`)
  const { participantId: newLeg } = sim.transfer(conversationId, b)
  const [forA, forB] = await Promise.all([
    snapshot(listener, `v2.users.${a}.conversations`),
    snapshot(listener, `v2.users.${b}.conversations`),
  ])
  assert.deepEqual(forA, forB, 'every user participant gets the same full snapshot')
  const [old, fresh] = agentLegs(forA)
  assert.equal(old?.id, participantId)
  assert.deepEqual([old?.messages?.[0]?.state, old?.messages?.[0]?.disconnectType], ['disconnected', 'transfer'])
  assert.equal(fresh?.id, newLeg)
  assert.equal(fresh?.userId, b)
  assert.equal(fresh?.messages?.[0]?.state, 'alerting')
})

test('noAnswer: the agent leg times out and the agent becomes NOT_RESPONDING; reoffer alerts a new participant id', async (t) => {
  const { sim, a, q, listener } = await setup(t, ({ a }) => [`v2.users.${a}.routingStatus`])
  const { conversationId, participantId } = sim.offer({ userId: a, mediaType: 'callback', queueId: q })
  await snapshot(listener)
  sim.noAnswer(conversationId)
  const s = await snapshot(listener)
  assert.deepEqual(
    [byPurpose(s, 'agent').callbacks?.[0]?.state, byPurpose(s, 'agent').callbacks?.[0]?.disconnectType],
    ['disconnected', 'transfer.noanswer'],
  )
  assert.equal(byPurpose(s, 'acd').callbacks?.[0]?.state, 'connected', 'the interaction goes back to the queue')
  const status = await listener.next(
    (f) =>
      f.topicName === `v2.users.${a}.routingStatus` &&
      (f.eventBody.routingStatus as { status: string }).status === 'NOT_RESPONDING',
  )
  assert.ok(status)
  const { participantId: again } = sim.reoffer(conversationId)
  assert.notEqual(again, participantId)
  const r = await snapshot(listener)
  assert.equal(agentLegs(r).find((p) => p.id === again)?.callbacks?.[0]?.state, 'alerting')
})

test('decline and end: client on the declined leg, endpoint/peer when the customer hangs up', async (t) => {
  const { sim, a, listener } = await setup(t)
  const one = sim.offer({ userId: a, mediaType: 'email' })
  await snapshot(listener)
  sim.decline(one.conversationId)
  assert.equal(byPurpose(await snapshot(listener), 'agent').emails?.[0]?.disconnectType, 'client')
  const two = sim.offer({ userId: a, mediaType: 'voice' })
  await snapshot(listener)
  sim.answer(two.conversationId)
  await snapshot(listener)
  sim.end(two.conversationId)
  const s = await snapshot(listener)
  assert.deepEqual(
    s.participants.map((p) => [p.purpose, p.calls?.[0]?.state, p.calls?.[0]?.disconnectType]),
    [
      ['customer', 'disconnected', 'endpoint'],
      ['agent', 'disconnected', 'peer'],
    ],
  )
})

test('queue and per-media topics carry the same snapshot', async (t) => {
  const { sim, a, q, listener } = await setup(t, ({ a, q }) => [
    `v2.routing.queues.${q}.conversations`,
    `v2.users.${a}.conversations.calls`,
    `v2.users.${a}.conversations.chats`,
  ])
  sim.offer({ userId: a, mediaType: 'voice', queueId: q })
  const viaQueue = await snapshot(listener, `v2.routing.queues.${q}.conversations`)
  const viaCalls = await snapshot(listener, `v2.users.${a}.conversations.calls`)
  assert.deepEqual(viaQueue, viaCalls)
  await assert.rejects(
    listener.next((f) => f.topicName.endsWith('.chats'), 100),
    /timed out/,
  )
})

test('REST: GET a conversation in the Conversation model, the agent lists active ones, the analytics query finds them', async (t) => {
  const { sim, a, q, token } = await setup(t)
  const agentToken = sim.issueAgentToken(a)
  const live = sim.offer({ userId: a, mediaType: 'voice', queueId: q, ani: 'tel:+15550001111' })
  const done = sim.offer({ userId: a, mediaType: 'chat' })
  sim.abandon(done.conversationId)

  const conv = (await api(sim, token, 'GET', `/api/v2/conversations/${live.conversationId}`)).body as Snapshot & {
    startTime: string
    selfUri: string
    participants: Participant[]
  }
  assert.ok(Date.parse(conv.startTime))
  const agent = conv.participants.find((p) => p.purpose === 'agent')
  assert.equal(agent?.ani, 'tel:+15550001111')
  assert.equal(agent?.queueName, 'Support')
  assert.ok(agent?.calls?.[0]?.startAlertingTime, 'the REST Call has startAlertingTime')
  assert.equal((await api(sim, token, 'GET', '/api/v2/conversations/nope')).status, 404)

  const mine = (await api(sim, agentToken, 'GET', '/api/v2/conversations')).body as { entities: Array<{ id: string }> }
  assert.deepEqual(
    mine.entities.map((c) => c.id),
    [live.conversationId],
  )
  assert.equal((await api(sim, token, 'GET', '/api/v2/conversations')).status, 400, 'a user-context resource')

  const interval = `${new Date(Date.now() - 3600_000).toISOString()}/${new Date(Date.now() + 3600_000).toISOString()}`
  const found = (
    await api(sim, token, 'POST', '/api/v2/analytics/conversations/details/query', {
      interval,
      conversationFilters: [{ type: 'and', predicates: [{ dimension: 'conversationEnd', operator: 'notExists' }] }],
      segmentFilters: [{ type: 'and', predicates: [{ dimension: 'userId', value: a }] }],
    })
  ).body as { totalHits: number; conversations: Array<{ conversationId: string }> }
  assert.equal(found.totalHits, 1)
  assert.equal(found.conversations[0]?.conversationId, live.conversationId)
  assert.equal((await api(sim, token, 'POST', '/api/v2/analytics/conversations/details/query', {})).status, 400)
})

test('control endpoints drive the simulator from another process', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const post = async (action: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${sim.url}/sim/v1/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    assert.ok(res.ok, `${action}: ${res.status}`)
    return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>)
  }
  const agent = await post('agents', { name: 'Cy' })
  const queue = await post('queues', { name: 'Billing' })
  const offer = await post('offer', { userId: agent.userId, queueId: queue.id, mediaType: 'voice' })
  await post('answer', { conversationId: offer.conversationId })
  const me = await api(sim, String(agent.accessToken), 'GET', '/api/v2/users/me')
  assert.equal((me.body as { name: string }).name, 'Cy')
  await post('end', { conversationId: offer.conversationId })
  const stats = (await (await fetch(`${sim.url}/sim/v1/stats`)).json()) as { requests: Record<string, number> }
  assert.equal(stats.requests['GET /api/v2/users/me'], 1)
  const bad = await fetch(`${sim.url}/sim/v1/answer`, {
    method: 'POST',
    body: JSON.stringify({ conversationId: offer.conversationId }),
  })
  assert.equal(bad.status, 400)
})

test('forget(): a conversation is dropped silently, as if archived; REST reads of it answer 404; nothing of it is kept', async (t) => {
  const { sim, a, token, listener } = await setup(t)
  const { conversationId } = sim.offer({ userId: a, mediaType: 'voice' })
  const ofCall = (f: Frame): boolean => isConversation(f) && (f.eventBody as { id?: string }).id === conversationId
  await listener.next((f) => ofCall(f))
  sim.answer(conversationId)
  await listener.next((f) => ofCall(f))
  assert.equal((await api(sim, token, 'GET', `/api/v2/conversations/${conversationId}`)).status, 200)
  const tracked = sim.eventStreams.trackedConversations
  assert.ok(tracked >= 1, 'the event-stream hub follows the live conversation')
  sim.forget(conversationId)
  assert.equal((await api(sim, token, 'GET', `/api/v2/conversations/${conversationId}`)).status, 404)
  assert.equal(
    sim.eventStreams.trackedConversations,
    tracked - 1,
    'its event-stream state is dropped too (a long benchmark run would otherwise grow the heap)',
  )
  await assert.rejects(
    listener.next((f) => ofCall(f), 100),
    /timed out/,
    'forgetting publishes nothing',
  )
})
