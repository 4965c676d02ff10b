import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import type { RingRecord, RoutingEvent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { readDetailEvent } from '../../src/sources/detail-events.js'
import { mediaTypeOf, MalformedEventError } from '../../src/sources/event-readers.js'
import { fromEventStreamEvent } from '../../src/sources/eventstream/events.js'
import { WebhookSource } from '../../src/sources/webhook.js'
import { AGENT_PID, CONV, QUEUE, USER } from '../fixtures/genesys/snapshots.js'

const T0 = Date.UTC(2026, 0, 1, 9)
const ctx = { source: 'webhook' as const, receivedAt: T0 }
const noRings = { ...ctx, openRings: (_conversationId: string): Promise<RingRecord[]> => Promise.resolve([]) }
const fromDetailEvent = (topic: string, body: unknown, rings: typeof noRings = noRings): Promise<RoutingEvent[]> =>
  readDetailEvent(topic, body)(rings)

// Fields as in purecloud-platform-client-v2 UserStartDetailEventTopicUserStartEvent (mediaType and
// direction upper case), wrapped the way the EventBridge integration delivers them.
const envelope = JSON.parse(
  readFileSync(new URL('../fixtures/genesys/eventbridge-user-start.json', import.meta.url), 'utf8'),
) as {
  id: string
  detail: { topicName: string; eventBody: Record<string, unknown> }
}

test('a real-shaped EventBridge user.start detail event is an offer with caller and queue', async () => {
  assert.deepEqual(await fromDetailEvent(envelope.detail.topicName, envelope.detail.eventBody), [
    {
      kind: 'offer',
      conversationId: CONV,
      userId: USER,
      participantId: AGENT_PID,
      mediaType: 'voice',
      queueId: QUEUE,
      callerDisplay: '+447700900123',
      occurredAt: 1767258000000,
      receivedAt: T0,
      source: 'webhook',
    },
  ])
})

test('detail events for every media type, outbound starts ignored, ends with their reasons', async () => {
  const body = envelope.detail.eventBody
  const start = async (mediaType: string): Promise<RoutingEvent[]> =>
    fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { ...body, mediaType })
  assert.deepEqual(
    await Promise.all(
      ['VOICE', 'CALLBACK', 'CHAT', 'MESSAGE', 'EMAIL'].map(async (m) => (await start(m))[0]?.mediaType),
    ),
    ['voice', 'callback', 'chat', 'message', 'email'],
  )
  assert.deepEqual(
    await fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { ...body, direction: 'OUTBOUND' }),
    [],
  )
  const end = async (extra: Record<string, unknown>): Promise<string> => {
    const [e] = await fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.end`, { ...body, ...extra })
    return e?.kind === 'ended' ? e.reason : String(e?.kind)
  }
  assert.equal(await end({ disconnectType: 'PEER', alertingDurationMs: 3000 }), 'abandoned')
  assert.equal(
    await end({ disconnectType: 'NO_ANSWER_TRANSFER', alertingDurationMs: 8000 }),
    'not-answered',
    'the alert timed out',
  )
  assert.equal(
    await end({ disconnectType: 'TIMEOUT', alertingDurationMs: 8000 }),
    'ended',
    'a system (dialling) timeout is not a missed ring',
  )
  assert.equal(await end({ disconnectType: 'CLIENT', alertingDurationMs: 2000 }), 'declined')
  assert.equal(await end({ disconnectType: 'TRANSFER', alertingDurationMs: 2000 }), 'transferred')
  assert.equal(await end({ disconnectType: 'CONSULT_TRANSFER', alertingDurationMs: 2000 }), 'transferred')
  assert.equal(await end({ disconnectType: 'FORWARD_TRANSFER', alertingDurationMs: 2000 }), 'transferred')
  assert.equal(
    await end({ disconnectType: 'PEER', interactingDurationMs: 60000 }),
    'answered',
    'time spent interacting: it was answered',
  )
  assert.throws(
    () => readDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { ...body, mediaType: 'COBROWSE' }),
    MalformedEventError,
  )
  assert.throws(
    () => readDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { conversationId: CONV }),
    MalformedEventError,
  )
  assert.deepEqual(
    await fromDetailEvent(`v2.detail.events.conversation.${CONV}.acd.start`, { conversationId: CONV }),
    [],
    'kinds that say nothing of a ring are accepted quietly',
  )
})

test("acd.end: answeredUserId answers that agent's open rings; ABANDON and FLOW_OUT end every open ring", async () => {
  const ring = (userId: string, participantId: string): RingRecord => ({
    conversationId: CONV,
    userId,
    participantId,
    mediaType: 'voice',
    state: 'ringing',
    rungTokens: [],
    cancelledTokens: [],
    offeredAt: T0,
    expiresAt: T0 + 30_000,
  })
  const open = [ring(USER, AGENT_PID), ring('another-agent', 'p-other')]
  const rings = { ...ctx, openRings: (cid: string) => Promise.resolve(open.filter((r) => r.conversationId === cid)) }
  const acdEnd = {
    eventTime: T0 + 4000,
    conversationId: CONV,
    participantId: 'acd-participant',
    sessionId: 's1',
    mediaType: 'VOICE',
    direction: 'INBOUND',
    queueId: QUEUE,
  }
  const topic = `v2.detail.events.conversation.${CONV}.acd.end`
  const summary = (events: RoutingEvent[]): string[] =>
    events.map((e) => `${e.userId}/${e.participantId}:${e.kind === 'ended' ? `ended:${e.reason}` : e.kind}`)
  assert.deepEqual(
    summary(
      await fromDetailEvent(
        topic,
        { ...acdEnd, disconnectType: 'TRANSFER', acdOutcome: 'ANSWERED', answeredUserId: USER },
        rings,
      ),
    ),
    [`${USER}/${AGENT_PID}:answered`],
  )
  assert.deepEqual(
    summary(await fromDetailEvent(topic, { ...acdEnd, disconnectType: 'PEER', acdOutcome: 'ABANDON' }, rings)),
    [`${USER}/${AGENT_PID}:ended:abandoned`, 'another-agent/p-other:ended:abandoned'],
  )
  assert.deepEqual(
    summary(await fromDetailEvent(topic, { ...acdEnd, disconnectType: 'TRANSFER', acdOutcome: 'FLOW_OUT' }, rings)),
    [`${USER}/${AGENT_PID}:ended:transferred`, 'another-agent/p-other:ended:transferred'],
  )
  assert.deepEqual(
    await fromDetailEvent(topic, { ...acdEnd, disconnectType: 'TRANSFER' }, rings),
    [],
    "the queue's own TRANSFER is no end of a ring",
  )
  const answered = (await fromDetailEvent(topic, { ...acdEnd, acdOutcome: 'ANSWERED', answeredUserId: USER }, rings))[0]
  assert.equal(answered?.occurredAt, T0 + 4000)
})

test('event-stream events: added offers, updated/connected answers, removed ends with its reason, deleted ends every open ring', async () => {
  const open: RingRecord[] = [
    {
      conversationId: 'c1',
      userId: 'u1',
      participantId: 'p1',
      mediaType: 'voice',
      state: 'ringing',
      rungTokens: [],
      cancelledTokens: [],
      offeredAt: T0,
      expiresAt: T0 + 30_000,
    },
  ]
  const g = { ...ctx, openRings: (cid: string) => Promise.resolve(open.filter((r) => r.conversationId === cid)) }
  const data = {
    queueId: 'q1',
    memberId: 'u1',
    memberType: 'user',
    conversationId: 'c1',
    mediaType: 'voice',
    participantId: 'p1',
  }
  const kinds = async (eventType: string, extra: Record<string, unknown> = {}): Promise<string[]> =>
    (await fromEventStreamEvent({ eventType, timestamp: '2026-01-01T09:00:00Z', data: { ...data, ...extra } }, g)).map(
      (e) => (e.kind === 'ended' ? `ended:${e.reason}` : e.kind),
    )
  assert.deepEqual(await kinds('routing.queue.member.added'), ['offer'])
  assert.deepEqual(await kinds('routing.conversation.updated', { status: 'connected' }), ['answered'])
  assert.deepEqual(await kinds('routing.conversation.updated', { status: 'held' }), [])
  assert.deepEqual(await kinds('routing.queue.member.removed'), ['ended:transferred'])
  assert.deepEqual(await kinds('routing.queue.member.removed', { reason: 'timeout' }), ['ended:not-answered'])
  assert.deepEqual(await kinds('routing.conversation.created'), [])
  assert.deepEqual(await kinds('routing.conversation.deleted'), ['ended:abandoned'])
  assert.deepEqual(await kinds('routing.queue.member.added', { memberType: 'group' }), [])
  await assert.rejects(fromEventStreamEvent({ eventType: 'routing.unknown', data }, g), MalformedEventError)
  await assert.rejects(
    fromEventStreamEvent({ eventType: 'routing.queue.member.added', data: { memberId: 'u1' } }, g),
    MalformedEventError,
  )
  assert.equal(mediaTypeOf('webmessaging'), 'message')
  assert.equal(mediaTypeOf('VOICE'), 'voice')
})

test('the webhook source claims each event id once, reads a whole batch before acting, and counts what it cannot read', async () => {
  const claimed = new Set<string>()
  const events: RoutingEvent[] = []
  const source = new WebhookSource({
    onEvent: (e) => void events.push(e),
    logger: silentLogger(),
    claimOnce: (key) => Promise.resolve(claimed.has(key) ? false : (claimed.add(key), true)),
    listOpenRings: () => Promise.resolve([]),
  })
  assert.deepEqual(await source.accept(envelope), { status: 202, accepted: 1, duplicates: 0, events: 1 })
  assert.deepEqual(await source.accept([envelope, { ...envelope, id: 'another' }]), {
    status: 202,
    accepted: 1,
    duplicates: 1,
    events: 1,
  })
  const bad = await source.accept([{ ...envelope, id: 'third' }, { nonsense: true }])
  assert.equal(bad.status, 400)
  assert.ok(!claimed.has('eb:third'), 'a rejected batch claims nothing')
  assert.equal((await source.accept([])).status, 400)
  assert.equal(events.length, 2)
  assert.equal(source.status().rejectedFrames, 2)
})
