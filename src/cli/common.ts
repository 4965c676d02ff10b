// What the operator commands (doctor, send-test, devices) share: reading the configuration like
// `start` does, printing, and the exit codes.
import { readFileSync } from 'node:fs'
import { ConfigError, loadConfig, type Config } from '../config.js'

/** 0 all good, 1 a check or a push failed (or nothing to do), 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

export class UsageError extends Error {
  readonly code = 'USAGE'
}

/** Where a command writes: stdout for results, stderr for problems (tests capture both). */
export interface Io {
  out(line: string): void
  err(line: string): void
  /** An extra CA to trust (in-process tests); the packaged command uses NODE_EXTRA_CA_CERTS. */
  ca?: string
  /** `host:port` of the project's Web Push sandbox on loopback (in-process tests); never from the environment. */
  webPushSandboxHosts?: readonly string[]
}

export const processIo: Io = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
}

/** The settings exactly as `push-gateway start` reads them: --config FILE, then the environment. */
export function configFrom(file: string | undefined, env: Record<string, string | undefined> = process.env): Config {
  let fromFile: Record<string, string> = {}
  if (file) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new UsageError(`--config ${file}: ${err instanceof Error ? err.message : String(err)}`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new UsageError(`--config ${file}: expected a JSON object of settings`)
    fromFile = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]))
  }
  try {
    return loadConfig({ ...fromFile, ...env })
  } catch (err) {
    // One line per problem, each with the command's prefix.
    if (err instanceof ConfigError)
      throw new UsageError(
        err.problems.map((p) => `configuration error: ${p.setting}: ${p.message}`).join('\npush-gateway: '),
      )
    throw err
  }
}

/** Runs a command body, turning usage and configuration errors into exit code 2 with one line. */
export async function runCommand(io: Io, body: () => Promise<number>): Promise<number> {
  try {
    return await body()
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      io.err(`push-gateway: ${err.message}`)
      return EXIT.usage
    }
    throw err
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error)
    return 'code' in err && typeof err.code === 'string' ? `${err.message} (${err.code})` : err.message
  return String(err)
}
