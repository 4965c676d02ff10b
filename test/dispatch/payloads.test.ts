import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { PushIntent, PushTarget } from '../../src/model.js'
import { buildMessage, type PayloadOptions } from '../../src/dispatch/payloads.js'
import type { ApnsMessage, FcmSend } from '../../src/providers/provider.js'

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0)
const options: PayloadOptions = { apnsTopic: 'com.example.agent', apnsEnvironment: 'production', redactCaller: false }
const ring = {
  conversationId: '6f4e2c1a-1111-4222-8333-944455556666',
  userId: 'u-1',
  participantId: 'p-1',
  mediaType: 'voice' as const,
  offeredAt: NOW,
  callerDisplay: '+15550199888',
  queueName: 'Sales Support',
}
const intent = (action: 'ring' | 'cancel', targets: PushTarget[], extra: Partial<PushIntent> = {}): PushIntent => ({
  action,
  ring,
  targets,
  expiresAt: NOW + 30_000,
  ...extra,
})
const ios = (via: 'voip' | 'alert'): PushTarget => ({
  via,
  device: { userId: 'u-1', platform: 'ios', token: 'ab'.repeat(32), pushType: via, registeredAt: NOW },
})
const android: PushTarget = {
  via: 'data',
  device: { userId: 'u-1', platform: 'android', token: 'fcm:token', registeredAt: NOW },
}

test('a call to a PushKit token is a VoIP push to <bundle>.voip with custom keys beside aps', () => {
  const t = ios('voip')
  const m = buildMessage(intent('ring', [t]), t, options, NOW) as ApnsMessage
  assert.equal(m.pushType, 'voip')
  assert.equal(m.topic, 'com.example.agent.voip')
  assert.equal(m.priority, 10)
  assert.equal(m.expiration, Math.floor((NOW + 30_000) / 1000))
  assert.equal(m.collapseId, ring.conversationId)
  assert.deepEqual(m.payload.aps, {})
  assert.equal(m.payload.genesys_conversation_id, ring.conversationId)
  assert.equal(m.payload.action, 'ring')
})

test('an alert ring puts sound and category in aps and nothing custom inside aps', () => {
  const t = ios('alert')
  const m = buildMessage(intent('ring', [t]), t, options, NOW) as ApnsMessage
  const aps = m.payload.aps as Record<string, unknown>
  assert.equal(m.pushType, 'alert')
  assert.equal(m.topic, 'com.example.agent')
  assert.equal(aps.sound, 'default')
  assert.equal(aps.category, 'INCOMING_CALL')
  assert.equal(aps['interruption-level'], 'time-sensitive')
  assert.deepEqual(aps.alert, { title: 'Incoming call', body: 'From: +15550199888 | Queue: Sales Support' })
  assert.equal('custom' in aps, false)
  assert.equal('content-available' in aps, false, 'an alert must not be a silent push')
  assert.equal(m.payload.media_type, 'voice')
})

test('a cancel on an alert token is CALL_CANCEL with action cancel_ring, content-available and a visible text', () => {
  const t = ios('alert')
  const m = buildMessage(intent('cancel', [t], { reason: 'abandoned' }), t, options, NOW) as ApnsMessage
  const aps = m.payload.aps as Record<string, unknown>
  assert.equal(m.pushType, 'alert')
  assert.equal(m.priority, 10)
  assert.equal(aps['content-available'], 1, 'without it a backgrounded app never runs to end its CallKit call')
  assert.deepEqual(
    aps.alert,
    { title: 'Missed call from +15550199888', body: 'The customer hung up.' },
    'what a killed app leaves on the lock screen',
  )
  assert.equal('sound' in aps, false)
  assert.equal(aps.category, 'CALL_CANCEL')
  assert.equal(m.payload.action, 'cancel_ring')
  assert.equal(m.payload.reason, 'abandoned')
})

test('Android gets a data-only high-priority message, every value a string, ttl = the ring left', () => {
  const m = buildMessage(intent('ring', [android]), android, options, NOW + 10_000) as FcmSend
  assert.equal(m.message.android?.priority, 'HIGH')
  assert.equal(m.message.android?.ttl, '20s')
  assert.equal(m.message.android?.collapse_key, ring.conversationId)
  assert.equal('notification' in m.message, false)
  for (const [k, v] of Object.entries(m.message.data ?? {})) assert.equal(typeof v, 'string', k)
  assert.equal(m.message.data?.action, 'ring')
})

test('the caller can be redacted', () => {
  const m = buildMessage(intent('ring', [android]), android, { ...options, redactCaller: true }, NOW) as FcmSend
  assert.equal(m.message.data?.caller, undefined)
  assert.doesNotMatch(JSON.stringify(m), /15550199888/)
})
