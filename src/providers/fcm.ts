// FCM HTTP v1 provider: POST /v1/projects/{project}/messages:send with an OAuth 2.0 access token
// from the service-account key (Firebase "Migrate from legacy FCM APIs to HTTP v1"). It speaks
// the protocol and classifies the answer; the dispatcher owns retries and token deletion.
import { rootCertificates } from 'node:tls'
import { Agent } from 'undici'
import { systemClock, type Clock } from '../clock.js'
import type { GoogleServiceAccountKey } from '../config.js'
import type { Logger } from '../observability/logger.js'
import { parseRetryAfter } from '../retry-after.js'
import { FCM_SCOPE, GoogleAccessTokenSource, GoogleAuthError } from './google-auth.js'
import { Http2SessionPool, type PushTransportOptions } from './http2-pool.js'
import { abortedByDeadline, type FcmSend, type PushProvider, type SendResult } from './provider.js'

export interface FcmProviderOptions {
  serviceAccount: GoogleServiceAccountKey
  /** FCM_URL override; default https://fcm.googleapis.com. */
  url?: string
  /** An extra CA to trust (tests' sandbox); the public roots stay trusted and checks stay on. */
  ca?: string
  clock?: Clock
  logger: Logger
  requestTimeoutMs?: number
  /** HTTP/2 connections to FCM; each multiplexes as many streams as the server allows. Default 2. */
  sessions?: number
  /** Liveness and connect pacing of the HTTP/2 connections (PUSH_PING_AFTER_MS, PUSH_PING_TIMEOUT_MS). */
  transport?: PushTransportOptions
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
export function classifyFcmAnswer(
  status: number,
  body: unknown,
  retryAfterMs: number | undefined,
): SendResult | 'reauth' {
  if (status === 200) {
    const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined
    return typeof name === 'string' ? { kind: 'delivered', providerId: name, status } : { kind: 'delivered', status }
  }
  const e = parseGoogleError(body)
  const code = e.errorCode ?? e.status ?? `HTTP ${status}`
  const reason = e.message ? `${code}: ${e.message}` : code
  const retry = (): SendResult =>
    retryAfterMs === undefined ? { kind: 'retry', reason, status } : { kind: 'retry', reason, status, retryAfterMs }

  if (e.errorCode === 'UNREGISTERED' || e.errorCode === 'SENDER_ID_MISMATCH')
    return { kind: 'invalid-token', reason, status }
  if (status === 400)
    return aboutTheToken(e) ? { kind: 'invalid-token', reason, status } : { kind: 'failed', reason, status }
  if (e.errorCode === 'THIRD_PARTY_AUTH_ERROR') return { kind: 'failed', reason, status, config: true }
  if (status === 401) return 'reauth'
  if (status === 429 || e.errorCode === 'QUOTA_EXCEEDED') {
    return { kind: 'retry', reason, status, retryAfterMs: retryAfterMs ?? QUOTA_MIN_BACKOFF_MS }
  }
  if (status >= 500) return retry()
  if (status === 403 || status === 404) return { kind: 'failed', reason, status, config: true }
  return { kind: 'failed', reason, status }
}

export function createFcmProvider(options: FcmProviderOptions): PushProvider<FcmSend> {
  const clock = options.clock ?? systemClock
  const timeout = options.requestTimeoutMs ?? 10_000
  const base = (options.url ?? 'https://fcm.googleapis.com').replace(/\/+$/, '')
  const path = `/v1/projects/${encodeURIComponent(options.serviceAccount.project_id)}/messages:send`
  const log = options.logger
  // Sends: FCM serves HTTP/2, so each send is one stream on a few long-lived connections (the pool
  // APNs uses too). undici stays for the OAuth token endpoint, a request every ~55 minutes.
  const pool = new Http2SessionPool(base, {
    ...options.transport,
    size: options.sessions ?? 2,
    logger: log,
    ...(options.ca ? { ca: options.ca } : {}),
  })
  const dispatcher = new Agent({
    keepAliveTimeout: 60_000,
    connect: options.ca ? { ca: [...rootCertificates, options.ca] } : {},
  })
  const auth = new GoogleAccessTokenSource({
    key: options.serviceAccount,
    scope: FCM_SCOPE,
    dispatcher,
    clock,
    logger: log,
  })

  // `Bearer <token>`, built once per access token rather than once per message.
  let authorizationFor = ''
  let authorization = ''

  async function post(
    body: string,
    accessToken: string,
    signal?: AbortSignal,
  ): Promise<{ status: number; json: unknown; retryAfterMs?: number } | SendResult> {
    if (accessToken !== authorizationFor) {
      authorizationFor = accessToken
      authorization = `Bearer ${accessToken}`
    }
    const headers = {
      ':method': 'POST',
      ':path': path,
      authorization,
      'content-type': 'application/json; charset=UTF-8',
    }
    const outcome = await pool.exchange(headers, body, timeout, signal)
    switch (outcome.kind) {
      case 'response': {
        let json: unknown
        try {
          json = outcome.body ? JSON.parse(outcome.body) : undefined
        } catch {
          json = undefined
        }
        const retryAfterMs = parseRetryAfter(outcome.headers['retry-after'], clock.now())
        return retryAfterMs === undefined
          ? { status: outcome.status, json }
          : { status: outcome.status, json, retryAfterMs }
      }
      case 'aborted':
        return abortedByDeadline()
      case 'timeout':
        return { kind: 'retry', reason: `no answer from FCM within ${timeout} ms` }
      // Never processed, or lost with its connection: the message may or may not have gone out;
      // a retry can duplicate it, which collapse_key and the ring's dedup make harmless.
      case 'invalid':
        return { kind: 'failed', reason: `not sent: ${outcome.reason}` }
      case 'refused':
      case 'lost':
        return { kind: 'retry', reason: outcome.reason }
    }
  }

  async function sendOnce(msg: FcmSend, signal?: AbortSignal): Promise<SendResult> {
    const body = JSON.stringify({ message: msg.message })
    for (let attempt = 0; ; attempt++) {
      const accessToken = await auth.get(signal)
      const answer = await post(body, accessToken, signal)
      if ('kind' in answer) return answer
      const outcome = classifyFcmAnswer(answer.status, answer.json, answer.retryAfterMs)
      if (outcome !== 'reauth') return outcome
      auth.invalidate(accessToken)
      if (attempt > 0) {
        const e = parseGoogleError(answer.json)
        return {
          kind: 'failed',
          reason: `UNAUTHENTICATED after a new access token: ${e.message}`,
          status: 401,
          config: true,
        }
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
      // A push that failed is logged once, by the dispatcher, which knows the final outcome.
      return result
    },
    async warm() {
      // The first push would otherwise pay for the OAuth token (a JWT signature and a round trip
      // to token_uri) and the TLS + HTTP/2 handshakes: ~100 ms instead of a few.
      try {
        await Promise.all([auth.get(), pool.warm()])
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'fcm: warm-up failed; the first push will connect')
      }
    },
    async close() {
      await Promise.all([pool.close(), dispatcher.close()])
    },
  }
}

function errorOutcome(err: unknown, signal: AbortSignal | undefined): SendResult {
  if (signal?.aborted) return abortedByDeadline()
  if (err instanceof GoogleAuthError) {
    return err.retryable
      ? { kind: 'retry', reason: err.message, ...(err.status ? { status: err.status } : {}) }
      : { kind: 'failed', reason: err.message, config: true, ...(err.status ? { status: err.status } : {}) }
  }
  // Network failures, TLS errors, UND_ERR_*_TIMEOUT: the message may or may not have gone out;
  // a retry can duplicate it, which collapse_key and the ring's dedup make harmless.
  const code =
    typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : 'error'
  return { kind: 'retry', reason: `${code}: ${(err as Error)?.message ?? String(err)}` }
}
