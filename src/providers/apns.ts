// The APNs provider: HTTP/2 to Apple with one shared provider token (JWT), classifying each
// answer with apns-errors.ts. Retries and token pruning belong to the dispatcher; the only
// resends below it are those Apple's protocol makes safe: the pool's (a stream the server never
// processed, or one in flight on a connection found dead) and one request after ExpiredProviderToken.
// Sources: Apple, "Sending notification requests to APNs", "Handling notification responses from
// APNs", "Establishing a token-based connection to APNs".
import { systemClock, type Clock } from '../clock.js'
import { tokenPrefix, type Logger } from '../observability/logger.js'
import {
  abortedByDeadline,
  type ApnsMessage,
  type PushProvider,
  type SendContext,
  type SendResult,
} from './provider.js'
import { classifyApnsAnswer, parseApnsBody } from './apns-errors.js'
import { Http2SessionPool, type PushTransportOptions, type RequestHeaders, type StreamOutcome } from './http2-pool.js'
import { ApnsProviderToken, type ApnsSigningKey } from './apns-token.js'

export const APNS_PRODUCTION_URL = 'https://api.push.apple.com'
export const APNS_SANDBOX_URL = 'https://api.sandbox.push.apple.com'
/** Payload limits in bytes: 4 KB, and 5 KB for VoIP pushes. */
export const APNS_MAX_PAYLOAD = 4096
export const APNS_MAX_VOIP_PAYLOAD = 5120
export const APNS_MAX_COLLAPSE_ID = 64

export interface ApnsProviderOptions {
  key: ApnsSigningKey
  /**
   * Overrides both environments (APNS_URL), e.g. the sandbox server in tests. With one URL for both
   * environments the BadDeviceToken environment check cannot mean anything and is skipped.
   */
  url?: string
  /** Per-environment overrides (tests of the environment check with two sandboxes). */
  urls?: { production: string; sandbox: string }
  /** The environment most devices use (APNS_ENVIRONMENT): warm() connects to it. */
  environment?: 'production' | 'sandbox'
  /** Extra CA to trust (tests); certificate checks stay on. */
  ca?: string
  clock?: Clock
  logger: Logger
  /** Provider-token refresh interval; default 50 min, clamped to Apple's [20, 60) min. */
  tokenRefreshMs?: number
  /** HTTP/2 sessions per origin; default 2. */
  sessionsPerOrigin?: number
  /** Per request, waiting for a connection included; default 10 s. */
  requestTimeoutMs?: number
  /** Liveness and connect pacing of the HTTP/2 connections (PUSH_PING_AFTER_MS, PUSH_PING_TIMEOUT_MS). */
  transport?: PushTransportOptions
}

export function createApnsProvider(options: ApnsProviderOptions): PushProvider<ApnsMessage> {
  return new ApnsProvider(options)
}

class ApnsProvider implements PushProvider<ApnsMessage> {
  readonly name = 'apns' as const
  private readonly pools = new Map<string, Http2SessionPool>()
  private poolByEnvironment: Partial<Record<'production' | 'sandbox', Http2SessionPool>> = {}
  private readonly token: ApnsProviderToken
  private readonly clock: Clock
  private readonly timeoutMs: number
  private closed = false
  private authorizationFor = ''
  private authorizationValue = ''

  constructor(private readonly options: ApnsProviderOptions) {
    this.clock = options.clock ?? systemClock
    this.token = new ApnsProviderToken(options.key, this.clock, options.tokenRefreshMs)
    this.timeoutMs = options.requestTimeoutMs ?? 10_000
  }

