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

// Request and conversation ids are passed explicitly (Fastify's req.log carries reqId; the ring
// engine, dispatcher and providers put conversationId on their lines), not carried by
// AsyncLocalStorage: its promise hooks run on every promise in the process, and cost about 5 % of
// the gateway's CPU per event in the latency benchmark (BENCHMARKS.md).

// What an error's log line may show. Not every enumerable field, as pino's default serializer does:
// client libraries hang the request on their errors (ioredis's `command` holds the command and its
// arguments, i.e. device tokens, Web Push endpoints and keys; HTTP clients the headers).
const ERROR_FIELDS = ['code', 'errno', 'syscall', 'statusCode', 'status'] as const
const MAX_CAUSES = 3

/** The `err` serializer: type, message, stack, a few scalar codes and the causes, nothing else. */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err, message: typeof err === 'string' ? err : 'not an Error' }
  const out: Record<string, unknown> = { type: err.name, message: err.message, stack: err.stack }
  const fields = err as unknown as Record<string, unknown>
  for (const name of ERROR_FIELDS) {
    const value = fields[name]
    if (typeof value === 'string' || typeof value === 'number') out[name] = value
  }
  if (err.cause !== undefined && depth < MAX_CAUSES) out.cause = serializeError(err.cause, depth + 1)
  if (err instanceof AggregateError && depth < MAX_CAUSES)
    out.errors = err.errors.slice(0, 5).map((e: unknown) => serializeError(e, depth + 1))
  return out
}

export function createLogger(options: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name ?? 'push-gateway',
    serializers: { err: serializeError },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
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
