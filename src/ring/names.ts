// Display names for ids: queue names for the notification text ("Queue: Sales Support"), agents'
// names for the dashboard. Resolved through the Genesys REST API and cached, but never on the ring's
// path: a name not cached yet is left out of that ring and fetched in the background for the next
// one (docs/PLATFORMS.md: no REST call on the hot path).
import type { Clock } from '../clock.js'
import { FairSlots } from '../fair-slots.js'
import type { Logger } from '../observability/logger.js'

export interface NameCacheOptions {
  fetch: (id: string) => Promise<{ name: string }>
  /** What the ids name, for the log: 'queue' or 'agent'. */
  what: 'queue' | 'agent'
  clock: Clock
  logger: Logger
  /** Names are refreshed after this (a queue can be renamed); default 1 h. */
  ttlMs?: number
  /** After a failed lookup, do not ask again for this long; default 1 min. */
  failureHoldOffMs?: number
  maxEntries?: number
  /** Lookups in flight at once; the rest wait their turn. Default 4. */
  maxConcurrent?: number
}

// A gateway that starts with a thousand agents sees a thousand names it does not know within a
// second. Asked all at once, Genesys answers most of them 429 and every one is retried: a storm
// that takes the REST rate limit the sources need for their subscriptions and recovery. A few at a
// time, the names arrive in order and each retry's Retry-After paces the rest.
const DEFAULT_MAX_CONCURRENT = 4

interface Entry {
  name?: string
  /** Epoch ms after which the entry is looked up again. */
  refreshAt: number
}

export class NameCache {
  private readonly entries = new Map<string, Entry>()
  private readonly inFlight = new Set<string>()
  private readonly slots: FairSlots

  constructor(private readonly options: NameCacheOptions) {
    this.slots = new FairSlots(options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT)
  }

  /** The cached name (possibly stale), or undefined; a miss or a stale entry starts a lookup. */
  peek(id: string): string | undefined {
    const entry = this.entries.get(id)
    if (!entry || entry.refreshAt <= this.options.clock.now()) void this.warm(id)
    return entry?.name
  }

  /** Resolves when the lookup started by peek() (or this call) is done; for tests and warm-up. */
  async warm(id: string): Promise<void> {
    if (this.inFlight.has(id)) return
    // Past maxEntries waiting, a name is not queued: the next peek() asks again.
    if (this.slots.queued >= (this.options.maxEntries ?? 10_000)) return
    this.inFlight.add(id)
    await this.slots.acquire('names')
    try {
      const { name } = await this.options.fetch(id)
      this.set(id, { name, refreshAt: this.options.clock.now() + (this.options.ttlMs ?? 3_600_000) })
    } catch (err) {
      const known = this.entries.get(id)
      this.set(id, {
        ...(known?.name ? { name: known.name } : {}),
        refreshAt: this.options.clock.now() + (this.options.failureHoldOffMs ?? 60_000),
      })
      this.options.logger.warn({ id: id, err: (err as Error).message }, `${this.options.what} name lookup failed`)
    } finally {
      this.inFlight.delete(id)
      this.slots.release()
    }
  }

  private set(id: string, entry: Entry): void {
    this.entries.delete(id)
    this.entries.set(id, entry)
    if (this.entries.size > (this.options.maxEntries ?? 10_000)) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }
}
