// The memory store's data, shared by its parts (memory-devices.ts, memory-rings.ts, memory-reach.ts).
// Expiry follows the injected clock; an expired entry is invisible and dropped on touch.
import type { Clock } from '../clock.js'
import type { Device, RingRecord } from '../model.js'

export interface Expiring<T> {
  value: T
  expiresAt: number
}

export class MemoryTables {
  readonly devices = new Map<string, Device>()
  readonly rings = new Map<string, Expiring<RingRecord>>()
  /** claimOnce keys → when their claim expires. */
  readonly claims = new Map<string, number>()
  // Cancel claims live beside the ring (as in Redis, where they are a separate set) so a claim
  // still counts if the ring record expired in between; views merge them into cancelledTokens.
  readonly cancels = new Map<string, Expiring<Set<string>>>()
  /** Cancel claims not marked sent yet (the outbox), with the time of the ring's last claim. */
  readonly unsent = new Map<string, { tokens: Set<string>; at: number }>()
  readonly deliveries = new Map<string, Expiring<Record<string, string>>>()
  readonly reach = new Map<string, Expiring<{ doc: string; version: number }>>()

  constructor(readonly clock: Clock) {}

  /** The entry of `key` unless it has expired (then it is dropped). */
  live<T>(map: Map<string, Expiring<T>>, key: string): Expiring<T> | undefined {
    const entry = map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.clock.now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  /** Drops expired entries: they would otherwise pile up in a long-running `memory:` gateway. */
  sweep(): void {
    const now = this.clock.now()
    for (const [key, entry] of this.rings) if (entry.expiresAt <= now) this.rings.delete(key)
    for (const [key, expiresAt] of this.claims) if (expiresAt <= now) this.claims.delete(key)
    for (const [key, entry] of this.cancels) if (entry.expiresAt <= now) this.cancels.delete(key)
    for (const key of this.unsent.keys()) if (!this.rings.has(key)) this.unsent.delete(key)
    for (const [key, entry] of this.deliveries) if (entry.expiresAt <= now) this.deliveries.delete(key)
    for (const [key, entry] of this.reach) if (entry.expiresAt <= now) this.reach.delete(key)
  }

  clear(): void {
    this.deliveries.clear()
    this.reach.clear()
    this.devices.clear()
    this.rings.clear()
    this.claims.clear()
    this.cancels.clear()
    this.unsent.clear()
  }
}