  async send(msg: ApnsMessage, signal?: AbortSignal, context?: SendContext): Promise<SendResult> {
    const invalid = precheck(msg)
    if (invalid) return invalid
    const body = JSON.stringify(msg.payload)
    const limit = msg.pushType === 'voip' ? APNS_MAX_VOIP_PAYLOAD : APNS_MAX_PAYLOAD
    // A UTF-16 code unit is at most 3 bytes of UTF-8: a short body cannot be over, and is not measured.
    if (body.length * 3 > limit) {
      const size = Buffer.byteLength(body, 'utf8')
      if (size > limit) return { kind: 'failed', reason: `payload is ${size} bytes, over the ${limit}-byte APNs limit` }
    }
    if (signal?.aborted) return abortedByDeadline()
    if (this.closed) return { kind: 'retry', reason: 'APNs provider is shut down' }

    let jwt: string
    try {
      jwt = this.token.fresh() ?? (await this.token.current())
    } catch (err) {
      return { kind: 'failed', reason: `cannot sign the provider token: ${(err as Error).message}`, config: true }
    }
    const pool = this.pool(msg)
    let outcome = await this.exchange(pool, msg, body, jwt, signal)
    if (isExpiredProviderToken(outcome)) {
      // Apple: renew the JWT and resend, but never sooner than 20 minutes after the last one.
      const renewed = await this.token.afterExpired(jwt).catch(() => undefined)
      if (renewed) outcome = await this.exchange(pool, msg, body, renewed, signal)
    }
    let result = this.classify(outcome)
    if (result.kind === 'invalid-token' && isWrongEnvironment(outcome) && !this.options.url) {
      result = await this.otherEnvironment(msg, body, jwt, signal, result, context)
    }
    // A push that failed is logged once, by the dispatcher, which knows the final outcome. Only the
    // token's prefix is ever logged (the logger also redacts any field named `token`).
    if (result.kind === 'delivered' && this.options.logger.isLevelEnabled('debug'))
      this.options.logger.debug(
        { provider: 'apns', ...context, device: tokenPrefix(msg.token), apnsId: result.providerId },
        'apns: delivered',
      )
    return result
  }

  /** Signs the provider token and opens a session to the usual environment ahead of the first push. */
  async warm(): Promise<void> {
    try {
      await this.token.current()
      await this.poolFor(this.options.environment ?? 'production').warm()
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'apns: warm-up failed; the first push will connect')
    }
  }

  /**
   * Apple answers BadDeviceToken / DeviceTokenNotForTopic when a sandbox token is sent to production
   * or the reverse (an app built for development, a device registered with the wrong environment).
   * docs/PLATFORMS.md: check the other environment before removing the token. Delivered there → the
   * dispatcher records the device's real environment; refused there too → the token is dead.
   */
  private async otherEnvironment(
    msg: ApnsMessage,
    body: string,
    jwt: string,
    signal: AbortSignal | undefined,
    first: SendResult,
    context?: SendContext,
  ): Promise<SendResult> {
    const other = msg.environment === 'sandbox' ? 'production' : 'sandbox'
    const outcome = await this.exchange(this.poolFor(other), { ...msg, environment: other }, body, jwt, signal)
    const second = this.classify(outcome)
    if (second.kind === 'delivered') {
      this.options.logger.info(
        { ...context, device: tokenPrefix(msg.token), registered: msg.environment, actual: other },
        'apns: token belongs to the other environment',
      )
      return { ...second, environment: other }
    }
    if (second.kind === 'invalid-token' && isWrongEnvironment(outcome)) {
      return {
        kind: 'invalid-token',
        reason: `${first.kind === 'invalid-token' ? first.reason : ''} (refused in ${other} too)`,
        ...(second.status ? { status: second.status } : {}),
      }
    }
    // The other environment could not say (busy, down): try again later rather than prune.
    return { kind: 'retry', reason: `environment check in ${other}: ${second.reason}` }
  }

  async close(): Promise<void> {
    this.closed = true
    const pools = [...this.pools.values()]
    this.pools.clear()
    this.poolByEnvironment = {}
    await Promise.all(pools.map((p) => p.close()))
  }

  private pool(msg: ApnsMessage): Http2SessionPool {
    return this.poolFor(msg.environment)
  }

  private poolFor(environment: 'production' | 'sandbox'): Http2SessionPool {
    // Looked up on every push: by environment first, without parsing a URL each time.
    const known = this.poolByEnvironment[environment]
    if (known !== undefined) return known
    const byEnvironment =
      environment === 'sandbox'
        ? (this.options.urls?.sandbox ?? APNS_SANDBOX_URL)
        : (this.options.urls?.production ?? APNS_PRODUCTION_URL)
    const origin = new URL(this.options.url ?? byEnvironment).origin
    let pool = this.pools.get(origin)
    if (!pool) {
      pool = new Http2SessionPool(origin, {
        ...this.options.transport,
        ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
        size: Math.max(1, this.options.sessionsPerOrigin ?? 2),
        logger: this.options.logger,
        retireOn: tooManyTokenUpdates,
      })
      this.pools.set(origin, pool)
    }
    this.poolByEnvironment[environment] = pool
    return pool
  }

  private exchange(
    pool: Http2SessionPool,
    msg: ApnsMessage,
    body: string,
    jwt: string,
    signal?: AbortSignal,
  ): Promise<StreamOutcome> {
    return pool.exchange(requestHeaders(msg, this.authorization(jwt)), body, this.timeoutMs, signal)
  }

  /** `bearer <jwt>`, built once per provider token rather than once per push. */
  private authorization(jwt: string): string {
    if (jwt !== this.authorizationFor) {
      this.authorizationFor = jwt
      this.authorizationValue = `bearer ${jwt}`
    }
    return this.authorizationValue
  }

  private classify(outcome: StreamOutcome): SendResult {
    switch (outcome.kind) {
      case 'response': {
        const apnsId = outcome.headers['apns-id']
        const retryAfter = outcome.headers['retry-after']
        return classifyApnsAnswer(
          {
            status: outcome.status,
            apnsId: typeof apnsId === 'string' ? apnsId : undefined,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            body: outcome.body,
          },
          this.clock.now(),
        )
      }
      case 'refused':
      case 'lost':
        return { kind: 'retry', reason: `network: ${outcome.reason}` }
      case 'invalid':
        return { kind: 'failed', reason: `not sent: ${outcome.reason}` }
      case 'timeout':
        return { kind: 'retry', reason: `no answer from APNs within ${this.timeoutMs} ms` }
      case 'aborted':
        return abortedByDeadline()
    }
  }
}

