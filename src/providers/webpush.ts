// Web Push provider (RFC 8030 delivery, RFC 8291 aes128gcm encryption, RFC 8292 VAPID). The
// `web-push` library encrypts the payload and signs the VAPID JWT; we send the request ourselves
// over a keep-alive undici pool, so connections are reused and the ring's deadline aborts it.
// The provider classifies the answer; the dispatcher retries and prunes.
// Endpoints are user input: each is checked against the push-service allow-list before it is
// contacted, its addresses at connect time (webpush-endpoints.ts), redirects are never followed and
// a push service's response body is never read into a log line or the audit.
import { STATUS_CODES } from 'node:http'
import { rootCertificates } from 'node:tls'
import { Agent, buildConnector, request } from 'undici'
import webpush from 'web-push'
import { systemClock, type Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import { parseRetryAfter } from '../retry-after.js'
import { abortedByDeadline, type PushProvider, type SendResult, type WebPushSend } from './provider.js'
import type { WebPushEndpointPolicy } from './webpush-endpoints.js'

export interface WebPushProviderOptions {
  vapid: { publicKey: string; privateKey: string; subject: string }
  /** An extra CA to trust (the tests' sandbox); the public roots stay trusted. */
  ca?: string
  /** Which endpoints may be contacted (allow-list, and addresses checked at connect time). */
  endpoints: WebPushEndpointPolicy
  clock?: Clock
  logger: Logger
  requestTimeoutMs?: number
}

// RFC 8292 §2: the JWT `exp` must not be more than 24 hours ahead. We sign for 12 h and reuse the
// header per push-service origin (the audience) until an hour before that, instead of signing
// an ES256 JWT for every push.
const VAPID_LIFETIME_S = 12 * 3600
const VAPID_RENEW_BEFORE_S = 3600

/**
 * RFC 8030 answers, as push services use them (Mozilla autopush, FCM web, Apple web push):
 *
 * | HTTP        | meaning                                         | outcome                    |
 * |-------------|-------------------------------------------------|----------------------------|
 * | 201 / 200 / 202 | accepted                                    | delivered                  |
 * | 404 / 410   | the subscription expired or was unsubscribed    | invalid-token (prune)      |
 * | 400         | malformed request (headers, encryption)         | failed                     |
 * | 401 / 403   | VAPID JWT refused / key does not match the subscription's applicationServerKey | failed, config |
 * | 413         | payload too large (4096 bytes, RFC 8030 §7.2)   | failed                     |
 * | 429         | too many requests                               | retry (Retry-After)        |
 * | 5xx         | push service trouble                            | retry                      |
 * | 3xx         | a redirect: never followed (it could point anywhere) | failed                |
 *
 * The reason is the status and its standard phrase only: the body comes from whatever host the
 * endpoint names and is never copied into logs or the audit.
 */
export function classifyWebPushAnswer(status: number, retryAfterMs: number | undefined): SendResult {
  const reason = `HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`
  if (status >= 200 && status < 300) return { kind: 'delivered', status }
  if (status >= 300 && status < 400) return { kind: 'failed', reason: `${reason} (redirects are not followed)`, status }
  if (status === 404 || status === 410) return { kind: 'invalid-token', reason, status }
  if (status === 401 || status === 403) return { kind: 'failed', reason, status, config: true }
  if (status === 429 || status >= 500)
    return retryAfterMs === undefined
      ? { kind: 'retry', reason, status }
      : { kind: 'retry', reason, status, retryAfterMs }
  return { kind: 'failed', reason, status }
}

/**
 * Every connection's addresses pass the policy's lookup, so a host that resolves (or later
 * re-resolves) to a private address is never reached; only the sandbox's own host:port, named in
 * code by tests and the demo, connects without it.
 */
function guardedConnector(endpoints: WebPushEndpointPolicy, ca: string | undefined): buildConnector.connector {
  const tls = ca ? { ca: [...rootCertificates, ca] } : {}
  const strict = buildConnector({ ...tls, lookup: endpoints.lookup })
  const sandbox = buildConnector(tls)
  return (options, callback) => {
    const port = Number(options.port || 443)
    return endpoints.isSandbox(options.hostname, port) ? sandbox(options, callback) : strict(options, callback)
  }
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : 'error'
}

export function createWebPushProvider(options: WebPushProviderOptions): PushProvider<WebPushSend> {
  const clock = options.clock ?? systemClock
  const timeout = options.requestTimeoutMs ?? 10_000
  const dispatcher = new Agent({
    keepAliveTimeout: 60_000,
    connections: 16,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    connect: guardedConnector(options.endpoints, options.ca),
  })
  const vapidByAudience = new Map<string, { authorization: string; renewAt: number }>()

  function vapidAuthorization(endpoint: string): string {
    // RFC 8292 §2: aud is the origin of the push resource.
    const audience = new URL(endpoint).origin
    const nowS = Math.floor(clock.now() / 1000)
    const cached = vapidByAudience.get(audience)
    if (cached && nowS < cached.renewAt) return cached.authorization
    const exp = nowS + VAPID_LIFETIME_S
    const headers = webpush.getVapidHeaders(
      audience,
      options.vapid.subject,
      options.vapid.publicKey,
      options.vapid.privateKey,
      'aes128gcm',
      exp,
    )
    vapidByAudience.set(audience, { authorization: headers.Authorization, renewAt: exp - VAPID_RENEW_BEFORE_S })
    return headers.Authorization
  }

  async function sendOnce(msg: WebPushSend, signal?: AbortSignal): Promise<SendResult> {
    // Checked again at send time: a device stored before the allow-list (or before it was narrowed)
    // is never contacted. Kept, not pruned: the operator may widen the list again.
    const verdict = options.endpoints.check(msg.subscription.endpoint)
    if (!verdict.ok) return { kind: 'failed', reason: `endpoint refused: ${verdict.reason}` }
    const subscription = { endpoint: verdict.endpoint, keys: msg.subscription.keys }
    const details = webpush.generateRequestDetails(subscription, JSON.stringify(msg.payload), {
      // No vapidDetails: we add VAPID ourselves (cached per audience) instead of signing per push.
      headers: { Authorization: vapidAuthorization(subscription.endpoint) },
      TTL: msg.ttlSeconds,
      urgency: msg.urgency,
      contentEncoding: 'aes128gcm',
      ...(msg.topic ? { topic: msg.topic } : {}),
    })
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(details.headers)) if (v !== undefined) headers[k.toLowerCase()] = String(v)
    const res = await request(details.endpoint, {
      method: 'POST',
      dispatcher,
      headers,
      body: details.body ?? undefined,
      ...(signal ? { signal } : {}),
    })
    // Read and thrown away (bounded), so the connection can be reused; never looked at.
    await res.body.dump()
    return classifyWebPushAnswer(res.statusCode, parseRetryAfter(res.headers['retry-after'], clock.now()))
  }

  return {
    name: 'webpush',
    async send(msg, signal) {
      let result: SendResult
      try {
        result = await sendOnce(msg, signal)
      } catch (err) {
        if (signal?.aborted) result = abortedByDeadline()
        else {
          const code = errorCode(err)
          // A subscription the library cannot encrypt for (bad p256dh/auth) can never be delivered.
          if (err instanceof Error && /p256dh|auth|subscription/i.test(err.message) && code === 'error')
            result = { kind: 'invalid-token', reason: err.message }
          // The host resolved to a private address: asking again would only resolve again.
          else if (
            code === 'ERR_WEBPUSH_PRIVATE_ADDRESS' ||
            errorCode((err as { cause?: unknown }).cause) === 'ERR_WEBPUSH_PRIVATE_ADDRESS'
          )
            result = { kind: 'failed', reason: `endpoint refused: ${err instanceof Error ? err.message : String(err)}` }
          else result = { kind: 'retry', reason: `${code}: ${err instanceof Error ? err.message : String(err)}` }
        }
      }
      // A push that failed is logged once, by the dispatcher, which knows the final outcome.
      return result
    },
    async warm() {
      // Nothing to fetch ahead: VAPID is signed locally; connections open per push-service origin.
    },
    async close() {
      await dispatcher.close()
    },
  }
}
