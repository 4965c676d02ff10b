// The memory store's rings: records and states, cancel claims and the outbox, once-only claims (RingStore).
import { ringKey, type RingRecord, type RingState } from '../model.js'
import type { MemoryTables } from './memory-tables.js'
import { rangExactly, type RingStore } from './store.js'
import { ORPHAN_CANCEL_TTL_MS } from './ttl.js'

export function memoryRingStore(tables: MemoryTables): RingStore {
  const { clock, rings, cancels, unsent, claims } = tables

  function view(key: string, record: RingRecord): RingRecord {
    const out = structuredClone(record)
    const claimed = tables.live(cancels, key)
    if (claimed !== undefined) {
      for (const t of claimed.value) if (!out.cancelledTokens.includes(t)) out.cancelledTokens.push(t)
    }
    return out
  }

  function transition(key: string, from: RingState[], to: RingState, ttlMs: number): RingRecord | undefined {
    const entry = tables.live(rings, key)
    if (entry === undefined || !from.includes(entry.value.state)) return undefined
    const before = view(key, entry.value)
    entry.value.state = to
    entry.expiresAt = clock.now() + ttlMs
    const claimed = tables.live(cancels, key)
    if (claimed !== undefined) claimed.expiresAt = entry.expiresAt
    return before
  }

  function claim(key: string, tokens: string[], silent: string[]): string[] {
    const ring = tables.live(rings, key)
    let claimed = tables.live(cancels, key)
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
    async createRing(record, ttlMs) {
      tables.sweep()
      const key = ringKey(record)
      if (tables.live(rings, key) !== undefined) return false
      rings.set(key, { value: structuredClone(record), expiresAt: clock.now() + ttlMs })
      cancels.delete(key)
      unsent.delete(key)
      return true
    },

    async getRing(key) {
      const entry = tables.live(rings, key)
      return entry === undefined ? undefined : view(key, entry.value)
    },

    transitionRing: async (key: string, from: RingState[], to: RingState, ttlMs: number) =>
      transition(key, from, to, ttlMs),
    claimCancels: async (key, tokens, silent = []) => claim(key, tokens, silent),

    async endRing(key, from, to, ttlMs, guess) {
      // Synchronous from the check to the claim: nothing else can run in between.
      const entry = tables.live(rings, key)
      if (entry === undefined || !from.includes(entry.value.state)) return undefined
      const current = view(key, entry.value)
      if (!rangExactly(current, guess.ifRung)) return { before: current }
      const before = transition(key, from, to, ttlMs) as RingRecord
      return { before, claimed: claim(key, guess.tokens, []) }
    },

    async markSent(key, sent, at) {
      const ring = tables.live(rings, key)
      if (ring === undefined) return
      if (sent.ring === true) ring.value.dispatchedAt = at
      const entry = unsent.get(key)
      if (entry === undefined) return
      for (const t of sent.cancelTokens ?? []) entry.tokens.delete(t)
      if (entry.tokens.size === 0) unsent.delete(key)
    },

    async listUnsentCancels(olderThanMs) {
      tables.sweep()
      const out: Array<{ ring: RingRecord; tokens: string[] }> = []
      const cutoff = clock.now() - olderThanMs
      for (const [key, entry] of unsent) {
        const ring = tables.live(rings, key)
        if (ring !== undefined && entry.at <= cutoff)
          out.push({ ring: view(key, ring.value), tokens: [...entry.tokens] })
      }
      return out
    },

    async listOpenRings(dueBy) {
      tables.sweep()
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
  }
}
