import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import type { PushIntent, RoutingEvent } from '../../src/model.js'
import { GatewayMetrics } from '../../src/observability/metrics.js'
import type { SourceStatus } from '../../src/sources/source.js'
import { sample } from './prom.js'
import type { PushOutcome } from '../../src/outcomes.js'

const offer: RoutingEvent = {
  kind: 'offer',
  conversationId: 'c1',
  userId: 'u1',
  participantId: 'p1',
  mediaType: 'voice',
  occurredAt: 0,
  receivedAt: 0,
  receivedAtHr: 1_000,
  source: 'notifications',
}
const intent: PushIntent = {
  action: 'ring',
  ring: { conversationId: 'c1', userId: 'u1', participantId: 'p1', mediaType: 'voice', offeredAt: 0 },
  targets: [{ device: { userId: 'u1', platform: 'android', token: 'x'.repeat(40), registeredAt: 0 }, via: 'data' }],
  expiresAt: 30_000,
  cause: offer,
}
const delivered: PushOutcome = {
  intent,
  target: intent.targets[0]!,
  provider: 'fcm',
  result: { kind: 'delivered' },
  attempts: 1,
  sentAtHr: 1_004,
  answeredAtHr: 1_012,
  pruned: false,
}

function probes(status: Partial<SourceStatus> = {}, storeUp = true) {
  let pings = 0
  return {
    pings: () => pings,
    probes: {
      source: (): SourceStatus => ({
        name: 'notifications',
        connected: true,
        channels: 1,
        topics: 3,
        reconnects: 0,
        rejectedFrames: 0,
        ...status,
      }),
      storeKind: 'memory',
      pingStore: async () => {
        pings++
        if (!storeUp) throw new Error('down')
      },
      countDevices: async () => ({ total: 3, byPlatform: { ios: 2, android: 1 } }),
      inFlight: () => 0,
    },
  }
}

test('two gateways in one process count separately (a registry each, not the global one)', async () => {
  const clock = new FakeClock()
  const a = new GatewayMetrics({ instanceId: 'a', clock, processMetrics: false })
  const b = new GatewayMetrics({ instanceId: 'b', clock, processMetrics: false })
  a.observeEvent(offer)
  a.observeEvent(offer)
  const textA = (await a.exposition()).body
  const textB = (await b.exposition()).body
  assert.equal(
    sample(textA, 'push_gateway_events_received_total', { source: 'notifications', kind: 'offer', instance_id: 'a' }),
    2,
  )
  assert.equal(
    sample(textB, 'push_gateway_events_received_total', { source: 'notifications', kind: 'offer' }),
    undefined,
  )
})

test('a delivered push counts by provider, action and outcome, and times both latencies in seconds', async () => {
  const m = new GatewayMetrics({ instanceId: 'x', clock: new FakeClock(), processMetrics: false })
  m.observeOutcome(delivered)
  m.observeOutcome({ ...delivered, result: { kind: 'invalid-token', reason: 'UNREGISTERED' }, pruned: true })
  m.observeOutcome({ ...delivered, result: { kind: 'expired', reason: 'gave up' }, attempts: 3 })
  const text = (await m.exposition()).body
  assert.equal(sample(text, 'push_gateway_pushes_total', { provider: 'fcm', action: 'ring', outcome: 'delivered' }), 1)
  assert.equal(
    sample(text, 'push_gateway_pushes_total', { provider: 'fcm', action: 'ring', outcome: 'invalid-token' }),
    1,
  )
  assert.equal(sample(text, 'push_gateway_tokens_pruned_total', { provider: 'fcm' }), 1)
  // 12 ms from receipt to the answer: in the 0.025 s bucket, not in the 0.01 s one.
  assert.equal(
    sample(text, 'push_gateway_event_to_push_seconds_bucket', { provider: 'fcm', action: 'ring', le: '0.01' }),
    0,
  )
  assert.equal(
    sample(text, 'push_gateway_event_to_push_seconds_bucket', { provider: 'fcm', action: 'ring', le: '0.025' }),
    1,
  )
  assert.equal(sample(text, 'push_gateway_event_to_push_seconds_count', { provider: 'fcm', action: 'ring' }), 1)
  // The retried push is not a push-service response time: two single-attempt answers, 8 ms each.
  assert.equal(
    sample(text, 'push_gateway_push_service_response_seconds_count', { provider: 'fcm', outcome: 'delivered' }),
    1,
  )
  assert.equal(
    sample(text, 'push_gateway_push_service_response_seconds_sum', { provider: 'fcm', outcome: 'delivered' }),
    0.008,
  )
})

test('scrape-time gauges read the source, lease and store; the store is asked at most once per cache period', async () => {
  const clock = new FakeClock()
  const m = new GatewayMetrics({ instanceId: 'x', clock, processMetrics: false, storeCacheMs: 5_000 })
  const p = probes({ reconnects: 2, lease: { holder: false, holderId: 'other' } })
  m.watch(p.probes)
  let text = (await m.exposition()).body
  assert.equal(sample(text, 'push_gateway_devices', { platform: 'ios' }), 2)
  assert.equal(sample(text, 'push_gateway_devices', { platform: 'web' }), 0)
  assert.equal(sample(text, 'push_gateway_store_up', { store: 'memory' }), 1)
  assert.equal(sample(text, 'push_gateway_source_connected', { source: 'notifications' }), 1)
  assert.equal(sample(text, 'push_gateway_source_reconnects_total', { source: 'notifications' }), 2)
  assert.equal(sample(text, 'push_gateway_lease_holder'), 0)
  text = (await m.exposition()).body
  assert.equal(
    sample(text, 'push_gateway_source_reconnects_total', { source: 'notifications' }),
    2,
    'a counter, not re-added on every scrape',
  )
  assert.equal(p.pings(), 1)
  clock.advance(5_001)
  await m.exposition()
  assert.equal(p.pings(), 2)
})

test('a store that stops answering shows store_up 0 and keeps the last device counts', async () => {
  const clock = new FakeClock()
  const m = new GatewayMetrics({ instanceId: 'x', clock, processMetrics: false, storeCacheMs: 0 })
  const up = probes()
  m.watch(up.probes)
  await m.exposition()
  m.watch(probes({}, false).probes)
  clock.advance(1)
  const text = (await m.exposition()).body
  assert.equal(sample(text, 'push_gateway_store_up', { store: 'memory' }), 0)
  assert.equal(sample(text, 'push_gateway_devices', { platform: 'android' }), 1)
})

test('every metric name follows the Prometheus conventions', async () => {
  const m = new GatewayMetrics({ instanceId: 'x', clock: new FakeClock(), processMetrics: false })
  m.watch(probes().probes)
  const families = (await m.registry.getMetricsAsJSON()).map((f) => ({ name: f.name, type: String(f.type) }))
  assert.ok(families.length >= 15)
  for (const f of families) {
    assert.match(f.name, /^push_gateway_[a-z_]+$/)
    if (f.type === 'counter') assert.match(f.name, /_total$/, f.name)
    if (f.type === 'histogram') assert.match(f.name, /_seconds$/, f.name)
  }
})
