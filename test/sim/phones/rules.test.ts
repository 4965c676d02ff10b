// The simulated phones follow the platforms' rules, fed the gateway's own payloads: what a locked
// iPhone does with a cancel that lacks content-available, what PushKit does with a chat, what
// Doze does with a normal-priority message.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../../src/clock.js'
import { buildMessage, type PayloadOptions } from '../../../src/dispatch/payloads.js'
import type { Device, PushIntent, PushTarget } from '../../../src/model.js'
import type { ApnsMessage, FcmSend } from '../../../src/providers/provider.js'
import type { AcceptedPush } from '../../../src/sim/apns/index.js'
import type { AcceptedMessage } from '../../../src/sim/fcm/index.js'
import { SimulatedAndroid, SimulatedIPhone, type AppDelivery, type IosAppState } from '../../../src/sim/phones/index.js'

const BUNDLE = 'com.example.agent'
const options: PayloadOptions = { apnsTopic: BUNDLE, apnsEnvironment: 'sandbox', redactCaller: false }
const clock = new FakeClock(Date.UTC(2026, 11, 6, 9, 0, 0))
const ring = {
  conversationId: 'c0ffee00-1111-4222-8333-944455556666',
  userId: 'agent-1',
  participantId: 'p-1',
  mediaType: 'voice' as const,
  offeredAt: clock.now(),
  callerDisplay: '+15550100',
}

function intent(action: 'ring' | 'cancel', extra: Partial<PushIntent> = {}): PushIntent {
  return {
    action,
    ring,
    targets: [],
    expiresAt: clock.now() + 30_000,
    ...(action === 'cancel' ? { reason: 'abandoned' as const } : {}),
    ...extra,
  }
}

/** The push as APNs would hand it over, built by the gateway's payload builder. */
function apns(
  token: string,
  via: 'voip' | 'alert',
  i: PushIntent,
  edit?: (payload: Record<string, unknown>) => void,
): AcceptedPush {
  const device: Device = { userId: 'agent-1', platform: 'ios', token, pushType: via, registeredAt: 0 }
  const m = buildMessage(i, { device, via }, options, clock.now()) as ApnsMessage
  edit?.(m.payload)
  const headers: Record<string, string> = {
    'apns-push-type': m.pushType,
    'apns-topic': m.topic,
    'apns-priority': String(m.priority),
    'apns-expiration': String(m.expiration),
  }
  if (m.collapseId) headers['apns-collapse-id'] = m.collapseId
  return { token, headers, payload: m.payload, apnsId: 'id', receivedAt: clock.now(), hrtime: 0 }
}

function fcm(phone: SimulatedAndroid, i: PushIntent, priority?: 'NORMAL'): AcceptedMessage {
  const target: PushTarget = {
    device: { userId: 'agent-1', platform: 'android', token: phone.token, registeredAt: 0 },
    via: 'data',
  }
  const m = buildMessage(i, target, options, clock.now()) as FcmSend
  const message = m.message as unknown as Record<string, unknown>
  if (priority) (message.android as Record<string, unknown>).priority = priority
  return { projectId: 'p', message, name: 'n', receivedAt: clock.now(), hrtime: 0 }
}

const iphone = (appState: IosAppState): SimulatedIPhone =>
  new SimulatedIPhone({ name: 'iPhone', bundleId: BUNDLE, appState, clock })

for (const appState of ['background', 'killed'] as const) {
  test(`a ${appState} iPhone rung through PushKit: a cancel without content-available leaves CallKit ringing; the gateway's cancel stops it`, () => {
    const old = iphone(appState)
    old.receive(apns(old.voipToken!, 'voip', intent('ring')))
    assert.equal(old.ringing(), true, 'PushKit launched the app and it reported the call')
    assert.equal(old.appState, 'background')
    old.receive(
      apns(
        old.alertToken!,
        'alert',
        intent('cancel'),
        (p) => delete (p.aps as Record<string, unknown>)['content-available'],
      ),
    )
    assert.equal(old.ringing(), true, 'the alert was only shown: no app code ran to end the call')
    assert.equal(old.shown.at(-1)?.title, 'Missed call from +15550100')

    const fixed = iphone(appState)
    fixed.receive(apns(fixed.voipToken!, 'voip', intent('ring')))
    fixed.receive(apns(fixed.alertToken!, 'alert', intent('cancel')))
    assert.equal(fixed.ringing(), false)
    assert.equal(fixed.calls.get(ring.conversationId)?.state, 'ended')
    assert.deepEqual(fixed.violations, [])
  })
}

