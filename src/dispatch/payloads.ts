// Builds the provider message for one device. The rules are Apple's, Google's and RFC 8030's, not
// those of the design guide the gateway started from, where they differ (docs/PLATFORMS.md lists where):
// - APNs: custom keys stand beside `aps`, never inside it ("APNs ignores custom keys" in aps);
//   `sound` is a key of `aps`; expiration = end of the ring so a stale ring is never delivered;
//   collapse-id = conversation id so a cancel replaces the ring's notification; an alert cancel
//   carries content-available so a backgrounded app can end its CallKit call.
// - FCM v1: data-only message (high priority wakes the app only for data messages that lead to a
//   visible notification), every data value a string, android.ttl = ring lifetime.
// - Web Push (RFC 8030): the same keys as JSON for the service worker, Urgency high, TTL = ring
//   lifetime, Topic derived from the conversation so a cancel replaces an undelivered ring.
import { createHash } from 'node:crypto'
import type { PushAction, PushIntent, PushTarget, RingContext } from '../model.js'
import type { ApnsMessage, FcmSend, PushMessage, WebPushSend } from '../providers/provider.js'
import { cancelText, ringText, type TemplateOptions } from './templates.js'

export interface PayloadOptions extends TemplateOptions {
  /** The iOS app's bundle id (APNS_TOPIC). */
  apnsTopic?: string
  apnsEnvironment: 'production' | 'sandbox'
}

export const RING_CATEGORY = 'INCOMING_CALL'
export const CANCEL_CATEGORY = 'CALL_CANCEL'
const ACTION: Record<PushAction, string> = { ring: 'ring', cancel: 'cancel_ring' }

// Apple: apns-collapse-id must not exceed 64 bytes. Genesys conversation ids are UUIDs (36 bytes).
const MAX_COLLAPSE_ID_BYTES = 64

function collapseId(ring: RingContext): string | undefined {
  return Buffer.byteLength(ring.conversationId) <= MAX_COLLAPSE_ID_BYTES ? ring.conversationId : undefined
}

/** The keys the app reads, the same on every platform. */
function customKeys(intent: PushIntent, options: PayloadOptions): Record<string, string> {
  const { ring } = intent
  const keys: Record<string, string> = {
    action: ACTION[intent.action],
    genesys_conversation_id: ring.conversationId,
    genesys_user_id: ring.userId,
    genesys_participant_id: ring.participantId,
    media_type: ring.mediaType,
    timestamp: new Date(ring.offeredAt).toISOString(),
    expires_at: new Date(intent.expiresAt).toISOString(),
  }
  if (ring.queueId) keys.queue_id = ring.queueId
  if (ring.queueName) keys.queue_name = ring.queueName
  if (ring.callerDisplay && !options.redactCaller) keys.caller = ring.callerDisplay
  if (intent.reason) keys.reason = intent.reason
  return keys
}

function apnsMessage(intent: PushIntent, target: PushTarget, options: PayloadOptions): ApnsMessage | undefined {
  if (!options.apnsTopic) return undefined
  const { ring } = intent
  const text = intent.action === 'ring' ? ringText(ring, options) : cancelText(ring, intent.reason, options)
  const custom = customKeys(intent, options)
  const expiration = Math.floor(intent.expiresAt / 1000)
  const environment = target.device.environment ?? options.apnsEnvironment
  const topic = target.device.appId ?? options.apnsTopic
  const cid = collapseId(ring)
  if (target.via === 'voip') {
    // PushKit: the app must report a call to CallKit for every VoIP push, cancels included;
    // the payload is data for the app, no visible alert of its own.
    return {
      provider: 'apns',
      token: target.device.token,
      environment,
      topic: `${topic}.voip`,
      pushType: 'voip',
      priority: 10,
      expiration,
      ...(cid ? { collapseId: cid } : {}),
      payload: { aps: {}, ...custom, title: text.title, body: text.body },
    }
  }
  const aps: Record<string, unknown> =
    intent.action === 'ring'
      ? {
          alert: text,
          sound: 'default',
          category: RING_CATEGORY,
          'interruption-level': 'time-sensitive',
          'thread-id': ring.conversationId,
        }
      : // content-available: the only way an alert reaches app code while the app is in the
        // background, where it ends the CallKit call; the text is what a killed app's phone shows.
        {
          alert: text,
          'content-available': 1,
          category: CANCEL_CATEGORY,
          'interruption-level': 'passive',
          'thread-id': ring.conversationId,
        }
  return {
    provider: 'apns',
    token: target.device.token,
    environment,
    topic,
    pushType: 'alert',
    priority: 10,
    expiration,
    ...(cid ? { collapseId: cid } : {}),
    payload: { aps, ...custom },
  }
}

/**
 * The custom keys with the notification's title and body, added to the record customKeys() just
 * made rather than spread into a new one: V8 makes spread-and-extend objects far more costly (see
 * outcome() in dispatcher.ts), and this runs for every Android and Web push.
 */
function withText(keys: Record<string, string>, text: { title: string; body: string }): Record<string, string> {
  keys.title = text.title
  keys.body = text.body
  return keys
}

function fcmMessage(intent: PushIntent, target: PushTarget, options: PayloadOptions, now: number): FcmSend {
  const text =
    intent.action === 'ring' ? ringText(intent.ring, options) : cancelText(intent.ring, intent.reason, options)
  // FCM ttl is a duration in seconds; at least 1 s so a just-expiring ring is not sent as "forever".
  const ttlSeconds = Math.max(1, Math.ceil((intent.expiresAt - now) / 1000))
  return {
    provider: 'fcm',
    message: {
      token: target.device.token,
      data: withText(customKeys(intent, options), text),
      android: { priority: 'HIGH', ttl: `${ttlSeconds}s`, collapse_key: intent.ring.conversationId },
    },
  }
}

// RFC 8030 §5.4: a Topic is at most 32 characters of the URL-safe base64 alphabet; a conversation
// id (a UUID with dashes, 36 characters) does not fit, so its hash does (24 bytes → 32 characters).
export function webPushTopic(conversationId: string): string {
  return createHash('sha256').update(conversationId).digest().subarray(0, 24).toString('base64url')
}

function webPushMessage(
  intent: PushIntent,
  target: PushTarget,
  options: PayloadOptions,
  now: number,
): WebPushSend | undefined {
  const subscription = target.device.subscription
  if (!subscription) return undefined
  const text =
    intent.action === 'ring' ? ringText(intent.ring, options) : cancelText(intent.ring, intent.reason, options)
  return {
    provider: 'webpush',
    subscription,
    payload: withText(customKeys(intent, options), text),
    ttlSeconds: Math.max(1, Math.ceil((intent.expiresAt - now) / 1000)),
    urgency: 'high',
    topic: webPushTopic(intent.ring.conversationId),
  }
}

/** The message for one target, or undefined when the platform is not configured. */
export function buildMessage(
  intent: PushIntent,
  target: PushTarget,
  options: PayloadOptions,
  now: number,
): PushMessage | undefined {
  switch (target.device.platform) {
    case 'ios':
      return apnsMessage(intent, target, options)
    case 'android':
      return fcmMessage(intent, target, options, now)
    case 'web':
      return webPushMessage(intent, target, options, now)
  }
}
