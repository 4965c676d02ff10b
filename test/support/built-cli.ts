// The CLI as an operator runs it: `npm run build`, then `node dist/cli.js …` in its own process.
// The build runs only when a source changed (scripts/build-if-stale.mjs, the same step as
// `npm start`), under a lock, so test files running in parallel share one build.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '../..')
const CLI = join(ROOT, 'dist/cli.js')

export function ensureBuilt(): void {
  const result = spawnSync(process.execPath, [join(ROOT, 'scripts/build-if-stale.mjs')], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`build failed:\n${result.stdout}${result.stderr}`)
}

/** A minimal environment: only what a shell gives every process, plus `env`. */
export function cleanEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME, ...env }
  return Object.fromEntries(Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined))
}

export interface Finished {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams
  stdout(): string
  stderr(): string
  /** Resolves once stdout or stderr matches `pattern`; rejects when the process ends first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** Resolves when the process has ended. */
  finished: Promise<Finished>
}

export function startBuilt(
  args: string[],
  env: Record<string, string>,
  options: { nodeArgs?: string[] } = {},
): RunningCli {
  const started = performance.now()
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], { env, cwd: ROOT })
  let stdout = ''
  let stderr = ''
  const listeners = new Set<() => void>()
  const notify = () => listeners.forEach((listener) => listener())
  child.stdout.on('data', (chunk: Buffer) => ((stdout += chunk.toString()), notify()))
  child.stderr.on('data', (chunk: Buffer) => ((stderr += chunk.toString()), notify()))
  const finished = new Promise<Finished>((resolve) =>
    child.on('close', (status, signal) => {
      resolve({ status, signal, stdout, stderr, ms: performance.now() - started })
      notify()
    }),
  )
  let ended = false
  void finished.then(() => (ended = true))
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    finished,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout) ?? pattern.exec(stderr)
          if (match) return done(() => resolve(match[0]))
          if (ended)
            done(() => reject(new Error(`process ended before ${pattern}:\nstdout: ${stdout}\nstderr: ${stderr}`)))
        }
        const timer = setTimeout(
          () =>
            done(() =>
              reject(new Error(`no ${pattern} within ${timeoutMs} ms:\nstdout: ${stdout}\nstderr: ${stderr}`)),
            ),
          timeoutMs,
        )
        const done = (then: () => void) => {
          clearTimeout(timer)
          listeners.delete(check)
          then()
        }
        listeners.add(check)
        check()
      })
    },
  }
}

/** Runs the built CLI to its end (killed after `timeoutMs`). */
export async function runBuilt(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<Finished> {
  const running = startBuilt(args, env)
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs)
  const result = await running.finished
  clearTimeout(timer)
  return result
}
