// What each APNs answer means for the dispatcher: ONE table, from Apple's
// "Handling notification responses from APNs"
// https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
// (and docs/PLATFORMS.md). A provider only classifies; the dispatcher retries and prunes.
import { parseRetryAfter } from '../retry-after.js'
import type { SendResult } from './provider.js'

type Verdict =
  | { kind: 'invalid-token'; why: string }
  | { kind: 'retry'; why: string }
  | { kind: 'failed'; why: string; config?: boolean }

const ENV_HINT =
  'the token does not belong to this environment/topic: check the device is not sandbox vs production before pruning'

/** Keyed by reason; a reason not listed falls back to its status (FALLBACK). */
const REASONS: Record<string, Verdict> = {
  // 400: the device token is not usable here. Apple: "Verify that the request contains a valid
  // token and that the token matches the environment."
  BadDeviceToken: { kind: 'invalid-token', why: ENV_HINT },
  DeviceTokenNotForTopic: { kind: 'invalid-token', why: ENV_HINT },
  // 400: our configuration (bundle id / topic) is wrong; keep the token, raise an alarm.
  MissingTopic: { kind: 'failed', why: 'apns-topic missing', config: true },
  BadTopic: { kind: 'failed', why: 'apns-topic invalid', config: true },
  TopicDisallowed: { kind: 'failed', why: 'the key may not push to this topic (bundle id)', config: true },
  // 400: APNs closed an idle connection; the request was not handled and can be sent again.
  IdleTimeout: { kind: 'retry', why: 'idle connection closed by APNs' },
  // 403: provider-token authentication. Never a device problem: fix the key, keep the tokens.
  // (ExpiredProviderToken is first answered by renewing the JWT and retrying once, in apns.ts.)
  ExpiredProviderToken: { kind: 'failed', why: 'provider token expired (check the clock)', config: true },
  InvalidProviderToken: {
    kind: 'failed',
    why: 'provider token invalid: key id, team id or .p8 key wrong',
    config: true,
  },
  MissingProviderToken: { kind: 'failed', why: 'no provider token sent', config: true },
  UnrelatedKeyIdInToken: { kind: 'failed', why: 'key id not related to this topic', config: true },
  BadEnvironmentKeyIdInToken: { kind: 'failed', why: 'key not enabled for this environment', config: true },
  BadCertificate: { kind: 'failed', why: 'certificate rejected', config: true },
  BadCertificateEnvironment: { kind: 'failed', why: 'certificate for the other environment', config: true },
  Forbidden: { kind: 'failed', why: 'forbidden', config: true },
  // 404 / 405: a provider bug, not a token or a transient problem.
  BadPath: { kind: 'failed', why: 'bad request path', config: true },
  MethodNotAllowed: { kind: 'failed', why: 'method not allowed', config: true },
  // 410: the token is dead; `timestamp` says since when (the dispatcher keeps a re-registration made later).
  Unregistered: { kind: 'invalid-token', why: 'device token no longer active for the topic' },
  ExpiredToken: { kind: 'invalid-token', why: 'device token expired' },
  // 413: payload over 4 KB (5 KB VoIP); normally caught before sending.
  PayloadTooLarge: { kind: 'failed', why: 'payload too large' },
  // 429: too many pushes to one device token: back off.
  TooManyRequests: { kind: 'retry', why: 'too many requests for this device token' },
  // 429: the JWT was reissued too often on this connection; the current token stays valid.
  TooManyProviderTokenUpdates: { kind: 'retry', why: 'provider token updated too often' },
  // 500 / 503: APNs trouble: back off and retry.
  InternalServerError: { kind: 'retry', why: 'APNs internal error' },
  ServiceUnavailable: { kind: 'retry', why: 'APNs unavailable' },
  Shutdown: { kind: 'retry', why: 'APNs server shutting down' },
}

function fallback(status: number): Verdict {
  if (status === 410) return { kind: 'invalid-token', why: 'device token no longer active' }
  if (status === 403) return { kind: 'failed', why: 'authentication error', config: true }
  if (status === 429 || status >= 500) return { kind: 'retry', why: 'APNs busy or failing' }
  // Other 400s (BadCollapseId, BadExpirationDate, BadMessageId, BadPriority, DuplicateHeaders,
  // InvalidPushType, MissingDeviceToken, PayloadEmpty, ...): a malformed request; resending it
  // unchanged cannot succeed.
  return { kind: 'failed', why: 'request rejected' }
}

export interface ApnsAnswer {
  status: number
  apnsId?: string
  retryAfter?: string
  /** The raw JSON body of an error answer. */
  body: string
}

export function parseApnsBody(body: string): { reason?: string; timestamp?: number } {
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed !== 'object' || parsed === null) return {}
    const { reason, timestamp } = parsed as Record<string, unknown>
    return {
      reason: typeof reason === 'string' ? reason : undefined,
      timestamp:
        typeof timestamp === 'number'
          ? timestamp
          : typeof timestamp === 'string' && /^\d+$/.test(timestamp)
            ? Number(timestamp)
            : undefined,
    }
  } catch {
    return {}
  }
}

export function classifyApnsAnswer(a: ApnsAnswer, now: number): SendResult {
  if (a.status === 200) return { kind: 'delivered', providerId: a.apnsId, status: 200 }
  const { reason, timestamp } = parseApnsBody(a.body)
  const verdict = (reason !== undefined ? REASONS[reason] : undefined) ?? fallback(a.status)
  const text = `${a.status} ${reason ?? 'no reason'}: ${verdict.why}`
  switch (verdict.kind) {
    case 'invalid-token':
      return { kind: 'invalid-token', reason: text, status: a.status, timestamp }
    case 'retry':
      return { kind: 'retry', reason: text, status: a.status, retryAfterMs: parseRetryAfter(a.retryAfter, now) }
    case 'failed':
      return verdict.config
        ? { kind: 'failed', reason: text, status: a.status, config: true }
        : { kind: 'failed', reason: text, status: a.status }
  }
}
