// In-process store for ring-engine tests and `memory:` URLs. Expiry follows the injected clock,
// so a FakeClock makes TTL behaviour instant; an expired entry is invisible and dropped on touch.
import { systemClock, type Clock } from '../clock.js'
import { ringKey, type Device, type RingRecord, type RingState } from '../model.js'
import { rangExactly, type Store } from './store.js'
import { ORPHAN_CANCEL_TTL_MS } from './ttl.js'

interface Expiring<T> {
  value: T
  expiresAt: number
}

export function createMemoryStore(o: { clock?: Clock } = {}): Store {
  const clock = o.clock ?? systemClock
  const devices = new Map<string, Device>()
  const rings = new Map<string, Expiring<RingRecord>>()
  const claims = new Map<string, number>()
  // Cancel claims live beside the ring (as in Redis, where they are a separate set) so a claim
  // still counts if the ring record expired in between; views merge them into cancelledTokens.
  const cancels = new Map<string, Expiring<Set<string>>>()
  // Cancel claims not marked sent yet (the outbox), with the time of the ring's last claim.
  const unsent = new Map<string, { tokens: Set<string>; at: number }>()
  const deliveries = new Map<string, Expiring<Record<string, string>>>()
  const reach = new Map<string, Expiring<{ doc: string; version: number }>>()

  function live<T>(map: Map<string, Expiring<T>>, key: string): Expiring<T> | undefined {
    const entry = map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= clock.now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  function liveRing(key: string): Expiring<RingRecord> | undefined {
    const entry = rings.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= clock.now()) {
      rings.delete(key)
      return undefined
    }
    return entry
  }

  // Expired rings and claims would otherwise pile up in a long-running `memory:` gateway.
  function sweep(): void {
    const now = clock.now()
    for (const [key, entry] of rings) if (entry.expiresAt <= now) rings.delete(key)
    for (const [key, expiresAt] of claims) if (expiresAt <= now) claims.delete(key)
    for (const [key, entry] of cancels) if (entry.expiresAt <= now) cancels.delete(key)
    for (const key of unsent.keys()) if (!rings.has(key)) unsent.delete(key)
    for (const [key, entry] of deliveries) if (entry.expiresAt <= now) deliveries.delete(key)
    for (const [key, entry] of reach) if (entry.expiresAt <= now) reach.delete(key)
  }

  function liveCancels(key: string): Expiring<Set<string>> | undefined {
    const entry = cancels.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= clock.now()) {
      cancels.delete(key)
      return undefined
    }
    return entry
  }

  function view(key: string, record: RingRecord): RingRecord {
    const out = structuredClone(record)
    const claimed = liveCancels(key)
    if (claimed !== undefined) {
      for (const t of claimed.value) if (!out.cancelledTokens.includes(t)) out.cancelledTokens.push(t)
    }
    return out
  }

  function transition(key: string, from: RingState[], to: RingState, ttlMs: number): RingRecord | undefined {
    const entry = liveRing(key)
    if (entry === undefined || !from.includes(entry.value.state)) return undefined
    const before = view(key, entry.value)
    entry.value.state = to
    entry.expiresAt = clock.now() + ttlMs
    const claimed = liveCancels(key)
    if (claimed !== undefined) claimed.expiresAt = entry.expiresAt
    return before
  }

  function claim(key: string, tokens: string[], silent: string[]): string[] {
    const ring = liveRing(key)
    let claimed = liveCancels(key)
    if (claimed === undefined) {
      claimed = { value: new Set(), expiresAt: ring?.expiresAt ?? clock.now() + ORPHAN_CANCEL_TTL_MS }
      cancels.set(key, claimed)
    }
    const fresh: string[] = []
    const pending = new Set<string>()
    for (const [list, sent] of [
      [tokens, false],
      [silent, true],
    ] as const) {
      for (const t of list) {
        if (claimed.value.has(t) || ring?.value.cancelledTokens.includes(t) === true) continue
        claimed.value.add(t)
        fresh.push(t)
        if (!sent) pending.add(t)
      }
    }
    // Only a live ring can be resent (its record is the cancel's context).
    if (ring !== undefined && pending.size > 0) {
      const entry = unsent.get(key)
      unsent.set(key, { tokens: new Set([...(entry?.tokens ?? []), ...pending]), at: clock.now() })
    }
    return fresh
  }

  return {
    kind: 'memory',

    async upsertDevice(device) {
      devices.set(device.token, structuredClone(device))
      return structuredClone(device)
    },

    async listDevices(userId) {
      const out: Device[] = []
      for (const d of devices.values()) if (d.userId === userId) out.push(structuredClone(d))
      return out
    },

    async getDevice(token) {
      const d = devices.get(token)
      return d === undefined ? undefined : structuredClone(d)
    },

    async removeDevice(userId, token) {
      const d = devices.get(token)
      if (d === undefined || d.userId !== userId) return false
      devices.delete(token)
      return true
    },

    async removePhone(userId, deviceId) {
      const removed: string[] = []
      for (const d of devices.values()) if (d.userId === userId && d.deviceId === deviceId) removed.push(d.token)
      for (const token of removed) devices.delete(token)
      return removed
    },

    async pruneToken(token, registeredBefore) {
      const d = devices.get(token)
      if (d === undefined) return false
      if (registeredBefore !== undefined && d.registeredAt >= registeredBefore) return false
      devices.delete(token)
      return true
    },

    async listUserIds() {
      const ids = new Set<string>()
      for (const d of devices.values()) ids.add(d.userId)
      return [...ids]
    },

    async countDevices() {
      const byPlatform: Record<string, number> = {}
      for (const d of devices.values()) byPlatform[d.platform] = (byPlatform[d.platform] ?? 0) + 1
      return { total: devices.size, byPlatform }
    },

    async createRing(record, ttlMs) {
      sweep()
      const key = ringKey(record)
      if (liveRing(key) !== undefined) return false
      rings.set(key, { value: structuredClone(record), expiresAt: clock.now() + ttlMs })
      cancels.delete(key)
      unsent.delete(key)
      return true
    },

    async getRing(key) {
      const entry = liveRing(key)
      return entry === undefined ? undefined : view(key, entry.value)
    },

    transitionRing: async (key: string, from: RingState[], to: RingState, ttlMs: number) =>
      transition(key, from, to, ttlMs),
    claimCancels: async (key, tokens, silent = []) => claim(key, tokens, silent),

    async endRing(key, from, to, ttlMs, guess) {
      // Synchronous from the check to the claim: nothing else can run in between.
      const entry = liveRing(key)
      if (entry === undefined || !from.includes(entry.value.state)) return undefined
      const current = view(key, entry.value)
      if (!rangExactly(current, guess.ifRung)) return { before: current }
      const before = transition(key, from, to, ttlMs) as RingRecord
      return { before, claimed: claim(key, guess.tokens, []) }
    },

    async markSent(key, sent, at) {
      const ring = liveRing(key)
      if (ring === undefined) return
      if (sent.ring === true) ring.value.dispatchedAt = at
      const entry = unsent.get(key)
      if (entry === undefined) return
      for (const t of sent.cancelTokens ?? []) entry.tokens.delete(t)
      if (entry.tokens.size === 0) unsent.delete(key)
    },

    async listUnsentCancels(olderThanMs) {
      sweep()
      const out: Array<{ ring: RingRecord; tokens: string[] }> = []
      const cutoff = clock.now() - olderThanMs
      for (const [key, entry] of unsent) {
        const ring = liveRing(key)
        if (ring !== undefined && entry.at <= cutoff)
          out.push({ ring: view(key, ring.value), tokens: [...entry.tokens] })
      }
      return out
    },

    async listOpenRings(dueBy) {
      sweep()
      const out: RingRecord[] = []
      for (const [key, entry] of rings)
        if (entry.value.state === 'ringing' && (dueBy === undefined || entry.value.expiresAt <= dueBy))
          out.push(view(key, entry.value))
      return out
    },

    async claimOnce(key, ttlMs) {
      const now = clock.now()
      const expiresAt = claims.get(key)
      if (expiresAt !== undefined && expiresAt > now) return false
      claims.set(key, now + ttlMs)
      return true
    },

    async noteDelivery(conversationId, token, fields, ttlMs) {
      sweep()
      const key = `${conversationId}\n${token}`
      const entry = live(deliveries, key)
      deliveries.set(key, { value: { ...(entry?.value ?? {}), ...fields }, expiresAt: clock.now() + ttlMs })
    },

    async getDelivery(conversationId, token) {
      const entry = live(deliveries, `${conversationId}\n${token}`)
      return entry === undefined ? undefined : { ...entry.value }
    },

    async getReach(userId) {
      const entry = live(reach, userId)
      return entry === undefined ? undefined : { ...entry.value }
    },

    async putReach(userId, doc, version, ttlMs) {
      const current = live(reach, userId)?.value.version ?? 0
      if (current !== version) return false
      reach.set(userId, { value: { doc, version: version + 1 }, expiresAt: clock.now() + ttlMs })
      return true
    },

    async listReachUsers() {
      sweep()
      return [...reach.keys()]
    },

    async ping() {},
    async close() {
      deliveries.clear()
      reach.clear()
      devices.clear()
      rings.clear()
      claims.clear()
      cancels.clear()
      unsent.clear()
    },
  }
}
