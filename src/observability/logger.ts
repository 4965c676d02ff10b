import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino'

export type { Logger }

// Every field that may carry a secret. Device tokens are logged only through tokenPrefix().
const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.authorization',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'access_token',
  '*.access_token',
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  'privateKey',
  '*.privateKey',
  'private_key',
  '*.private_key',
  'secret',
  '*.secret',
  'subscription.keys',
  '*.subscription.keys',
]

export function createLogger(options: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name ?? 'push-gateway',
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
