// Phones, not tokens, ring: an agent with an iPhone (PushKit + alert token), an iPad (alert token)
// and an Android phone. Each phone rings once and, if it rang, gets exactly one cancel, on the
// token that can end what is ringing on it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import type { Device, PushIntent, RoutingEvent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { RingEngine } from '../../src/ring/engine.js'
import { groupPhones, selectRingTargets, type IosCallCancel } from '../../src/ring/phones.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { routingEvent } from '../support/routing-events.js'

const IPHONE_VOIP = 'a1'.repeat(32)
const IPHONE_ALERT = 'a2'.repeat(32)
const IPAD_ALERT = 'b2'.repeat(32)
const ANDROID = 'fcm-android-0123456789:APA91bexample'
const NAMES: Record<string, string> = {
  [IPHONE_VOIP]: 'iPhone/voip',
  [IPHONE_ALERT]: 'iPhone/alert',
  [IPAD_ALERT]: 'iPad/alert',
  [ANDROID]: 'Android/data',
}

function setup(o: { iosCallCancel?: IosCallCancel } = {}) {
  const clock = new FakeClock()
  const store = createMemoryStore({ clock })
  const intents: PushIntent[] = []
  const engine = new RingEngine({
    store,
    clock,
    logger: silentLogger(),
    pushes: { dispatch: async (intent) => void intents.push(intent) },
    ringTimeoutMs: 30_000,
    dedupWindowMs: 5_000,
    ...(o.iosCallCancel ? { iosCallCancel: o.iosCallCancel } : {}),
  })
  const add = (d: Partial<Device> & Pick<Device, 'token' | 'platform'>) =>
    store.upsertDevice({ userId: 'agent-1', registeredAt: clock.now(), ...d })
  const event = (kind: 'offer' | 'answered' | 'ended', extra: Partial<RoutingEvent> = {}): RoutingEvent =>
    routingEvent(clock, kind, { callerDisplay: '+15550100', ...extra })
  /** What each push went to, as "<phone>/<token kind>:<transport>". */
  const sent = (action: 'ring' | 'cancel'): string[] =>
    intents
      .filter((i) => i.action === action)
      .flatMap((i) => i.targets.map((t) => `${NAMES[t.device.token] ?? t.device.token.slice(0, 6)}:${t.via}`))
      .sort()
  return { clock, store, engine, intents, add, event, sent }
}

async function iphoneIpadAndroid(w: ReturnType<typeof setup>): Promise<void> {
  await w.add({ platform: 'ios', token: IPHONE_VOIP, pushType: 'voip', deviceId: 'iphone-1' })
  await w.add({ platform: 'ios', token: IPHONE_ALERT, pushType: 'alert', deviceId: 'iphone-1' })
  await w.add({ platform: 'ios', token: IPAD_ALERT, pushType: 'alert', deviceId: 'ipad-1' })
  await w.add({ platform: 'android', token: ANDROID, deviceId: 'android-1' })
}

test('a call rings the iPhone, the iPad and the Android phone once each, the iPad as an alert', async () => {
  const w = setup()
  await iphoneIpadAndroid(w)
  await w.engine.handle(w.event('offer'))
  assert.deepEqual(w.sent('ring'), ['Android/data:data', 'iPad/alert:alert', 'iPhone/voip:voip'])
})

test('an abandon cancels the iPhone on its alert token, the iPad and the Android phone, once each', async () => {
  const w = setup()
  await iphoneIpadAndroid(w)
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('ended', { reason: 'abandoned' } as Partial<RoutingEvent>))
  assert.deepEqual(w.sent('cancel'), ['Android/data:data', 'iPad/alert:alert', 'iPhone/alert:alert'])
  // Genesys repeats the end in its next snapshot: nobody gets a second cancel.
  await w.engine.handle(w.event('ended', { reason: 'abandoned' } as Partial<RoutingEvent>))
  assert.equal(w.sent('cancel').length, 3)
})

test('answered on the iPhone: the iPad and the Android phone are cancelled, the iPhone gets nothing', async () => {
  const w = setup()
  await iphoneIpadAndroid(w)
  await w.engine.handle(w.event('offer'))
  // The app reports the answer with its PushKit token; the gateway silences the whole phone.
  const iphone = groupPhones(await w.store.listDevices('agent-1')).find((p) => p.key === 'id:iphone-1')
  assert.ok(iphone)
  await w.engine.answeredOnDevice({
    conversationId: 'conv-1',
    userId: 'agent-1',
    tokens: iphone.devices.map((d) => d.token),
  })
  await w.engine.handle(w.event('answered'))
  assert.deepEqual(w.sent('cancel'), ['Android/data:data', 'iPad/alert:alert'])
})

test('answered at the desk (Genesys connected, no app report): every phone that rang gets one cancel', async () => {
  const w = setup()
  await iphoneIpadAndroid(w)
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('answered'))
  assert.deepEqual(w.sent('cancel'), ['Android/data:data', 'iPad/alert:alert', 'iPhone/alert:alert'])
  assert.equal(w.intents.at(-1)?.reason, 'answered')
})

