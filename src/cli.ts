#!/usr/bin/env node
// push-gateway: the command line. `start` runs the gateway from the environment; `demo` runs it
// against the built-in Genesys Cloud simulator and push sandboxes.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Gateway, PortInUseError, SHUTDOWN_BOUND_MS } from './app.js'
import { ConfigError, loadConfig, settingsGiven } from './config.js'
import { createLogger } from './observability/logger.js'
import { missingNodeFlags, NODE_FLAGS } from './runtime-flags.js'

const USAGE = `Usage: push-gateway <command> [options]

Commands:
  start [--config FILE]   Run the gateway. Settings come from environment variables
                          (see README); --config adds a JSON file of the same names,
                          which the environment overrides.
  demo                    Run the gateway against the built-in Genesys Cloud simulator
                          and APNs / FCM sandboxes, with two demo agents and a looping
                          scenario. Ctrl-C stops it.
  sim                     Run only the simulated Genesys Cloud and push services, with
                          simulated phones, and print the settings that let start, doctor,
                          send-test and devices be tried without credentials.
  doctor                  Check every configured credential against the real services
                          (store, Genesys token and channel, APNs key, FCM account).
  send-test --user ID     Ring an agent's devices as a real call would, then cancel;
                          prints each device's result.
  devices list|remove     The device registry (list all or --user ID; remove one).
  migrate-store --from URL --to URL
                          Copy every device between two stores, any pair of SQLite, Redis
                          and DynamoDB (resumable, verified).

Every command takes --help.

Options:
  -h, --help              Show this help.

Exit codes: 0 stopped cleanly (or all checks passed), 1 failed while running (or a check
or push failed), 2 bad usage or configuration.`

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

function fail(message: string, code: number = EXIT.usage): never {
  process.stderr.write(`push-gateway: ${message}\n`)
  process.exit(code)
}

/** Every configuration problem on its own line, then exit 2. */
export function failConfig(err: ConfigError): never {
  process.stderr.write(
    err.problems.map((p) => `push-gateway: configuration error: ${p.setting}: ${p.message}\n`).join(''),
  )
  process.exit(EXIT.usage)
}

function readConfigFile(path: string): Record<string, string> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    fail(`--config ${path}: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    fail(`--config ${path}: expected a JSON object of settings`)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      fail(`--config ${path}: ${k} must be a string or number`)
    out[k] = String(v)
  }
  return out
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  })
  if (values.help) return void process.stdout.write(`${USAGE}\n`)
  const env = { ...(values.config ? readConfigFile(values.config) : {}), ...process.env }
  let config
  try {
    config = loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) failConfig(err)
    throw err
  }
  const logger = createLogger({ level: config.logLevel })
  // Signals are handled from here on: a SIGTERM while the store or Genesys is still being reached
  // (a wrong STORE_URL retries for ever) stops as promptly as one after a good start.
  const running: { gateway?: Gateway } = {}
  const signals = stopOnSignals(logger, () => running.gateway?.stop() ?? Promise.resolve())
  logger.info({ settings: settingsGiven(env), instanceId: config.instanceId }, 'configuration loaded')
  const missing = missingNodeFlags()
  if (missing.length > 0)
    logger.warn(
      { missing },
      `started without the recommended Node.js flags: run node ${NODE_FLAGS.join(' ')} dist/cli.js start (as the Docker image does) for lower tail latency`,
    )
  const gateway = await Gateway.create({ config, logger })
  running.gateway = gateway
  if (signals.stopping()) return void (await gateway.stop())
  await gateway.start().catch(async (err: unknown) => {
    // A start interrupted by the stop (sockets closed under it) is not a failure.
    if (signals.stopping()) return
    if (err instanceof PortInUseError) fail(err.message)
    throw err
  })
}

/**
 * SIGINT/SIGTERM stop cleanly once, within SHUTDOWN_BOUND_MS (then exit 1, saying so); a second
 * signal forces the exit.
 */
export function stopOnSignals(
  logger: { info: (msg: string) => void; error: (o: object, msg: string) => void },
  stop: () => Promise<void>,
): { stopping: () => boolean } {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(EXIT.failed)
    stopping = true
    logger.info(`${signal}: stopping`)
    const overdue = setTimeout(() => {
      logger.error({ boundMs: SHUTDOWN_BOUND_MS }, 'stop took longer than its bound: exiting anyway')
      process.exit(EXIT.failed)
    }, SHUTDOWN_BOUND_MS + 1_000)
    overdue.unref()
    stop().then(
      () => process.exit(EXIT.ok),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping')
        process.exit(EXIT.failed)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return { stopping: () => stopping }
}

/**
 * `npm start | head`: once the reader is gone, every write to stdout fails with EPIPE. Nobody is
 * watching any more: stop as on SIGTERM (the demo removes its key material on the way out)
 * rather than crash on the unhandled error.
 */
function stopWhenOutputCloses(): void {
  let closed = false
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    if (closed) return
    closed = true
    process.kill(process.pid, 'SIGTERM')
  })
}

async function main(argv: string[]): Promise<void> {
  stopWhenOutputCloses()
  const [command, ...rest] = argv
  switch (command) {
    case 'start':
      return start(rest)
    case 'doctor':
    case 'send-test':
    case 'devices': {
      const { operatorCommand } = await import('./cli/index.js')
      process.exitCode = await operatorCommand(command, rest)
      return
    }
    case 'migrate-store': {
      const { runMigrateStore } = await import('./cli/migrate-store.js')
      process.exitCode = await runMigrateStore(rest)
      return
    }
    case 'sim': {
      const { runSim } = await import('./cli/sim.js')
      process.exitCode = await runSim(rest)
      return
    }
    case 'demo': {
      const { runDemo } = await import('./demo/demo.js')
      return runDemo(rest)
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`)
      return
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`)
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err), EXIT.failed)
})
