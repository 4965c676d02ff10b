// The provider seam (Sygnal's pushkins, typed). A provider speaks one push protocol and
// classifies the answer; the dispatcher owns retries, back-off, and deleting dead tokens.

import type { ProviderName, SendResult } from '../outcomes.js'

// Part of the seam every provider implements; defined on the ground floor for the reports that carry them.
export type { ProviderName, SendResult }

/**
 * The caller's deadline passed while the push was waiting or in flight (the ring is over). Every
 * provider answers it alike: retryable in kind, so the dispatcher's own expiry check ends the push
 * as 'expired', never as a failure of the push service.
 */
export function abortedByDeadline(): SendResult {
  return { kind: 'retry', reason: 'aborted by the caller (deadline)' }
}

/** An APNs request: the provider adds the provider token and the HTTP/2 framing. */
export interface ApnsMessage {
  provider: 'apns'
  token: string
  environment: 'production' | 'sandbox'
  /** apns-topic: the bundle id, or `<bundle>.voip` for PushKit. */
  topic: string
  pushType: 'voip' | 'alert' | 'background'
  priority: 10 | 5 | 1
  /** apns-expiration, epoch seconds; 0 = deliver now or never. */
  expiration: number
  /** apns-collapse-id, at most 64 bytes. */
  collapseId?: string
  /** The JSON body: `aps` plus custom keys beside it. */
  payload: Record<string, unknown>
}

/** The `message` object of an FCM HTTP v1 `messages:send` request. */
export interface FcmMessage {
  token: string
  data?: Record<string, string>
  android?: {
    priority?: 'HIGH' | 'NORMAL'
    /** Duration string, e.g. "30s". */
    ttl?: string
    collapse_key?: string
  }
}

export interface FcmSend {
  provider: 'fcm'
  message: FcmMessage
}

/** A Web Push message (RFC 8030): the provider encrypts `payload` for the subscription (RFC 8291). */
export interface WebPushSend {
  provider: 'webpush'
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } }
  /** The JSON the service worker receives (same keys as FCM data). */
  payload: Record<string, string>
  /** TTL header, seconds: the push service drops the message after it. */
  ttlSeconds: number
  urgency: 'very-low' | 'low' | 'normal' | 'high'
  /** Topic header (≤ 32 URL-safe base64 chars): a pending message with the same topic is replaced. */
  topic?: string
}

export type PushMessage = ApnsMessage | FcmSend | WebPushSend

/** What a provider's log lines about one push name besides the device (passed, not carried by async context). */
export interface SendContext {
  conversationId?: string
}

export interface PushProvider<M extends PushMessage = PushMessage> {
  readonly name: ProviderName
  send(msg: M, signal?: AbortSignal, context?: SendContext): Promise<SendResult>
  /** Opens connections and fetches credentials ahead of the first push (best effort, never throws). */
  warm?(): Promise<void>
  close(): Promise<void>
}
