// The soft presence filter (PRESENCE_FILTER=soft). The design guide the gateway started from
// advises trusting the routing engine's choice of agent (PRESENCE_FILTER=off, the default); in
// soft mode an offer to an agent whose system presence is one of PRESENCE_SUPPRESS (Offline, Away,
// Break) is held back, unless the presence changed within PRESENCE_LAG_MS: Genesys presence lags routing by 2-3 s, so an agent who just
// went On Queue may still show Away when the offer arrives.
// The cache is kept current by the v2.users.{id}.presence topic (the source's onPresence); the
// REST API is asked only when an agent is not in the cache yet, never again on the hot path.
import type { Clock } from '../clock.js'
import { normalisePresence } from '../config.js'
import type { GenesysRest } from '../genesys/rest.js'
import type { Logger } from '../observability/logger.js'

export interface PresenceState {
  /** As Genesys sent it ("Away", "ON_QUEUE"…). */
  systemPresence: string
  /** Epoch ms of the change. */
  changedAt: number
}

export type PresenceVerdict = { deliver: true; reason?: string } | { deliver: false; reason: string }

export interface PresenceFilterOptions {
  mode: 'off' | 'soft'
  /** Normalised presences (normalisePresence) whose agents are not rung. */
  suppress: string[]
  lagMs: number
  clock: Clock
  logger: Logger
  /** The REST fallback for an agent not in the cache. */
  fetch: (userId: string) => Promise<PresenceState>
  /** A cache miss waits this long for REST, then rings anyway (soft: when in doubt, ring). */
  fetchTimeoutMs?: number
  maxUsers?: number
}

export class PresenceFilter {
  private readonly cache = new Map<string, PresenceState>()
  private readonly fetching = new Map<string, Promise<PresenceState | undefined>>()
  private readonly suppress: ReadonlySet<string>

  constructor(private readonly options: PresenceFilterOptions) {
    this.suppress = new Set(options.suppress.map(normalisePresence))
  }

  /** The source's PresenceHandler. Out-of-order updates (an older change arriving late) are ignored. */
  update(userId: string, systemPresence: string, changedAt: number): void {
    const known = this.cache.get(userId)
    if (known && known.changedAt > changedAt) return
    this.cache.delete(userId)
    this.cache.set(userId, { systemPresence, changedAt })
    // Bounded: the oldest entry goes first (Map keeps insertion order; updates re-insert).
    if (this.cache.size > (this.options.maxUsers ?? 100_000)) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
  }

  get(userId: string): PresenceState | undefined {
    return this.cache.get(userId)
  }

  async check(userId: string): Promise<PresenceVerdict> {
    if (this.options.mode === 'off') return { deliver: true }
    const state = this.cache.get(userId) ?? (await this.miss(userId))
    if (!state) return { deliver: true, reason: 'presence unknown' }
    if (!this.suppress.has(normalisePresence(state.systemPresence))) return { deliver: true }
    const age = this.options.clock.now() - state.changedAt
    if (age < this.options.lagMs)
      return { deliver: true, reason: `presence ${state.systemPresence} changed ${age} ms ago (not trusted yet)` }
    return {
      deliver: false,
      reason: `presence ${state.systemPresence} since ${new Date(state.changedAt).toISOString()}`,
    }
  }

  private async miss(userId: string): Promise<PresenceState | undefined> {
    let pending = this.fetching.get(userId)
    if (!pending) {
      pending = this.options
        .fetch(userId)
        .then((s) => {
          // A topic update that arrived meanwhile is newer than what REST said.
          if (!this.cache.has(userId)) this.update(userId, s.systemPresence, s.changedAt)
          return this.cache.get(userId)
        })
        .catch((err: unknown) => {
          this.options.logger.warn(
            { userId, err: (err as Error).message },
            'presence: REST lookup failed; ringing anyway',
          )
          return undefined
        })
        .finally(() => this.fetching.delete(userId))
      this.fetching.set(userId, pending)
    }
    const timeoutMs = this.options.fetchTimeoutMs ?? 1_000
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs)
    })
    try {
      return await Promise.race([pending, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}

/** GET /api/v2/users/{id}/presences/purecloud, keeping `modifiedDate` for the lag rule. */
export function restPresenceFetcher(rest: GenesysRest): (userId: string) => Promise<PresenceState> {
  return async (userId) => {
    const body = await rest.request<unknown>('GET', `/api/v2/users/${encodeURIComponent(userId)}/presences/purecloud`)
    const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
    const def =
      typeof b.presenceDefinition === 'object' && b.presenceDefinition !== null
        ? (b.presenceDefinition as Record<string, unknown>)
        : {}
    if (typeof def.systemPresence !== 'string')
      throw new Error('presence answer lacks presenceDefinition.systemPresence')
    const modified = typeof b.modifiedDate === 'string' ? Date.parse(b.modifiedDate) : NaN
    // Without a date the change is treated as old: the presence is trusted.
    return { systemPresence: def.systemPresence, changedAt: Number.isNaN(modified) ? 0 : modified }
  }
}
