// The harness's gateway (test/e2e/harness.ts: real gateway, SQLite, a fresh test world) logging at
// debug and below, with its log lines kept for the test to read: what an operator's log pipeline
// would store, one JSON line per entry.
import { createLogger } from '../../src/observability/logger.js'
import { startHarness, type Harness } from '../e2e/harness.js'

export type LoggedGateway = Harness & {
  /** Every log line so far, in order. */
  lines: string[]
}

/** Starts the gateway with `env` over the world's own settings. */
export async function startLoggedGateway(env: Record<string, string>): Promise<LoggedGateway> {
  const lines: string[] = []
  const logger = createLogger(
    { level: 'trace' },
    { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)) },
  )
  const harness = await startHarness({ LOG_LEVEL: 'debug', ...env }, undefined, { logger })
  return Object.assign(harness, { lines })
}
