import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import type { RingRecord, RoutingEvent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { fromDetailEvent, fromGuideEvent, mediaTypeOf, MalformedEventError } from '../../src/sources/guide-events.js'
import { WebhookSource } from '../../src/sources/webhook.js'
import { AGENT_PID, CONV, QUEUE, USER } from '../fixtures/genesys/snapshots.js'

const T0 = Date.UTC(2026, 0, 1, 9)
const ctx = { source: 'webhook' as const, receivedAt: T0 }

// Fields as in purecloud-platform-client-v2 UserStartDetailEventTopicUserStartEvent (mediaType and
// direction upper case), wrapped the way the EventBridge integration delivers them.
const envelope = JSON.parse(readFileSync(new URL('../fixtures/genesys/eventbridge-user-start.json', import.meta.url), 'utf8')) as {
  id: string
  detail: { topicName: string; eventBody: Record<string, unknown> }
}

test('a real-shaped EventBridge user.start detail event is an offer with caller and queue', () => {
  assert.deepEqual(fromDetailEvent(envelope.detail.topicName, envelope.detail.eventBody, ctx), [
    { kind: 'offer', conversationId: CONV, userId: USER, participantId: AGENT_PID, mediaType: 'voice', queueId: QUEUE, callerDisplay: '+447700900123', occurredAt: 1767258000000, receivedAt: T0, source: 'webhook' },
  ])
})

test('detail events for every media type, outbound starts ignored, ends with their reasons', () => {
  const body = envelope.detail.eventBody
  const start = (mediaType: string): RoutingEvent[] => fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { ...body, mediaType }, ctx)
  assert.deepEqual(['VOICE', 'CALLBACK', 'CHAT', 'MESSAGE', 'EMAIL'].map((m) => start(m)[0]?.mediaType), ['voice', 'callback', 'chat', 'message', 'email'])
  assert.deepEqual(fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { ...body, direction: 'OUTBOUND' }, ctx), [])
  const end = (extra: Record<string, unknown>): string => {
    const [e] = fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.end`, { ...body, ...extra }, ctx)
    return e?.kind === 'ended' ? e.reason : String(e?.kind)
  }
  assert.equal(end({ disconnectType: 'peer', alertingDurationMs: 3000 }), 'abandoned')
  assert.equal(end({ disconnectType: 'timeout', alertingDurationMs: 8000 }), 'not-answered')
  assert.equal(end({ disconnectType: 'client', alertingDurationMs: 2000 }), 'declined')
  assert.equal(end({ disconnectType: 'transfer', alertingDurationMs: 2000 }), 'transferred')
  assert.equal(end({ disconnectType: 'peer', interactingDurationMs: 60000 }), 'ended')
  assert.throws(() => fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { ...body, mediaType: 'COBROWSE' }, ctx), MalformedEventError)
  assert.throws(() => fromDetailEvent(`v2.detail.events.conversation.${CONV}.user.start`, { conversationId: CONV }, ctx), MalformedEventError)
})

test("the guide's events: added offers, updated/connected answers, removed ends with its reason, deleted ends every open ring", async () => {
  const open: RingRecord[] = [{ conversationId: 'c1', userId: 'u1', participantId: 'p1', mediaType: 'voice', state: 'ringing', rungTokens: [], cancelledTokens: [], offeredAt: T0, expiresAt: T0 + 30_000 }]
  const g = { ...ctx, openRings: (cid: string) => Promise.resolve(open.filter((r) => r.conversationId === cid)) }
  const data = { queueId: 'q1', memberId: 'u1', memberType: 'user', conversationId: 'c1', mediaType: 'voice', participantId: 'p1' }
  const kinds = async (eventType: string, extra: Record<string, unknown> = {}): Promise<string[]> =>
    (await fromGuideEvent({ eventType, timestamp: '2026-01-01T09:00:00Z', data: { ...data, ...extra } }, g)).map((e) => (e.kind === 'ended' ? `ended:${e.reason}` : e.kind))
  assert.deepEqual(await kinds('routing.queue.member.added'), ['offer'])
  assert.deepEqual(await kinds('routing.conversation.updated', { status: 'connected' }), ['answered'])
  assert.deepEqual(await kinds('routing.conversation.updated', { status: 'held' }), [])
  assert.deepEqual(await kinds('routing.queue.member.removed'), ['ended:transferred'])
  assert.deepEqual(await kinds('routing.queue.member.removed', { reason: 'timeout' }), ['ended:not-answered'])
  assert.deepEqual(await kinds('routing.conversation.created'), [])
  assert.deepEqual(await kinds('routing.conversation.deleted'), ['ended:abandoned'])
  assert.deepEqual(await kinds('routing.queue.member.added', { memberType: 'group' }), [])
  await assert.rejects(fromGuideEvent({ eventType: 'routing.unknown', data }, g), MalformedEventError)
  await assert.rejects(fromGuideEvent({ eventType: 'routing.queue.member.added', data: { memberId: 'u1' } }, g), MalformedEventError)
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
  assert.deepEqual(await source.accept([envelope, { ...envelope, id: 'another' }]), { status: 202, accepted: 1, duplicates: 1, events: 1 })
  const bad = await source.accept([{ ...envelope, id: 'third' }, { nonsense: true }])
  assert.equal(bad.status, 400)
  assert.ok(!claimed.has('eb:third'), 'a rejected batch claims nothing')
  assert.equal((await source.accept([])).status, 400)
  assert.equal(events.length, 2)
  assert.equal(source.status().rejectedFrames, 2)
})
