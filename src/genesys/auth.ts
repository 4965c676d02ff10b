// OAuth client credentials for the gateway's own Genesys calls.
// Genesys: POST https://login.<region>/oauth/token, Basic clientId:secret, grant_type=client_credentials;
// the token is not refreshed for you (its lifetime is the OAuth client's setting, default 24 h).
import type { Dispatcher } from 'undici'
import { systemClock, type Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import { GenesysApiError } from './errors.js'
import { errorMessage, exchange } from './http.js'

// Renew when 90 % of the lifetime has passed, so a request never goes out with a token about to lapse.
const RENEW_AT_FRACTION = 0.9

export class ClientCredentialsAuth {
  private token: string | undefined
  private renewAt = 0
  private inflight: Promise<string> | undefined
  /** Tokens fetched so far (for tests and the doctor command). */
  fetches = 0

  constructor(
    private readonly options: {
      loginUrl: string
      clientId: string
      clientSecret: string
      dispatcher?: Dispatcher
      clock?: Clock
      logger: Logger
    },
  ) {}

  private get clock(): Clock {
    return this.options.clock ?? systemClock
  }

  getToken(): Promise<string> {
    if (this.token !== undefined && this.clock.now() < this.renewAt) return Promise.resolve(this.token)
    // Concurrent callers share one request: a burst at start-up must not spend the rate limit on tokens.
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined
    })
    return this.inflight
  }

  /** Forget the cached token (Genesys answered 401: revoked or expired early). */
  invalidate(): void {
    this.token = undefined
    this.renewAt = 0
  }

  private async fetchToken(): Promise<string> {
    const basic = Buffer.from(`${this.options.clientId}:${this.options.clientSecret}`).toString('base64')
    const answer = await exchange(`${this.options.loginUrl.replace(/\/+$/, '')}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: 'grant_type=client_credentials',
      dispatcher: this.options.dispatcher,
    })
    if (answer.status !== 200) {
      throw new GenesysApiError(answer.status, `Genesys token request refused: ${errorMessage(answer)}`)
    }
    const b = answer.body
    if (!b || typeof b !== 'object' || !('access_token' in b) || typeof b.access_token !== 'string') {
      throw new GenesysApiError(502, 'Genesys token answer has no access_token')
    }
    const expiresInS = 'expires_in' in b && typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : 3600
    this.token = b.access_token
    this.renewAt = this.clock.now() + expiresInS * 1000 * RENEW_AT_FRACTION
    this.fetches++
    this.options.logger.debug({ expiresInS }, 'genesys token obtained')
    return b.access_token
  }
}
