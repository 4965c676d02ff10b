import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import type { Device, PushIntent, RoutingEvent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { RingEngine } from '../../src/ring/engine.js'
import { createMemoryStore } from '../../src/store/memory.js'
import type { RingDecision } from '../../src/outcomes.js'
import { routingEvent } from '../support/routing-events.js'

const VOIP = 'a'.repeat(64)
const ALERT = 'b'.repeat(64)
const FCM = 'fcm-token-0123456789:APA91bexample'

function setup(o: { ringTimeoutMs?: number; dedupWindowMs?: number } = {}) {
  const clock = new FakeClock()
  const store = createMemoryStore({ clock })
  const intents: PushIntent[] = []
  const decisions: RingDecision[] = []
  const engine = new RingEngine({
    store,
    clock,
    logger: silentLogger(),
    pushes: { dispatch: async (intent) => void intents.push(intent) },
    onDecision: (d) => decisions.push(d),
    ringTimeoutMs: o.ringTimeoutMs ?? 30_000,
    dedupWindowMs: o.dedupWindowMs ?? 5_000,
  })
  const addDevice = (d: Partial<Device> & Pick<Device, 'token' | 'platform'>) =>
    store.upsertDevice({ userId: 'agent-1', registeredAt: clock.now(), ...d })
  const event = (kind: 'offer' | 'answered' | 'ended', extra: Partial<RoutingEvent> = {}): RoutingEvent =>
    routingEvent(clock, kind, extra)
  return { clock, store, engine, intents, decisions, addDevice, event }
}

const tokens = (i: PushIntent | undefined) =>
  (i?.targets ?? []).map((t) => `${t.device.token.slice(0, 4)}:${t.via}`).sort()

test('an offer rings every device of the agent, a call through the PushKit token only', async () => {
  const w = setup()
  await w.addDevice({ platform: 'ios', token: VOIP, pushType: 'voip' })
  await w.addDevice({ platform: 'ios', token: ALERT, pushType: 'alert' })
  await w.addDevice({ platform: 'android', token: FCM })
  await w.engine.handle(w.event('offer'))
  assert.equal(w.intents.length, 1)
  assert.equal(w.intents[0]?.action, 'ring')
  assert.deepEqual(tokens(w.intents[0]), ['aaaa:voip', 'fcm-:data'])
})

test('a chat rings iOS through the alert token, never PushKit', async () => {
  const w = setup()
  await w.addDevice({ platform: 'ios', token: VOIP, pushType: 'voip' })
  await w.addDevice({ platform: 'ios', token: ALERT, pushType: 'alert' })
  await w.engine.handle(w.event('offer', { mediaType: 'chat' }))
  assert.deepEqual(tokens(w.intents[0]), ['bbbb:alert'])
})

test('the same offer seen twice rings once', async () => {
  const w = setup()
  await w.addDevice({ platform: 'android', token: FCM })
  await w.engine.handle(w.event('offer'))
  w.clock.advance(900)
  await w.engine.handle(w.event('offer'))
  assert.equal(w.intents.length, 1)
  assert.deepEqual(
    w.decisions.map((d) => (d.kind === 'suppressed' ? d.reason : d.kind)),
    ['ring', 'duplicate'],
  )
})

test('a re-offer to the same agent (new participant) rings again', async () => {
  const w = setup()
  await w.addDevice({ platform: 'android', token: FCM })
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('ended', { reason: 'not-answered' } as Partial<RoutingEvent>))
  await w.engine.handle(w.event('offer', { participantId: 'part-2' }))
  assert.deepEqual(
    w.intents.map((i) => i.action),
    ['ring', 'cancel', 'ring'],
  )
})

test('offer then abandon handled back to back: ring then cancel to the same devices, in order', async () => {
  const w = setup()
  await w.addDevice({ platform: 'android', token: FCM })
  await w.addDevice({ platform: 'ios', token: ALERT, pushType: 'alert' })
  // Not awaited one by one: the engine must keep the order itself.
  await Promise.all([w.engine.handle(w.event('offer')), w.engine.handle(w.event('ended'))])
  assert.deepEqual(
    w.intents.map((i) => i.action),
    ['ring', 'cancel'],
  )
  assert.deepEqual(tokens(w.intents[1]), tokens(w.intents[0]))
  assert.equal(w.intents[1]?.reason, 'abandoned')
})

test('a rung PushKit token is cancelled through the alert token when the phone has one', async () => {
  const w = setup()
  await w.addDevice({ platform: 'ios', token: VOIP, pushType: 'voip' })
  await w.addDevice({ platform: 'ios', token: ALERT, pushType: 'alert' })
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('answered'))
  assert.deepEqual(tokens(w.intents[1]), ['bbbb:alert'])
  assert.equal(w.intents[1]?.reason, 'answered')
})

test('a device registered while the call rang gets no cancel; one removed meanwhile gets none either', async () => {
  const w = setup()
  await w.addDevice({ platform: 'android', token: FCM })
  await w.addDevice({ platform: 'ios', token: ALERT, pushType: 'alert' })
  await w.engine.handle(w.event('offer'))
  await w.addDevice({ platform: 'android', token: 'fcm-new-phone' })
  await w.engine.handle(w.event('answered'))
  assert.deepEqual(tokens(w.intents[1]), ['bbbb:alert', 'fcm-:data'], 'the devices that rang, not the new one')

  await w.engine.handle(w.event('offer', { conversationId: 'conv-2' }))
  assert.deepEqual(tokens(w.intents[2]), ['bbbb:alert', 'fcm-:data', 'fcm-:data'])
  await w.store.removeDevice('agent-1', ALERT)
  await w.engine.handle(w.event('ended', { conversationId: 'conv-2' }))
  assert.deepEqual(tokens(w.intents[3]), ['fcm-:data', 'fcm-:data'])
  assert.deepEqual(
    w.intents.map((i) => i.action),
    ['ring', 'cancel', 'ring', 'cancel'],
  )
})

test('answered and then ended sends one cancel per device', async () => {
  const w = setup()
  await w.addDevice({ platform: 'android', token: FCM })
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('answered'))
  await w.engine.handle(w.event('ended'))
  assert.deepEqual(
    w.intents.map((i) => i.action),
    ['ring', 'cancel'],
  )
})

test('an end without a ring sends nothing', async () => {
  const w = setup()
  await w.addDevice({ platform: 'android', token: FCM })
  await w.engine.handle(w.event('ended'))
  assert.equal(w.intents.length, 0)
})

test('an agent without devices is not rung', async () => {
  const w = setup()
  await w.engine.handle(w.event('offer'))
  assert.equal(w.intents.length, 0)
  assert.equal(w.decisions[0]?.kind === 'suppressed' && w.decisions[0].reason, 'no-devices')
})

test('a ring nobody ends is cancelled at the ring timeout', async () => {
  const w = setup({ ringTimeoutMs: 30_000 })
  await w.addDevice({ platform: 'android', token: FCM })
  await w.engine.handle(w.event('offer'))
  w.clock.advance(29_000)
  await w.engine.sweep()
  assert.equal(w.intents.length, 1)
  w.clock.advance(1_001)
  await w.engine.sweep()
  assert.deepEqual(
    w.intents.map((i) => i.action),
    ['ring', 'cancel'],
  )
  assert.equal(w.intents[1]?.reason, 'timeout')
  // The ring expires with its timeout: the ring push carries that deadline.
  assert.equal(w.intents[0]?.expiresAt, w.intents[0]!.ring.offeredAt + 30_000)
})
