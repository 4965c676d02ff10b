// OAuth 2.0 access tokens for Google APIs from a service-account key, by the JWT bearer grant.
// Source: Google Identity "Using OAuth 2.0 for Server to Server Applications": an RS256 JWT
// {iss: client_email, scope, aud: token_uri, iat, exp ≤ iat + 1 h} with kid = private_key_id,
// POSTed as grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…; the answer
// {access_token, expires_in, token_type} is reused until shortly before it expires.
import { SignJWT, importPKCS8, type CryptoKey } from 'jose'
import { request, type Dispatcher } from 'undici'
import type { Clock } from '../clock.js'
import type { GoogleServiceAccountKey } from '../config.js'
import type { Logger } from '../observability/logger.js'

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging'
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const ASSERTION_LIFETIME_S = 3600
const DEFAULT_RENEW_EARLY_MS = 5 * 60_000
// After the token endpoint refuses the key (invalid_grant…), sends fail fast for a while instead of
// asking Google again for every push: a revoked key must not turn into a flood of token requests.
const REFUSED_HOLD_OFF_MS = 30_000

/** Getting an access token failed. `retryable` is false when the key or its grant is wrong. */
export class GoogleAuthError extends Error {
  readonly code = 'GOOGLE_AUTH_FAILED'
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'GoogleAuthError'
  }
}

export interface AccessTokenSourceOptions {
  key: GoogleServiceAccountKey
  scope: string
  dispatcher: Dispatcher
  clock: Clock
  logger: Logger
  /** Renew this long before expiry so no request goes out with a token about to lapse. */
  renewEarlyMs?: number
}

interface AccessToken {
  token: string
  expiresAt: number
  renewAt: number
}

export class GoogleAccessTokenSource {
  private current: AccessToken | undefined
  private inflight: Promise<AccessToken> | undefined
  private signingKey: Promise<CryptoKey> | undefined
  private refused: { error: GoogleAuthError; until: number } | undefined
  private readonly renewEarlyMs: number

  constructor(private readonly options: AccessTokenSourceOptions) {
    this.renewEarlyMs = options.renewEarlyMs ?? DEFAULT_RENEW_EARLY_MS
  }

  /** A valid access token; concurrent callers share one token request. */
  async get(signal?: AbortSignal): Promise<string> {
    const now = this.options.clock.now()
    const current = this.current
    if (current && now < current.renewAt) return current.token
    if (this.refused && now < this.refused.until) {
      if (current && now < current.expiresAt) return current.token
      throw this.refused.error
    }
    try {
      return (await abortable(this.refresh(), signal)).token
    } catch (err) {
      // A renewal that fails while the old token still has minutes left must not stop sends.
      if (!signal?.aborted && current && this.options.clock.now() < current.expiresAt) return current.token
      throw err
    }
  }

  /** Drops `token` after the API rejected it (401), so the next get() fetches a new one. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined
  }

  private refresh(): Promise<AccessToken> {
    if (!this.inflight) {
      this.inflight = this.fetchToken()
        .then(
          (t) => {
            this.current = t
            this.refused = undefined
            return t
          },
          (err: unknown) => {
            if (err instanceof GoogleAuthError && !err.retryable)
              this.refused = { error: err, until: this.options.clock.now() + REFUSED_HOLD_OFF_MS }
            throw err
          },
        )
        .finally(() => {
          this.inflight = undefined
        })
    }
    return this.inflight
  }

  private async fetchToken(): Promise<AccessToken> {
    const { key, scope, clock, dispatcher, logger } = this.options
    this.signingKey ??= importPKCS8(key.private_key, 'RS256')
    let signingKey: CryptoKey
    try {
      signingKey = await this.signingKey
    } catch (err) {
      this.signingKey = undefined
      throw new GoogleAuthError(`service account private_key cannot be read: ${(err as Error).message}`, false)
    }
    const iat = Math.floor(clock.now() / 1000)
    const assertion = await new SignJWT({ scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.private_key_id })
      .setIssuer(key.client_email)
      .setAudience(key.token_uri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_S)
      .sign(signingKey)

    let res: Dispatcher.ResponseData
    try {
      res = await request(key.token_uri, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
      })
    } catch (err) {
      throw new GoogleAuthError(`token request to ${key.token_uri} failed: ${(err as Error).message}`, true)
    }
    const text = await res.body.text()
    const body = safeJson(text)
    if (res.statusCode !== 200) {
      const error = typeof body?.error === 'string' ? body.error : `HTTP ${res.statusCode}`
      const description = typeof body?.error_description === 'string' ? `: ${body.error_description}` : ''
      // 4xx (invalid_grant, invalid_scope, …) means the key is wrong, revoked or mis-scoped.
      const retryable = res.statusCode === 429 || res.statusCode >= 500
      logger.warn(
        { status: res.statusCode, error, tokenUri: key.token_uri, clientEmail: key.client_email },
        'google access token refused',
      )
      throw new GoogleAuthError(`token endpoint answered ${error}${description}`, retryable, res.statusCode)
    }
    const token = body?.access_token
    const expiresIn = body?.expires_in
    if (typeof token !== 'string' || typeof expiresIn !== 'number' || expiresIn <= 0) {
      throw new GoogleAuthError('token endpoint answered without access_token/expires_in', true, res.statusCode)
    }
    const lifetimeMs = expiresIn * 1000
    logger.debug({ expiresIn, clientEmail: key.client_email }, 'google access token obtained')
    const now = clock.now()
    // Renew early, but never so early that a short-lived token would be renewed on every call.
    return {
      token,
      expiresAt: now + lifetimeMs,
      renewAt: now + lifetimeMs - Math.min(this.renewEarlyMs, lifetimeMs / 2),
    }
  }
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Waits for `p` unless `signal` fires first; the shared work behind `p` carries on for others. */
function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
