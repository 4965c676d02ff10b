// A TLS simulator and a Genesys client aimed at it, trusting the test CA (never disabling checks).
import { createTestPki, type TestPki } from '../../src/sim/tls.js'
import { startGenesysSim, type GenesysSim } from '../../src/sim/genesys/index.js'
import { ClientCredentialsAuth, GenesysRest, createDispatcher } from '../../src/genesys/index.js'
import type { Clock } from '../../src/clock.js'
import { silentLogger } from '../../src/observability/logger.js'
import type { Dispatcher } from 'undici'

let pki: Promise<TestPki> | undefined
export const testPki = (): Promise<TestPki> => (pki ??= createTestPki())

export interface World {
  sim: GenesysSim
  ca: string
  dispatcher: Dispatcher
  auth: ClientCredentialsAuth
  rest: GenesysRest
  close(): Promise<void>
}

export async function world(
  o: {
    clock?: Clock
    simClock?: Clock
    tokenTtlS?: number
    maxRetries?: number
    heartbeatIntervalMs?: number
    channelTtlMs?: number
    requestsPerMinute?: number
  } = {},
): Promise<World> {
  const { caCert, key, cert } = await testPki()
  const sim = await startGenesysSim({
    tls: { key, cert },
    ...(o.heartbeatIntervalMs !== undefined && { heartbeatIntervalMs: o.heartbeatIntervalMs }),
    ...(o.channelTtlMs !== undefined && { channelTtlMs: o.channelTtlMs }),
    ...(o.requestsPerMinute !== undefined && { requestsPerMinute: o.requestsPerMinute }),
    ...(o.simClock && { clock: o.simClock }),
  })
  const creds = sim.addClient(o.tokenTtlS !== undefined ? { tokenTtlS: o.tokenTtlS } : {})
  const dispatcher = createDispatcher(caCert)
  const logger = silentLogger()
  const auth = new ClientCredentialsAuth({
    loginUrl: sim.url,
    ...creds,
    dispatcher,
    logger,
    ...(o.clock && { clock: o.clock }),
  })
  const rest = new GenesysRest({
    apiUrl: sim.url,
    auth,
    dispatcher,
    logger,
    ...(o.maxRetries !== undefined && { maxRetries: o.maxRetries }),
  })
  return {
    sim,
    ca: caCert,
    dispatcher,
    auth,
    rest,
    async close() {
      await sim.close()
      await dispatcher.close()
    },
  }
}

export function requests(sim: GenesysSim, route: string): number {
  return sim.stats.requests.get(route) ?? 0
}
