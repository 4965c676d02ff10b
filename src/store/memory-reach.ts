// The memory store's device receipts: delivery records and agents' reachability documents (ReachStore).
import type { MemoryTables } from './memory-tables.js'
import type { ReachStore } from './store.js'

export function memoryReachStore(tables: MemoryTables): ReachStore {
  const { clock, deliveries, reach } = tables
  return {
    async noteDelivery(conversationId, token, fields, ttlMs) {
      tables.sweep()
      const key = `${conversationId}\n${token}`
      const entry = tables.live(deliveries, key)
      deliveries.set(key, { value: { ...(entry?.value ?? {}), ...fields }, expiresAt: clock.now() + ttlMs })
    },

    async getDelivery(conversationId, token) {
      const entry = tables.live(deliveries, `${conversationId}\n${token}`)
      return entry === undefined ? undefined : { ...entry.value }
    },

    async getReach(userId) {
      const entry = tables.live(reach, userId)
      return entry === undefined ? undefined : { ...entry.value }
    },

    async putReach(userId, doc, version, ttlMs) {
      const current = tables.live(reach, userId)?.value.version ?? 0
      if (current !== version) return false
      reach.set(userId, { value: { doc, version: version + 1 }, expiresAt: clock.now() + ttlMs })
      return true
    },

    async listReachUsers() {
      tables.sweep()
      return [...reach.keys()]
    },
  }
}
