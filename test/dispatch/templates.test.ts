import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildMessage, webPushTopic } from '../../src/dispatch/payloads.js'
import { cancelText, ringText } from '../../src/dispatch/templates.js'
import type { MediaType, PushIntent, RingContext } from '../../src/model.js'
import type { WebPushSend } from '../../src/providers/provider.js'

const ring = (mediaType: MediaType, extra: Partial<RingContext> = {}): RingContext => ({
  conversationId: '6f4e2c1a-1111-4222-8333-944455556666',
  userId: 'u',
  participantId: 'p',
  mediaType,
  offeredAt: 0,
  ...extra,
})

test('each media type has its own title; caller and queue fill the body', () => {
  const cases: Array<[MediaType, string, string]> = [
    ['voice', 'Incoming call', 'From: +15550100 | Queue: Sales'],
    ['callback', 'Callback request', 'For: +15550100 | Queue: Sales'],
    ['chat', 'Incoming chat', 'From: +15550100 | Queue: Sales'],
    ['message', 'Incoming message', 'From: +15550100 | Queue: Sales'],
    ['email', 'Incoming email', 'From: +15550100 | Queue: Sales'],
  ]
  for (const [media, title, body] of cases)
    assert.deepEqual(
      ringText(ring(media, { callerDisplay: '+15550100', queueName: 'Sales' }), { redactCaller: false }),
      { title, body },
    )
})

test('CALLER_DISPLAY=redact leaves the caller out without a dangling label', () => {
  assert.equal(
    ringText(ring('voice', { callerDisplay: '+15550100', queueName: 'Sales' }), { redactCaller: true }).body,
    'Queue: Sales',
  )
  assert.equal(ringText(ring('voice', { callerDisplay: '+15550100' }), { redactCaller: true }).body, 'Tap to answer')
})

test('a template override per media type may use {media}, {caller} and {queue}', () => {
  const text = ringText(ring('chat', { queueName: 'Support' }), {
    redactCaller: false,
    templates: { chat: { title: 'New {media} in {queue}', body: '{caller}' } },
  })
  assert.deepEqual(text, { title: 'New chat in Support', body: 'Tap to answer' })
})

test('cancel texts name the media, the caller (unless redacted) and the reason', () => {
  const show = { redactCaller: false }
  assert.deepEqual(cancelText(ring('voice', { callerDisplay: '+15550100' }), 'answered-on-device', show), {
    title: 'Call answered',
    body: 'Answered on another device.',
  })
  assert.deepEqual(cancelText(ring('voice', { callerDisplay: '+15550100' }), 'abandoned', show), {
    title: 'Missed call from +15550100',
    body: 'The customer hung up.',
  })
  assert.deepEqual(cancelText(ring('voice', { callerDisplay: '+15550100' }), 'abandoned', { redactCaller: true }), {
    title: 'Missed call',
    body: 'The customer hung up.',
  })
  assert.deepEqual(cancelText(ring('chat'), 'timeout', show), {
    title: 'Missed chat',
    body: 'Nobody answered in time.',
  })
})

test('a web device gets the same keys as JSON, Urgency high, TTL = the ring left, a 32-character Topic', () => {
  const endpoint = 'https://push.example.net/push/1'
  const intent: PushIntent = {
    action: 'ring',
    ring: ring('voice', { callerDisplay: '+15550100' }),
    targets: [],
    expiresAt: 30_000,
  }
  const target = {
    via: 'data' as const,
    device: {
      userId: 'u',
      platform: 'web' as const,
      token: endpoint,
      subscription: { endpoint, keys: { p256dh: 'k', auth: 'a' } },
      registeredAt: 0,
    },
  }
  const m = buildMessage(intent, target, { apnsEnvironment: 'production', redactCaller: true }, 5_000) as WebPushSend
  assert.equal(m.provider, 'webpush')
  assert.equal(m.urgency, 'high')
  assert.equal(m.ttlSeconds, 25)
  assert.equal(m.payload.action, 'ring')
  assert.equal(m.payload.caller, undefined, 'redacted')
  assert.equal(m.topic, webPushTopic(intent.ring.conversationId))
  assert.match(m.topic ?? '', /^[A-Za-z0-9_-]{32}$/)
})
