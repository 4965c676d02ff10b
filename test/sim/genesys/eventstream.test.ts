import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startGenesysSim } from '../../../src/sim/genesys/index.js'
import { api, clientToken, connect } from './helpers.js'

const SUBS = '/api/v2/analytics/eventstreams/subscriptions'
const EVENTS = [
  'routing.queue.member.added',
  'routing.queue.member.removed',
  'routing.conversation.created',
  'routing.conversation.updated',
  'routing.conversation.deleted',
]

test('the event-stream protocol: subscription rules, media filters applied at the subscription, its event shapes', async (t) => {
  const sim = await startGenesysSim()
  t.after(() => sim.close())
  const token = await clientToken(sim)
  assert.equal((await api(sim, token, 'POST', SUBS, { streamType: 'WEBHOOK', events: EVENTS })).status, 400)
  assert.equal(
    (await api(sim, token, 'POST', SUBS, { streamType: 'WEBSOCKET', events: ['routing.interaction.updated'] })).status,
    400,
  )
  assert.equal(
    (
      await api(sim, token, 'POST', SUBS, {
        streamType: 'WEBSOCKET',
        events: EVENTS,
        filters: [{ type: 'conversation', field: 'mediaType', operator: 'EQ', value: 'fax' }],
      })
    ).status,
    400,
  )
  const created = await api(sim, token, 'POST', SUBS, {
    name: 'x',
    streamType: 'WEBSOCKET',
    events: EVENTS,
    filters: [{ type: 'conversation', field: 'mediaType', operator: 'EQ', value: 'voice' }],
  })
  assert.equal(created.status, 200)
  const sub = created.body as { id: string; connectUri: string }
  assert.equal((await api(sim, token, 'GET', `${SUBS}/${sub.id}`)).status, 200)
  const listener = await connect(sub.connectUri)
  t.after(() => listener.close())

  const agent = sim.addAgent()
  const queue = sim.addQueue({ name: 'Sales' })
  sim.offer({ userId: agent.userId, mediaType: 'chat' }) // filtered out at the subscription
  const call = sim.offer({ userId: agent.userId, mediaType: 'voice', queueId: queue.id })
  const added = await listener.next(
    (f) => (f as unknown as { eventType: string }).eventType === 'routing.queue.member.added',
  )
  const data = (added as unknown as { data: Record<string, unknown>; timestamp: string }).data
  assert.deepEqual(
    {
      queueId: data.queueId,
      memberId: data.memberId,
      memberType: data.memberType,
      conversationId: data.conversationId,
      mediaType: data.mediaType,
      participantId: data.participantId,
    },
    {
      queueId: queue.id,
      memberId: agent.userId,
      memberType: 'user',
      conversationId: call.conversationId,
      mediaType: 'voice',
      participantId: call.participantId,
    },
  )
  sim.answer(call.conversationId)
  await listener.next(
    (f) =>
      (f as unknown as { eventType: string; data: { status?: string } }).eventType === 'routing.conversation.updated',
  )
  sim.end(call.conversationId)
  await listener.next((f) => (f as unknown as { eventType: string }).eventType === 'routing.conversation.deleted')
  const all = listener.frames as unknown as Array<{ eventType: string; data?: { mediaType?: string } }>
  assert.ok(
    all.every((f) => f.eventType === 'system.heartbeat' || f.data?.mediaType === 'voice'),
    'no chat event crossed the filter',
  )
  assert.equal((await api(sim, token, 'DELETE', `${SUBS}/${sub.id}`)).status, 204)
  assert.equal((await api(sim, token, 'GET', `${SUBS}/${sub.id}`)).status, 404)
})