test('a chat rings both alert tokens and the Android phone, never PushKit', async () => {
  const w = setup()
  await iphoneIpadAndroid(w)
  await w.engine.handle(w.event('offer', { mediaType: 'chat' }))
  assert.deepEqual(w.sent('ring'), ['Android/data:data', 'iPad/alert:alert', 'iPhone/alert:alert'])
  await w.engine.handle(w.event('ended', { mediaType: 'chat', reason: 'transferred' } as Partial<RoutingEvent>))
  assert.deepEqual(w.sent('cancel'), ['Android/data:data', 'iPad/alert:alert', 'iPhone/alert:alert'])
})

test('an iPhone with only a PushKit token gets its cancel through PushKit', async () => {
  const w = setup()
  await w.add({ platform: 'ios', token: IPHONE_VOIP, pushType: 'voip', deviceId: 'iphone-1' })
  await w.add({ platform: 'ios', token: IPAD_ALERT, pushType: 'alert', deviceId: 'ipad-1' })
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('ended'))
  assert.deepEqual(
    w.sent('cancel'),
    ['iPad/alert:alert', 'iPhone/voip:voip'],
    "the iPad's alert token is not the iPhone's",
  )
})

test('IOS_CALL_CANCEL=voip: a phone rung through PushKit is cancelled through PushKit, even with an alert token', async () => {
  const w = setup({ iosCallCancel: 'voip' })
  await iphoneIpadAndroid(w)
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('ended'))
  assert.deepEqual(w.sent('cancel'), ['Android/data:data', 'iPad/alert:alert', 'iPhone/voip:voip'])
})

test('a phone whose PushKit token was replaced rings once, on the newest token', async () => {
  const w = setup()
  const stale = 'c1'.repeat(32)
  await w.add({ platform: 'ios', token: stale, pushType: 'voip', deviceId: 'iphone-1' })
  w.clock.advance(1_000)
  await w.add({ platform: 'ios', token: IPHONE_VOIP, pushType: 'voip', deviceId: 'iphone-1' })
  await w.engine.handle(w.event('offer'))
  assert.deepEqual(w.sent('ring'), ['iPhone/voip:voip'])
})

test('registrations without a deviceId behave as before phones: iOS tokens are one phone per agent', async () => {
  const w = setup()
  await w.add({ platform: 'ios', token: IPHONE_VOIP, pushType: 'voip' })
  await w.add({ platform: 'ios', token: IPHONE_ALERT, pushType: 'alert' })
  await w.add({ platform: 'ios', token: IPAD_ALERT, pushType: 'alert' })
  await w.add({ platform: 'android', token: ANDROID })
  await w.engine.handle(w.event('offer'))
  assert.deepEqual(
    w.sent('ring'),
    ['Android/data:data', 'iPhone/voip:voip'],
    'a call: PushKit only, the alert tokens stay quiet',
  )
  await w.engine.handle(w.event('ended'))
  assert.deepEqual(
    w.sent('cancel'),
    ['Android/data:data', 'iPad/alert:alert', 'iPhone/alert:alert'],
    "the PushKit ring's cancel goes to each alert token",
  )

  const chat = setup()
  await chat.add({ platform: 'ios', token: IPHONE_VOIP, pushType: 'voip' })
  await chat.add({ platform: 'ios', token: IPHONE_ALERT, pushType: 'alert' })
  await chat.engine.handle(chat.event('offer', { mediaType: 'chat' }))
  assert.deepEqual(chat.sent('ring'), ['iPhone/alert:alert'])

  const onlyVoip = setup()
  await onlyVoip.add({ platform: 'ios', token: IPHONE_VOIP, pushType: 'voip' })
  await onlyVoip.engine.handle(onlyVoip.event('offer'))
  await onlyVoip.engine.handle(onlyVoip.event('ended'))
  assert.deepEqual(onlyVoip.sent('cancel'), ['iPhone/voip:voip'])
})

test('ring selection says why a token stays quiet', () => {
  const device = (token: string, extra: Partial<Device>): Device => ({
    userId: 'agent-1',
    platform: 'ios',
    token,
    registeredAt: 0,
    ...extra,
  })
  const { targets, skipped } = selectRingTargets(
    [
      device(IPHONE_VOIP, { pushType: 'voip', deviceId: 'p' }),
      device(IPHONE_ALERT, { pushType: 'alert', deviceId: 'p' }),
    ],
    'chat',
  )
  assert.deepEqual(
    targets.map((t) => t.device.token),
    [IPHONE_ALERT],
  )
  assert.match(skipped[0]?.reason ?? '', /cannot go through PushKit/)
  const call = selectRingTargets(
    [
      device(IPHONE_VOIP, { pushType: 'voip', deviceId: 'p' }),
      device(IPHONE_ALERT, { pushType: 'alert', deviceId: 'p' }),
    ],
    'voice',
  )
  assert.deepEqual(
    call.targets.map((t) => t.via),
    ['voip'],
  )
  assert.match(call.skipped[0]?.reason ?? '', /rings on another of its tokens/)
})
