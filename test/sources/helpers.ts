// Shared by the source tests: collect routing events and wait for the one that matters.
import type { RingRecord, RoutingEvent } from '../../src/model.js'
import { ringKey } from '../../src/model.js'

export class Events {
  readonly all: RoutingEvent[] = []
  private waiters: Array<{ pred: (e: RoutingEvent) => boolean; resolve: (e: RoutingEvent) => void }> = []
  readonly handler = (e: RoutingEvent): void => {
    this.all.push(e)
    this.waiters = this.waiters.filter((w) => (w.pred(e) ? (w.resolve(e), false) : true))
  }
  next(pred: (e: RoutingEvent) => boolean, timeoutMs = 3000): Promise<RoutingEvent> {
    const seen = this.all.find(pred)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a routing event')), timeoutMs)
      this.waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer)
          resolve(e)
        },
      })
    })
  }
}

/**
 * The ring engine's view, as far as a source needs it: an offer opens a ring, answered or ended
 * closes it. Stands in for the store's listOpenRings() (the engine itself is tested elsewhere).
 */
export class OpenRings {
  private readonly rings = new Map<string, RingRecord>()
  readonly handler = (e: RoutingEvent): void => {
    const key = ringKey(e)
    if (e.kind === 'offer') {
      if (!this.rings.has(key))
        this.rings.set(key, {
          conversationId: e.conversationId,
          userId: e.userId,
          participantId: e.participantId,
          mediaType: e.mediaType,
          state: 'ringing',
          rungTokens: [],
          cancelledTokens: [],
          offeredAt: e.occurredAt,
          expiresAt: e.occurredAt + 30_000,
        })
    } else this.rings.delete(key)
  }
  list = (): Promise<RingRecord[]> => Promise.resolve([...this.rings.values()])
  add(r: Omit<RingRecord, 'state' | 'rungTokens' | 'cancelledTokens' | 'offeredAt' | 'expiresAt'>): void {
    this.rings.set(ringKey(r), {
      ...r,
      state: 'ringing',
      rungTokens: [],
      cancelledTokens: [],
      offeredAt: Date.now(),
      expiresAt: Date.now() + 30_000,
    })
  }
  get size(): number {
    return this.rings.size
  }
}

export async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const ofConversation =
  (cid: string, kind: RoutingEvent['kind']) =>
  (e: RoutingEvent): boolean =>
    e.conversationId === cid && e.kind === kind
