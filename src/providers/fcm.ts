// FCM HTTP v1 provider: POST /v1/projects/{project}/messages:send with an OAuth 2.0 access token
// from the service-account key (Firebase "Migrate from legacy FCM APIs to HTTP v1"). It speaks
// the protocol and classifies the answer; the dispatcher owns retries and token deletion.
import { rootCertificates } from 'node:tls'
import { Agent, request } from 'undici'
import { systemClock, type Clock } from '../clock.js'
import { tokenPrefix, type Logger } from '../observability/logger.js'
import { FCM_SCOPE, GoogleAccessTokenSource, GoogleAuthError, type GoogleServiceAccountKey } from './google-auth.js'
import type { FcmSend, PushProvider, SendResult } from './provider.js'

export interface FcmProviderOptions {
  serviceAccount: GoogleServiceAccountKey
  /** FCM_URL override; default https://fcm.googleapis.com. */
  url?: string
  /** An extra CA to trust (tests' sandbox); the public roots stay trusted and checks stay on. */
  ca?: string
  clock?: Clock
  logger: Logger
  requestTimeoutMs?: number
  /** Connections per origin; each HTTP/2 connection multiplexes up to 100 streams. */
  connections?: number
  /** Negotiate HTTP/2 (default). false forces HTTP/1.1 keep-alive, for comparison. */
  http2?: boolean
}

const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError'
const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest'
// "QUOTA_EXCEEDED … use exponential backoff with a minimum initial delay of 1 minute" (FCM error codes).
const QUOTA_MIN_BACKOFF_MS = 60_000

interface GoogleError {
  status?: string
  message: string
  errorCode?: string
  violations: Array<{ field?: string; description?: string }>
}

