import { FakeClock } from '../../src/clock.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { storeContract } from './contract.js'

storeContract('memory', async () => {
  const clock = new FakeClock()
  const store = createMemoryStore({ clock })
  return {
    store,
    now: () => clock.now(),
    passTime: async (ms) => clock.advance(ms),
    shortTtlMs: 1_000,
    cleanup: () => store.close(),
  }
})
