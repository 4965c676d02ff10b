// Queue names for the notification text ("Queue: Sales Support"). Resolved through the Genesys
// REST API and cached, but never on the ring's path: a name not cached yet is left out of that
// ring and fetched in the background for the next one (docs/PLATFORMS.md: no REST call on the hot path).
import type { Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'

export interface QueueNamesOptions {
  fetch: (queueId: string) => Promise<{ name: string }>
  clock: Clock
  logger: Logger
  /** Names are refreshed after this (a queue can be renamed); default 1 h. */
  ttlMs?: number
  /** After a failed lookup, do not ask again for this long; default 1 min. */
  failureHoldOffMs?: number
  maxEntries?: number
}

interface Entry {
  name?: string
  /** Epoch ms after which the entry is looked up again. */
  refreshAt: number
}

export class QueueNames {
  private readonly entries = new Map<string, Entry>()
  private readonly inFlight = new Set<string>()

  constructor(private readonly options: QueueNamesOptions) {}

  /** The cached name (possibly stale), or undefined; a miss or a stale entry starts a lookup. */
  peek(queueId: string): string | undefined {
    const entry = this.entries.get(queueId)
    if (!entry || entry.refreshAt <= this.options.clock.now()) void this.warm(queueId)
    return entry?.name
  }

  /** Resolves when the lookup started by peek() (or this call) is done; for tests and warm-up. */
  async warm(queueId: string): Promise<void> {
    if (this.inFlight.has(queueId)) return
    this.inFlight.add(queueId)
    try {
      const { name } = await this.options.fetch(queueId)
      this.set(queueId, { name, refreshAt: this.options.clock.now() + (this.options.ttlMs ?? 3_600_000) })
    } catch (err) {
      const known = this.entries.get(queueId)
      this.set(queueId, {
        ...(known?.name ? { name: known.name } : {}),
        refreshAt: this.options.clock.now() + (this.options.failureHoldOffMs ?? 60_000),
      })
      this.options.logger.warn({ queueId, err: (err as Error).message }, 'queue name lookup failed')
    } finally {
      this.inFlight.delete(queueId)
    }
  }

  private set(queueId: string, entry: Entry): void {
    this.entries.delete(queueId)
    this.entries.set(queueId, entry)
    if (this.entries.size > (this.options.maxEntries ?? 10_000)) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }
}
