// A real gateway (SQLite store) against a fresh test world, whose log lines are kept for the test
// to read: what an operator's log pipeline would store, one JSON line per entry.
import { join } from 'node:path'
import { Gateway } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createLogger } from '../../src/observability/logger.js'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'

export interface LoggedGateway {
  world: TestWorld
  gateway: Gateway
  /** The gateway's HTTP base URL. */
  api: string
  /** Every log line so far, in order. */
  lines: string[]
  close(): Promise<void>
}

/** Starts the gateway with `env` over the world's own settings, logging at debug and below. */
export async function startLoggedGateway(env: Record<string, string>): Promise<LoggedGateway> {
  const world = await startTestWorld()
  const lines: string[] = []
  const config = loadConfig({
    ...world.env,
    STORE_URL: `sqlite:${join(world.dir, 'gw.db')}`,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'debug',
    ...env,
  })
  const logger = createLogger(
    { level: 'trace' },
    { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)) },
  )
  const gateway = await Gateway.create({
    config,
    logger,
    ca: world.pki.caCert,
    webPushSandboxHosts: [world.webPushSandboxHost],
  })
  const api = await gateway.start()
  return {
    world,
    gateway,
    api,
    lines,
    close: async () => {
      await gateway.stop(1_000)
      await world.close()
    },
  }
}
