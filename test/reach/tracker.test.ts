// Device receipts as an admin sees them: every change of a phone's and an agent's state, driven by
// the same calls the gateway makes (a ring pushed, accepted, reported, ended), over the memory store
// with a fake clock, and over real Redis with two trackers standing for two gateway instances.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { FakeClock } from '../../src/clock.js'
import type { Device, PushIntent, RingRecord } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { ReachTracker, type ReachChange } from '../../src/reach/tracker.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { createRedisStore } from '../../src/store/redis.js'
import type { Store } from '../../src/store/store.js'

const iphoneVoip: Device = {
  userId: 'agent-1',
  platform: 'ios',
  token: 'aa'.repeat(32),
  pushType: 'voip',
  environment: 'sandbox',
  deviceId: 'iphone-1',
  registeredAt: 1,
}
const iphoneAlert: Device = {
  userId: 'agent-1',
  platform: 'ios',
  token: 'bb'.repeat(32),
  pushType: 'alert',
  environment: 'sandbox',
  deviceId: 'iphone-1',
  registeredAt: 1,
}
const android: Device = {
  userId: 'agent-1',
  platform: 'android',
  token: 'fcm-token-android-000000000000',
  deviceId: 'pixel-1',
  registeredAt: 1,
}
const otherAgents: Device = {
  userId: 'agent-2',
  platform: 'android',
  token: 'fcm-token-agent-two-0000000000',
  registeredAt: 1,
}

function world(
  store: Store = createMemoryStore({ clock: new FakeClock() }),
  clock = new FakeClock(),
  unreachableAfter = 3,
) {
  const changes: ReachChange[] = []
  const receipts: Array<{ action: string; latencyMs?: number }> = []
  const tracker = new ReachTracker({
    store,
    clock,
    logger: silentLogger(),
    unreachableAfter,
    ttlMs: 3_600_000,
    deliveryTtlMs: 600_000,
    onChange: (c) => changes.push(c),
    onReceipt: (r) => receipts.push(r),
  })
  return { store, clock, tracker, changes, receipts }
}

let conversations = 0
/** One ring of a new conversation to `devices`: decided, then accepted by the push service 20 ms later. */
async function ring(w: ReturnType<typeof world>, devices: Device[]): Promise<RingRecord> {
  const conversationId = `conv-${++conversations}`
  const intent: PushIntent = {
    action: 'ring',
    ring: {
      conversationId,
      userId: 'agent-1',
      participantId: `part-${conversations}`,
      mediaType: 'voice',
      offeredAt: w.clock.now(),
    },
    targets: devices.map((device) => ({
      device,
      via: device.pushType === 'voip' ? 'voip' : device.platform === 'ios' ? 'alert' : 'data',
    })),
    expiresAt: w.clock.now() + 30_000,
  }
  await w.tracker.pushing(intent)
  w.clock.advance(20)
  for (const d of devices) await w.tracker.accepted(intent, d.token, d.platform === 'ios' ? 'apns' : 'fcm')
  return {
    conversationId,
    userId: 'agent-1',
    participantId: intent.ring.participantId,
    mediaType: 'voice',
    state: 'ringing',
    rungTokens: devices.map((d) => d.token),
    cancelledTokens: [],
    offeredAt: 0,
    expiresAt: 0,
  }
}

const report = (w: ReturnType<typeof world>, r: RingRecord, device: Device, action: 'ring' | 'cancel_ring' = 'ring') =>
  w.tracker.receipt({ conversationId: r.conversationId, userId: device.userId, name: 'Ada Agent', device, action })

async function registered(store: Store, devices: Device[]): Promise<void> {
  for (const d of devices) await store.upsertDevice(d)
}

