// In-process store for ring-engine tests and `memory:` URLs. Expiry follows the injected clock,
// so a FakeClock makes TTL behaviour instant; an expired entry is invisible and dropped on touch.
// Its parts share one set of tables (memory-tables.ts): devices (memory-devices.ts), rings, cancel
// claims, the outbox and once-only claims (memory-rings.ts), receipts and reachability (memory-reach.ts).
import { systemClock, type Clock } from '../clock.js'
import { memoryDeviceStore } from './memory-devices.js'
import { memoryReachStore } from './memory-reach.js'
import { memoryRingStore } from './memory-rings.js'
import { MemoryTables } from './memory-tables.js'
import type { Store } from './store.js'

export function createMemoryStore(options: { clock?: Clock } = {}): Store {
  const tables = new MemoryTables(options.clock ?? systemClock)
  return {
    kind: 'memory',
    ...memoryDeviceStore(tables.devices),
    ...memoryRingStore(tables),
    ...memoryReachStore(tables),
    async ping() {},
    async close() {
      tables.clear()
    },
  }
}