function isWrongEnvironment(outcome: StreamOutcome): boolean {
  if (outcome.kind !== 'response' || outcome.status !== 400) return false
  const reason = parseApnsBody(outcome.body).reason
  return reason === 'BadDeviceToken' || reason === 'DeviceTokenNotForTopic'
}

/**
 * Apple: TooManyProviderTokenUpdates (429) means the provider token changed too often on this
 * connection, which stays unusable for a while: new pushes go to a new connection.
 */
function tooManyTokenUpdates(status: number, body: string): string | undefined {
  return status === 429 && parseApnsBody(body).reason === 'TooManyProviderTokenUpdates'
    ? 'APNs: TooManyProviderTokenUpdates'
    : undefined
}

function isExpiredProviderToken(outcome: StreamOutcome): boolean {
  return (
    outcome.kind === 'response' &&
    outcome.status === 403 &&
    parseApnsBody(outcome.body).reason === 'ExpiredProviderToken'
  )
}

type Refusal = Extract<SendResult, { kind: 'invalid-token' | 'failed' }>

/** Checks Apple would fail anyway, done before spending a request. */
function precheck(msg: ApnsMessage): Refusal | undefined {
  // Device tokens are hex (32 bytes today; Apple has said they may grow). Anything else can never
  // be delivered, and must not reach the request path unescaped.
  if (!/^[0-9a-fA-F]+$/.test(msg.token) || msg.token.length < 64 || msg.token.length % 2 !== 0) {
    return { kind: 'invalid-token', reason: 'BadDeviceToken: not a hex APNs device token (checked before sending)' }
  }
  if (msg.collapseId !== undefined && Buffer.byteLength(msg.collapseId, 'utf8') > APNS_MAX_COLLAPSE_ID) {
    return { kind: 'failed', reason: `apns-collapse-id over ${APNS_MAX_COLLAPSE_ID} bytes (checked before sending)` }
  }
  // PushKit pushes go to `<bundle>.voip`, everything else to the bundle id itself.
  if ((msg.pushType === 'voip') !== msg.topic.endsWith('.voip')) {
    return { kind: 'failed', reason: `apns-topic ${msg.topic} does not fit push type ${msg.pushType}`, config: true }
  }
  return undefined
}

function requestHeaders(msg: ApnsMessage, authorization: string): RequestHeaders {
  // No content-type: Apple's request header list does not include one; the body is always JSON.
  const headers: RequestHeaders = {
    ':method': 'POST',
    ':path': `/3/device/${msg.token}`,
    authorization,
    'apns-push-type': msg.pushType,
    'apns-topic': msg.topic,
    'apns-priority': String(msg.priority),
    'apns-expiration': String(Math.max(0, Math.floor(msg.expiration))),
  }
  if (msg.collapseId !== undefined) headers['apns-collapse-id'] = msg.collapseId
  return headers
}