test('a phone that reports its ring is reachable, with the receipt latency from the push service accepting it', async () => {
  const w = world()
  await registered(w.store, [iphoneVoip, iphoneAlert, android])
  assert.equal((await w.tracker.agent('agent-1'))?.state, 'unknown', 'no ring yet')
  const r = await ring(w, [iphoneVoip, android])
  w.clock.advance(180)
  assert.deepEqual(await report(w, r, iphoneVoip), { kind: 'recorded', provider: 'apns', latencyMs: 180 })
  assert.deepEqual(await report(w, r, iphoneVoip), { kind: 'repeat' }, 'a repeat is harmless')
  const view = await w.tracker.agent('agent-1')
  assert.equal(view?.state, 'reachable')
  assert.equal(view?.name, 'Ada Agent')
  const voip = view?.devices.find((d) => d.token === `${iphoneVoip.token.slice(0, 8)}…`)
  assert.deepEqual(
    voip && {
      state: voip.state,
      missedInARow: voip.missedInARow,
      receiptLatencyMs: voip.receiptLatencyMs,
      lastReceiptAt: voip.lastReceiptAt,
    },
    {
      state: 'reachable',
      missedInARow: 0,
      receiptLatencyMs: 180,
      lastReceiptAt: new Date(w.clock.now()).toISOString(),
    },
  )
  assert.equal(
    view?.devices.find((d) => d.token === `${iphoneAlert.token.slice(0, 8)}…`)?.state,
    'reachable',
    "the iPhone's alert token is the same phone",
  )
  assert.equal(view?.devices.find((d) => d.deviceId === 'pixel-1')?.state, 'unknown', 'the Android app never reported')
  assert.deepEqual(
    w.changes.map((c) => `${c.from}→${c.to}`),
    ['unknown→reachable'],
  )
  assert.deepEqual(w.receipts, [
    { userId: 'agent-1', token: iphoneVoip.token, action: 'ring', provider: 'apns', latencyMs: 180 },
  ])
})

test('receipts that do not match a push change nothing: another conversation, another action, another agent', async () => {
  const w = world()
  await registered(w.store, [iphoneVoip, android, otherAgents])
  const r = await ring(w, [iphoneVoip])
  assert.deepEqual(
    await w.tracker.receipt({ conversationId: 'conv-unknown', userId: 'agent-1', device: iphoneVoip, action: 'ring' }),
    { kind: 'no-such-push' },
  )
  assert.deepEqual(await report(w, r, android), { kind: 'no-such-push' }, 'the ring did not go to the Android phone')
  assert.deepEqual(await report(w, r, iphoneVoip, 'cancel_ring'), { kind: 'no-such-push' }, 'no cancel was sent')
  assert.deepEqual(
    await w.tracker.receipt({
      conversationId: r.conversationId,
      userId: 'agent-1',
      device: iphoneVoip,
      action: 'ring',
      participantId: 'another-participant',
    }),
    { kind: 'no-such-push' },
  )
  assert.deepEqual(await report(w, r, otherAgents), { kind: 'no-such-push' })
  assert.equal((await w.tracker.agent('agent-1'))?.state, 'unknown')
  assert.deepEqual(w.changes, [])
})

test('every phone missing UNREACHABLE_AFTER rings in a row makes the agent unreachable; one receipt makes it reachable again', async () => {
  const w = world()
  await registered(w.store, [iphoneVoip, android])
  // Both apps report once, so both are known to report.
  const first = await ring(w, [iphoneVoip, android])
  await report(w, first, iphoneVoip)
  await report(w, first, android)
  await w.tracker.ringEnded(first)
  for (let i = 1; i <= 3; i++) {
    const r = await ring(w, [iphoneVoip, android])
    // The Android phone keeps reporting until the third ring: the agent stays reachable meanwhile.
    if (i < 3) await report(w, r, android)
    await w.tracker.ringEnded(r)
    const view = await w.tracker.agent('agent-1')
    assert.equal(view?.devices.find((d) => d.deviceId === 'iphone-1')?.missedInARow, i)
    assert.equal(view?.state, 'reachable', `after ring ${i} the Android phone still answers`)
  }
  assert.equal((await w.tracker.agent('agent-1'))?.devices.find((d) => d.deviceId === 'iphone-1')?.state, 'unreachable')
  for (let i = 0; i < 2; i++) await w.tracker.ringEnded(await ring(w, [iphoneVoip, android]))
  const view = await w.tracker.agent('agent-1')
  assert.equal(view?.state, 'unreachable')
  assert.deepEqual(view?.devices.map((d) => d.missedInARow).sort(), [3, 5])
  assert.deepEqual(await w.tracker.agents('unreachable').then((a) => a.map((x) => x.userId)), ['agent-1'])
  assert.equal(await w.tracker.unreachableCount(), 1)

  // A late receipt of the last ring: the Android phone works after all.
  const late = await ring(w, [iphoneVoip, android])
  await w.tracker.ringEnded(late)
  await report(w, late, android)
  assert.equal((await w.tracker.agent('agent-1'))?.state, 'reachable')
  assert.deepEqual(
    w.changes.map((c) => `${c.from}→${c.to}`),
    ['unknown→reachable', 'reachable→unreachable', 'unreachable→reachable'],
  )
})

