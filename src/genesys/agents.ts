// Resolves a mobile agent's own Genesys bearer token to the Genesys user it belongs to, so a device
// can only be registered for the agent who holds it. GET /api/v2/users/me answers only for user
// tokens (a client-credentials token has no "me"), but it answers for a user of ANY organisation in
// the region: expand=organization (UserMe.organization, an Organization {id, name}) lets the
// directory refuse agents whose organisation is not the gateway's.
import { createHash } from 'node:crypto'
import type { Dispatcher } from 'undici'
import { systemClock, type Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import { AgentAuthError, GenesysApiError } from './errors.js'
import { errorMessage, exchange } from './http.js'
import type { OwnOrganization } from './organization.js'
import { isRecord } from './rest.js'

export interface AgentIdentity {
  userId: string
  name?: string
}

// Bounds memory when many distinct tokens are presented (each registration brings one).
const MAX_CACHED = 10_000

export class AgentDirectory {
  // Keyed by sha256(token): a heap dump or debug log of this map never reveals a usable token.
  private readonly cache = new Map<string, { identity: AgentIdentity; cachedAt: number }>()
  private readonly inflight = new Map<string, Promise<AgentIdentity>>()
  private readonly apiUrl: string
  private readonly ttlMs: number

  constructor(
    private readonly options: {
      apiUrl: string
      /** The gateway's own organisation: an agent of any other one is refused. */
      organization: OwnOrganization
      dispatcher?: Dispatcher
      clock?: Clock
      logger: Logger
      cacheTtlMs?: number
    },
  ) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '')
    this.ttlMs = options.cacheTtlMs ?? 60_000
  }

  private get clock(): Clock {
    return this.options.clock ?? systemClock
  }

  /** Number of cached identities (for tests and metrics). */
  get cached(): number {
    return this.cache.size
  }

  /** The cache keys: token hashes, never tokens. */
  cacheKeys(): string[] {
    return [...this.cache.keys()]
  }

  resolve(bearerToken: string): Promise<AgentIdentity> {
    if (bearerToken.length === 0) return Promise.reject(new AgentAuthError(401, 'empty agent token'))
    const key = createHash('sha256').update(bearerToken).digest('hex')
    const hit = this.cache.get(key)
    const now = this.clock.now()
    // A clock stepped back (NTP, a restored VM) must not stretch the TTL: an entry from the "future" is stale.
    if (hit && hit.cachedAt <= now && now < hit.cachedAt + this.ttlMs) return Promise.resolve(hit.identity)
    if (hit) this.cache.delete(key)
    let pending = this.inflight.get(key)
    if (!pending) {
      pending = this.lookup(bearerToken, key).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private async lookup(token: string, key: string): Promise<AgentIdentity> {
    // First, so an outage of the organisation lookup refuses (503) rather than lets anyone through.
    const ownOrgId = await this.options.organization.id()
    const answer = await exchange(`${this.apiUrl}/api/v2/users/me?expand=organization`, {
      method: 'GET',
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      dispatcher: this.options.dispatcher,
    })
    // 400 is Genesys saying the token has no user context (a client-credentials token): not an
    // agent, and no retry will make it one.
    if (answer.status === 401 || answer.status === 403 || answer.status === 400) {
      // Rejections are not cached: a fresh token from the same agent must work at once.
      throw new AgentAuthError(answer.status, `Genesys rejected the agent token: ${errorMessage(answer)}`)
    }
    if (answer.status !== 200) throw new GenesysApiError(answer.status, `GET /api/v2/users/me: ${errorMessage(answer)}`)
    const b = answer.body
    if (!isRecord(b) || typeof b.id !== 'string') throw new GenesysApiError(502, 'Genesys users/me answer lacks id')
    const orgId = isRecord(b.organization) && typeof b.organization.id === 'string' ? b.organization.id : undefined
    // Unchecked is never accepted: an answer without the organisation cannot prove the agent is ours.
    if (!orgId) throw new GenesysApiError(502, 'Genesys users/me answer lacks organization.id')
    if (orgId !== ownOrgId) {
      this.options.logger.warn({ orgId, userId: b.id }, 'agent token of another Genesys organisation refused')
      // Not cached, like every rejection.
      throw new AgentAuthError(
        401,
        'the token belongs to another Genesys Cloud organisation',
        'this access token belongs to another Genesys Cloud organisation',
      )
    }
    const identity: AgentIdentity = typeof b.name === 'string' ? { userId: b.id, name: b.name } : { userId: b.id }
    if (this.cache.size >= MAX_CACHED) {
      const oldest = this.cache.keys().next()
      if (!oldest.done) this.cache.delete(oldest.value)
    }
    this.cache.set(key, { identity, cachedAt: this.clock.now() })
    return identity
  }
}
