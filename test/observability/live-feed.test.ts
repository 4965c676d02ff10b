// The live feed behind the dashboard: what an operator sees in its table. It keeps the most recent
// items, oldest first, however many came before; a push row carries the latency of each stage.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import type { PushIntent, RoutingEvent } from '../../src/model.js'
import { LiveFeed, type FeedItem } from '../../src/observability/live.js'

const event = (n: number, receivedAtHr?: number): RoutingEvent => ({
  kind: 'offer',
  conversationId: `conv-${n}`,
  userId: 'agent-1',
  participantId: `p-${n}`,
  mediaType: 'voice',
  occurredAt: 0,
  receivedAt: 0,
  ...(receivedAtHr !== undefined ? { receivedAtHr } : {}),
  source: 'notifications',
})

test('the feed holds the most recent items, oldest first, after many more than it keeps', () => {
  const feed = new LiveFeed({ clock: new FakeClock(), keep: 3 })
  const conversations = (items: FeedItem[]): string[] =>
    items.map((i) => ('conversationId' in i ? i.conversationId : '-'))
  assert.deepEqual(feed.recent(), [])
  feed.observeDecision({ kind: 'suppressed', event: event(1), reason: 'duplicate' })
  feed.observeDecision({ kind: 'suppressed', event: event(2), reason: 'duplicate' })
  assert.deepEqual(conversations(feed.recent()), ['conv-1', 'conv-2'])
  for (let n = 3; n <= 10; n++) feed.observeDecision({ kind: 'suppressed', event: event(n), reason: 'duplicate' })
  assert.deepEqual(conversations(feed.recent()), ['conv-8', 'conv-9', 'conv-10'])
  assert.equal(feed.totals.suppressed, 10)
})

test("a push row shows how long its event waited for the decision, the send and the push service's answer", () => {
  const feed = new LiveFeed({ clock: new FakeClock() })
  const intent: PushIntent = {
    action: 'ring',
    ring: { conversationId: 'conv-1', userId: 'agent-1', participantId: 'p-1', mediaType: 'voice', offeredAt: 0 },
    targets: [],
    expiresAt: 0,
    cause: event(1, 1000),
    decidedAtHr: 1002.5,
  }
  feed.observeDecision({ kind: 'ring', event: event(1, 1000), intent })
  feed.observeOutcome({
    intent,
    target: {
      device: { userId: 'agent-1', platform: 'android', token: 'fcm-token-0123456789', registeredAt: 0 },
      via: 'data',
    },
    provider: 'fcm',
    result: { kind: 'delivered' },
    attempts: 1,
    sentAtHr: 1003.5,
    answeredAtHr: 1010,
    pruned: false,
  })
  const [ring, push] = feed.recent()
  assert.equal(ring?.type, 'ring')
  assert.deepEqual(ring?.type === 'ring' && ring.stages, { decideMs: 2.5 })
  assert.equal(push?.type, 'push')
  assert.deepEqual(push?.type === 'push' && push.stages, { decideMs: 2.5, queueMs: 1, serviceMs: 6.5, totalMs: 10 })
  assert.ok(push?.type === 'push' && !push.device.includes('0123456789'), 'a token prefix, never the token')
})
