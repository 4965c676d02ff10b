import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { apnsToken, startHarness, waitFor, type Harness } from './harness.js'
import { snapshot } from '../fixtures/genesys/snapshots.js'

const SECRET = 'webhook-secret-for-tests-0123456789'

async function post(
  h: Harness,
  body: unknown,
  headers: Record<string, string> = { 'x-webhook-secret': SECRET },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${h.api}/api/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

const pushesFor = (h: Harness, cid: string, action: string): number =>
  h.world.apns.accepted.filter((p) => p.payload.genesys_conversation_id === cid && p.payload.action === action).length

/** An EventBridge event as an API destination posts it (Genesys partner event source). */
function eventBridge(
  topicName: string,
  eventBody: Record<string, unknown>,
  id = randomUUID(),
): Record<string, unknown> {
  return {
    version: '0',
    id,
    'detail-type': topicName,
    source: 'aws.partner/genesys.com/cloud/00000000-0000-4000-8000-000000000000/push-gateway',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [],
    detail: {
      topicName,
      version: '2',
      eventBody,
      metadata: { CorrelationId: randomUUID() },
      timestamp: new Date().toISOString(),
    },
  }
}

test('webhook source: EventBridge conversation snapshots and detail events ring and cancel, idempotent, authenticated', async (t) => {
  const h = await startHarness({ GENESYS_EVENT_SOURCE: 'webhook', WEBHOOK_SECRET: SECRET })
  t.after(() => h.close())
  const agent = h.world.genesys.addAgent({ name: 'Webhook Agent' })
  assert.equal(
    (
      await h.register(agent.accessToken, {
        platform: 'ios',
        token: apnsToken(),
        pushType: 'alert',
        environment: 'sandbox',
      })
    ).status,
    201,
  )
  assert.equal((await fetch(`${h.api}/readyz`)).status, 200, 'a webhook source needs no connection to be ready')

  // 1. A conversation snapshot (v2.users.{id}.conversations) rings; the same delivery again does not.
  const cid = randomUUID()
  const alerting = eventBridge(
    `v2.users.${agent.userId}.conversations`,
    snapshot({ conversationId: cid, agents: [{ userId: agent.userId, leg: { state: 'alerting' } }] }),
  )
  const first = await post(h, alerting)
  assert.equal(first.status, 202)
  assert.deepEqual(first.json, { accepted: 1, duplicates: 0, events: 1 })
  await waitFor('the ring', () => pushesFor(h, cid, 'ring') === 1)
  assert.deepEqual((await post(h, alerting)).json, { accepted: 0, duplicates: 1, events: 0 })
  const abandoned = eventBridge(
    `v2.users.${agent.userId}.conversations`,
    snapshot({
      conversationId: cid,
      customer: { state: 'disconnected', disconnectType: 'endpoint' },
      agents: [{ userId: agent.userId, leg: { state: 'disconnected', disconnectType: 'peer' } }],
    }),
  )
  assert.equal((await post(h, abandoned)).status, 202)
  await waitFor('the cancel', () => pushesFor(h, cid, 'cancel_ring') === 1)

  // 2. Detail events: user.start rings, user.end cancels.
  const cid2 = randomUUID()
  const pid = randomUUID()
  const detail = {
    eventTime: Date.now(),
    conversationId: cid2,
    participantId: pid,
    sessionId: randomUUID(),
    mediaType: 'VOICE',
    direction: 'inbound',
    ani: 'tel:+15550100',
    userId: agent.userId,
    queueId: randomUUID(),
  }
  assert.equal((await post(h, eventBridge(`v2.detail.events.conversation.${cid2}.user.start`, detail))).status, 202)
  await waitFor('the detail-event ring', () => pushesFor(h, cid2, 'ring') === 1)
  assert.equal(
    (
      await post(
        h,
        eventBridge(`v2.detail.events.conversation.${cid2}.user.end`, {
          ...detail,
          disconnectType: 'peer',
          alertingDurationMs: 4000,
        }),
      )
    ).status,
    202,
  )
  await waitFor('the detail-event cancel', () => pushesFor(h, cid2, 'cancel_ring') === 1)

  // 3. The event-stream shape: member.added rings; conversation.deleted cancels the open ring (read from the store).
  const cid3 = randomUUID()
  const added = {
    eventType: 'routing.queue.member.added',
    timestamp: new Date().toISOString(),
    data: {
      queueId: randomUUID(),
      memberId: agent.userId,
      memberType: 'user',
      conversationId: cid3,
      mediaType: 'chat',
    },
  }
  assert.equal((await post(h, added)).status, 202)
  await waitFor('the event-stream ring', () => pushesFor(h, cid3, 'ring') === 1)
  assert.equal(
    (
      await post(h, {
        eventType: 'routing.conversation.deleted',
        timestamp: new Date().toISOString(),
        data: { conversationId: cid3 },
      })
    ).status,
    202,
  )
  await waitFor('the event-stream cancel', () => pushesFor(h, cid3, 'cancel_ring') === 1)

  // 4. Refusals.
  assert.equal((await post(h, alerting, {})).status, 401)
  assert.equal((await post(h, alerting, { 'x-webhook-secret': `${SECRET}x` })).status, 401)
  const bad = await post(h, { hello: 'world' })
  assert.equal(bad.status, 400)
  assert.equal((bad.json.error as { code: string }).code, 'INVALID_EVENT')
  assert.equal((await post(h, '{not json')).status, 400)
  assert.equal(
    (await post(h, eventBridge('v2.detail.events.conversation.x.user.start', { conversationId: 'x' }))).status,
    400,
  )
  const huge = await post(
    h,
    eventBridge(`v2.users.${agent.userId}.conversations`, { id: 'x', participants: [], pad: 'x'.repeat(300 * 1024) }),
  )
  assert.equal(huge.status, 413, 'bounded body size')
  assert.equal(pushesFor(h, cid, 'ring'), 1, 'still exactly one ring for the first conversation')
})

test('eventstream source: the event-stream protocol from the simulator rings and cancels end to end', async (t) => {
  const h = await startHarness({ GENESYS_EVENT_SOURCE: 'eventstream' })
  t.after(() => h.close())
  const agent = h.world.genesys.addAgent({ name: 'Stream Agent' })
  assert.equal(
    (
      await h.register(agent.accessToken, {
        platform: 'ios',
        token: apnsToken(),
        pushType: 'alert',
        environment: 'sandbox',
      })
    ).status,
    201,
  )
  await waitFor('the subscription socket', () => h.world.genesys.eventStreams.list().some((s) => s.connected))
  const [sub] = h.world.genesys.eventStreams.list()
  assert.deepEqual(
    sub?.mediaTypes.sort(),
    ['callback', 'chat', 'email', 'message', 'voice'],
    'media filters at the subscription',
  )

  const call = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  await waitFor('the ring', () => pushesFor(h, call.conversationId, 'ring') === 1)
  h.world.genesys.abandon(call.conversationId)
  await waitFor('the cancel', () => pushesFor(h, call.conversationId, 'cancel_ring') === 1)

  const chat = h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
  await waitFor('the chat ring', () => pushesFor(h, chat.conversationId, 'ring') === 1)
  h.world.genesys.transfer(chat.conversationId)
  await waitFor('the transfer cancel', () => pushesFor(h, chat.conversationId, 'cancel_ring') === 1)

  // Dropped: the source reconnects and an offer made in the gap is found and rung.
  h.world.genesys.setDown(true)
  h.world.genesys.dropSockets()
  await waitFor('the drop', () => !h.gateway.source.status().connected)
  const missed = h.world.genesys.offer({ userId: agent.userId, mediaType: 'email' })
  h.world.genesys.setDown(false)
  await waitFor(
    'the missed offer rung after reconnect',
    () => pushesFor(h, missed.conversationId, 'ring') === 1,
    10_000,
  )
})