test('an app that never reports stays unknown however many rings it misses; the answering phone counts as received', async () => {
  const w = world()
  await registered(w.store, [iphoneVoip, android])
  for (let i = 0; i < 5; i++) await w.tracker.ringEnded(await ring(w, [iphoneVoip, android]))
  assert.equal((await w.tracker.agent('agent-1'))?.state, 'unknown')
  // Answered on the iPhone: its ring counts as received even without a receipt.
  const r = await ring(w, [iphoneVoip, android])
  await w.tracker.answered({ conversationId: r.conversationId, userId: 'agent-1', tokens: [iphoneVoip.token] })
  await w.tracker.ringEnded(r)
  const view = await w.tracker.agent('agent-1')
  assert.equal(view?.state, 'reachable')
  assert.equal(view?.devices.find((d) => d.deviceId === 'iphone-1')?.missedInARow, 0)
  assert.equal(view?.devices.find((d) => d.deviceId === 'pixel-1')?.state, 'unknown')
})

test('a phone removed from the registry is forgotten: it cannot keep the agent unreachable', async () => {
  const w = world(undefined, undefined, 1)
  await registered(w.store, [iphoneVoip, android])
  const r = await ring(w, [iphoneVoip, android])
  await report(w, r, iphoneVoip)
  await report(w, r, android)
  await w.tracker.ringEnded(await ring(w, [iphoneVoip]))
  await w.tracker.ringEnded(await ring(w, [android]))
  assert.equal((await w.tracker.agent('agent-1'))?.state, 'unreachable')
  await w.store.removePhone('agent-1', 'pixel-1')
  const next = await ring(w, [iphoneVoip])
  await report(w, next, iphoneVoip)
  const view = await w.tracker.agent('agent-1')
  assert.equal(view?.state, 'reachable')
  assert.deepEqual(
    view?.devices.map((d) => d.deviceId),
    ['iphone-1'],
  )
})

test('the state is bounded: after its TTL an agent is unknown again', async () => {
  const clock = new FakeClock()
  const w = world(createMemoryStore({ clock }), clock)
  await registered(w.store, [android])
  const r = await ring(w, [android])
  await report(w, r, android)
  assert.equal((await w.tracker.agent('agent-1'))?.state, 'reachable')
  clock.advance(3_600_001)
  assert.equal((await w.tracker.agent('agent-1'))?.state, 'unknown')
  assert.equal(await w.store.getDelivery(r.conversationId, android.token), undefined, 'delivery records expire too')
})

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

test('two gateway instances on Redis agree: a ring pushed by one, reported to the other, ended by the first', async () => {
  const keyPrefix = `test:reach:${randomUUID()}:`
  const a = world(createRedisStore({ url: REDIS_URL, keyPrefix }), new FakeClock(Date.now()), 2)
  const b = world(createRedisStore({ url: REDIS_URL, keyPrefix }), a.clock, 2)
  try {
    await registered(a.store, [iphoneVoip, android])
    const r = await ring(a, [iphoneVoip, android])
    a.clock.advance(90)
    assert.deepEqual(await report(b, r, android), { kind: 'recorded', provider: 'fcm', latencyMs: 90 })
    assert.deepEqual(await report(a, r, android), { kind: 'repeat' }, 'the other instance knows it was counted')
    await a.tracker.ringEnded(r)
    const [viewA, viewB] = [await a.tracker.agent('agent-1'), await b.tracker.agent('agent-1')]
    assert.deepEqual(viewA, viewB)
    assert.equal(viewA?.state, 'reachable')
    assert.equal(viewA?.devices.find((d) => d.deviceId === 'pixel-1')?.receiptLatencyMs, 90)

    // Misses judged on both instances at once: each is counted, and exactly one instance sees the change.
    const rings = [await ring(a, [android]), await ring(a, [android])]
    await Promise.all([a.tracker.ringEnded(rings[0]!), b.tracker.ringEnded(rings[1]!)])
    assert.equal((await b.tracker.agent('agent-1'))?.devices.find((d) => d.deviceId === 'pixel-1')?.missedInARow, 2)
    assert.equal((await a.tracker.agent('agent-1'))?.state, 'unreachable')
    const seen = [...a.changes, ...b.changes].map((c) => `${c.from}→${c.to}`).sort()
    assert.deepEqual(seen, ['reachable→unreachable', 'unknown→reachable'], 'each change seen once, by one instance')
    assert.deepEqual(await b.tracker.unreachableAgents().then((list) => list.map((x) => x.userId)), ['agent-1'])
  } finally {
    await a.store.close()
    await b.store.close()
    const admin = new Redis(REDIS_URL)
    const keys = await admin.keys(`${keyPrefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
  }
})