/** Reads `{error: {code, message, status, details}}`; tolerant of bodies that are not Google's. */
export function parseGoogleError(body: unknown): GoogleError {
  const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined
  if (typeof error !== 'object' || error === null) return { message: '', violations: [] }
  const e = error as { message?: unknown; status?: unknown; details?: unknown }
  const out: GoogleError = { message: typeof e.message === 'string' ? e.message : '', violations: [] }
  if (typeof e.status === 'string') out.status = e.status
  for (const d of Array.isArray(e.details) ? (e.details as unknown[]) : []) {
    if (typeof d !== 'object' || d === null) continue
    const detail = d as Record<string, unknown>
    if (detail['@type'] === FCM_ERROR_TYPE && typeof detail.errorCode === 'string') out.errorCode = detail.errorCode
    if (detail['@type'] === BAD_REQUEST_TYPE && Array.isArray(detail.fieldViolations)) {
      out.violations.push(...(detail.fieldViolations as GoogleError['violations']))
    }
  }
  return out
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value
  if (!v) return undefined
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

// INVALID_ARGUMENT covers both a bad token and a bad payload; only the former may delete a token.
function aboutTheToken(e: GoogleError): boolean {
  if (e.violations.some((v) => v.field === 'message.token')) return true
  return /registration token is not a valid FCM registration token/i.test(e.message)
}

/**
 * One table from HTTP answer to outcome, per https://firebase.google.com/docs/cloud-messaging/error-codes
 * and https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode:
 *
 * | HTTP | FcmError errorCode        | outcome                                                       |
 * |------|---------------------------|---------------------------------------------------------------|
 * | 200  | —                         | delivered, providerId = `name`                                 |
 * | 404  | UNREGISTERED              | invalid-token (app uninstalled or token expired)               |
 * | 400  | INVALID_ARGUMENT, token   | invalid-token ("not a valid FCM registration token", message.token) |
 * | 400  | anything else             | failed: our payload is wrong, never a reason to drop a token   |
 * | 403  | SENDER_ID_MISMATCH        | invalid-token (registered to another sender)                   |
 * | 403  | none (PERMISSION_DENIED)  | failed, config: the key may not send for this project          |
 * | 401  | THIRD_PARTY_AUTH_ERROR    | failed, config: APNs cert / Web Push key in Firebase is wrong  |
 * | 401  | none (UNAUTHENTICATED)    | 'reauth' → new access token, send once more; then failed, config |
 * | 429  | QUOTA_EXCEEDED            | retry after Retry-After, else ≥ 60 s                           |
 * | 5xx  | INTERNAL / UNAVAILABLE    | retry after Retry-After (dispatcher backs off when absent)     |
 * | 404  | none                      | failed, config: wrong URL or project                           |
 */
export function classifyFcmAnswer(status: number, body: unknown, retryAfterMs: number | undefined): SendResult | 'reauth' {
  if (status === 200) {
    const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined
    return typeof name === 'string' ? { kind: 'delivered', providerId: name, status } : { kind: 'delivered', status }
  }
  const e = parseGoogleError(body)
  const code = e.errorCode ?? e.status ?? `HTTP ${status}`
  const reason = e.message ? `${code}: ${e.message}` : code
  const retry = (): SendResult => (retryAfterMs === undefined ? { kind: 'retry', reason, status } : { kind: 'retry', reason, status, retryAfterMs })

  if (e.errorCode === 'UNREGISTERED' || e.errorCode === 'SENDER_ID_MISMATCH') return { kind: 'invalid-token', reason, status }
  if (status === 400) return aboutTheToken(e) ? { kind: 'invalid-token', reason, status } : { kind: 'failed', reason, status }
  if (e.errorCode === 'THIRD_PARTY_AUTH_ERROR') return { kind: 'failed', reason, status, config: true }
  if (status === 401) return 'reauth'
  if (status === 429 || e.errorCode === 'QUOTA_EXCEEDED') {
    return { kind: 'retry', reason, status, retryAfterMs: retryAfterMs ?? QUOTA_MIN_BACKOFF_MS }
  }
  if (status >= 500) return retry()
  if (status === 403 || status === 404) return { kind: 'failed', reason, status, config: true }
  return { kind: 'failed', reason, status }
}

export function createFcmProvider(o: FcmProviderOptions): PushProvider<FcmSend> {
  const clock = o.clock ?? systemClock
  const timeout = o.requestTimeoutMs ?? 10_000
  const base = (o.url ?? 'https://fcm.googleapis.com').replace(/\/+$/, '')
  const endpoint = `${base}/v1/projects/${encodeURIComponent(o.serviceAccount.project_id)}/messages:send`
  const http2 = o.http2 ?? true
  const dispatcher = new Agent({
    // FCM serves HTTP/2; streams multiplex on a few connections instead of one socket per request.
    allowH2: http2,
    // undici caps requests in flight per connection by `pipelining` (default 1) even over HTTP/2;
    // without raising it to the stream limit each HTTP/2 connection carries one send at a time.
    pipelining: http2 ? 100 : 1,
    connections: o.connections ?? 4,
    keepAliveTimeout: 60_000,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    connect: o.ca ? { ca: [...rootCertificates, o.ca] } : {},
  })
  const auth = new GoogleAccessTokenSource({
    key: o.serviceAccount,
    scope: FCM_SCOPE,
    dispatcher,
    clock,
    logger: o.logger,
  })
  const log = o.logger

  async function post(body: string, accessToken: string, signal?: AbortSignal): Promise<{ status: number; json: unknown; retryAfterMs?: number }> {
    const res = await request(endpoint, {
      method: 'POST',
      // undici sends a POST only on an idle connection (it could not be replayed if a stream
      // beside it broke), which serialises HTTP/2. A send that dies with its connection comes
      // back as 'retry' and a duplicate is collapsed by collapse_key, so multiplexing is safe.
      idempotent: true,
      dispatcher,
      signal,
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json; charset=UTF-8' },
      body,
    })
    const text = await res.body.text()
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], clock.now())
    return retryAfterMs === undefined ? { status: res.statusCode, json } : { status: res.statusCode, json, retryAfterMs }
  }

  async function sendOnce(msg: FcmSend, signal?: AbortSignal): Promise<SendResult> {
    const body = JSON.stringify({ message: msg.message })
    for (let attempt = 0; ; attempt++) {
      const accessToken = await auth.get(signal)
      const answer = await post(body, accessToken, signal)
      const outcome = classifyFcmAnswer(answer.status, answer.json, answer.retryAfterMs)
      if (outcome !== 'reauth') return outcome
      auth.invalidate(accessToken)
      if (attempt > 0) {
        const e = parseGoogleError(answer.json)
        return { kind: 'failed', reason: `UNAUTHENTICATED after a new access token: ${e.message}`, status: 401, config: true }
      }
    }
  }

  return {
    name: 'fcm',
    async send(msg, signal) {
      let result: SendResult
      try {
        result = await sendOnce(msg, signal)
      } catch (err) {
        result = errorOutcome(err, signal)
      }
      if (result.kind !== 'delivered') {
        const level = result.kind === 'failed' && result.config ? 'error' : 'info'
        log[level]({ provider: 'fcm', tokenPrefix: tokenPrefix(msg.message.token), result: result.kind, status: result.status, reason: result.reason }, 'fcm send not delivered')
      }
      return result
    },
    async warm() {
      // The first push would otherwise pay for the OAuth token (a JWT signature and a round trip
      // to token_uri) and the TLS + HTTP/2 handshakes: ~100 ms instead of a few.
      try {
        await auth.get()
        // Any request opens the pooled connection; Google answers 404 to GET /, which is fine.
        const res = await request(`${base}/`, { method: 'GET', dispatcher })
        await res.body.dump()
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'fcm: warm-up failed; the first push will connect')
      }
    },
    async close() {
      await dispatcher.close()
    },
  }
}

function errorOutcome(err: unknown, signal: AbortSignal | undefined): SendResult {
  if (signal?.aborted) return { kind: 'failed', reason: 'aborted: the ring is over' }
  if (err instanceof GoogleAuthError) {
    return err.retryable
      ? { kind: 'retry', reason: err.message, ...(err.status ? { status: err.status } : {}) }
      : { kind: 'failed', reason: err.message, config: true, ...(err.status ? { status: err.status } : {}) }
  }
  // Network failures, TLS errors, UND_ERR_*_TIMEOUT: the message may or may not have gone out;
  // a retry can duplicate it, which collapse_key and the ring's dedup make harmless.
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : 'error'
  return { kind: 'retry', reason: `${code}: ${(err as Error)?.message ?? String(err)}` }
}