test('a killed iPad rung by an alert shows the ring; the cancel (same collapse id) replaces it', () => {
  const ipad = new SimulatedIPhone({ name: 'iPad', bundleId: BUNDLE, voip: false, appState: 'killed', clock })
  const seen: AppDelivery[] = []
  ipad.onAppCode((d) => seen.push(d))
  ipad.receive(apns(ipad.alertToken!, 'alert', intent('ring')))
  assert.equal(ipad.ringing(), true)
  ipad.receive(apns(ipad.alertToken!, 'alert', intent('cancel')))
  assert.equal(ipad.ringing(), false)
  assert.deepEqual(
    ipad.shown.map((n) => n.title),
    ['Missed call from +15550100'],
  )
  assert.deepEqual(seen, [], 'a killed app runs no code for an alert')
})

test('a foreground iPhone: the alert is not shown, the app rings on screen and its code hears both pushes', () => {
  const phone = iphone('foreground')
  const seen: AppDelivery[] = []
  phone.onAppCode((d) => seen.push(d))
  phone.receive(apns(phone.alertToken!, 'alert', intent('ring', { ring: { ...ring, mediaType: 'chat' } })))
  assert.equal(phone.ringing(), true)
  assert.deepEqual(phone.shown, [])
  phone.receive(apns(phone.alertToken!, 'alert', intent('cancel', { ring: { ...ring, mediaType: 'chat' } })))
  assert.equal(phone.ringing(), false)
  assert.deepEqual(
    seen.map((d) => [d.channel, d.keys.action]),
    [
      ['apns-alert', 'ring'],
      ['apns-alert', 'cancel_ring'],
    ],
  )
})

test('PushKit: a cancel is reported and ended at once; a chat through PushKit is a violation', () => {
  const phone = new SimulatedIPhone({ name: 'iPhone', bundleId: BUNDLE, alert: false, appState: 'killed', clock })
  phone.receive(apns(phone.voipToken!, 'voip', intent('ring')))
  phone.receive(apns(phone.voipToken!, 'voip', intent('cancel')))
  assert.equal(phone.ringing(), false)
  assert.equal(phone.violations.length, 0)
  phone.receive(
    apns(phone.voipToken!, 'voip', intent('ring', { ring: { ...ring, conversationId: 'chat-1', mediaType: 'chat' } })),
  )
  assert.match(phone.violations.map((v) => v.rule).join('; '), /cannot report as a call/)
})

test('an answered call stays connected when a cancel arrives, and the phone does not ring', () => {
  const phone = iphone('background')
  phone.receive(apns(phone.voipToken!, 'voip', intent('ring')))
  phone.answer(ring.conversationId)
  phone.receive(apns(phone.alertToken!, 'alert', intent('cancel', { reason: 'answered' })))
  assert.equal(phone.calls.get(ring.conversationId)?.state, 'connected')
  assert.equal(phone.ringing(), false)
})

test('a ring past its expires_at no longer rings, cancel or not', () => {
  const phone = iphone('background')
  phone.receive(apns(phone.voipToken!, 'voip', intent('ring', { expiresAt: clock.now() + 1_000 })))
  assert.equal(phone.ringing(), true)
  clock.advance(1_001)
  assert.equal(phone.ringing(), false)
})

test('Android in Doze: a high-priority data message rings at once, a normal one waits for the end of Doze', () => {
  const phone = new SimulatedAndroid({ name: 'Android', doze: true, appState: 'killed', clock })
  phone.receive(fcm(phone, intent('ring', { ring: { ...ring, conversationId: 'normal-1' } }), 'NORMAL'))
  assert.equal(phone.ringing(), false, 'deferred by Doze')
  phone.receive(fcm(phone, intent('ring')))
  assert.deepEqual(phone.ringingConversations(), [ring.conversationId])
  phone.receive(fcm(phone, intent('cancel')))
  assert.equal(phone.ringing(), false)
  phone.setDoze(false)
  assert.deepEqual(phone.ringingConversations(), ['normal-1'], 'delivered in the maintenance window')
})
