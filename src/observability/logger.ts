import { AsyncLocalStorage } from 'node:async_hooks'
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino'

export type { Logger }

// Every field that may carry a secret. Device tokens are logged only through tokenPrefix(), under
// another name (`device`): a field named `token` is always censored, whatever it holds.
const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.authorization',
  'cookie',
  'headers.cookie',
  'req.headers.cookie',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'access_token',
  '*.access_token',
  'refresh_token',
  'assertion',
  '*.assertion',
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  'privateKey',
  '*.privateKey',
  'private_key',
  '*.private_key',
  'keyPem',
  '*.keyPem',
  'adminToken',
  '*.adminToken',
  'secret',
  '*.secret',
  'subscription.keys',
  '*.subscription.keys',
]

/** What every line logged inside a request or an event's handling carries (reqId, conversationId). */
export type LogContext = Record<string, string>

/**
 * The context of the current request or event, carried across awaits by AsyncLocalStorage so that
 * lines logged deep in the store or a provider still name their request and conversation. The
 * storage holds no state of its own outside an async chain, so gateways sharing a process (tests)
 * cannot see each other's context.
 */
export const logContext = new AsyncLocalStorage<LogContext>()

/** Runs `fn` with `fields` added to every log line it (and everything it awaits) writes. */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  const outer = logContext.getStore()
  return logContext.run(outer ? { ...outer, ...fields } : fields, fn)
}

export function createLogger(options: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name ?? 'push-gateway',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    // A copy: pino merges each line's fields into the object the mixin returns.
    mixin: () => ({ ...logContext.getStore() }),
  }
  return destination ? pino(opts, destination) : pino(opts)
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/** The short, non-secret form of a device token or endpoint for logs and error bodies. */
export function tokenPrefix(token: string): string {
  if (token.startsWith('https://')) {
    try {
      return `${new URL(token).host}/…`
    } catch {
      return 'web/…'
    }
  }
  return token.length <= 8 ? '…' : `${token.slice(0, 8)}…`
}
