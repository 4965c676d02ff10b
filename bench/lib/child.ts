// The system under test runs in a child process (a gateway, or a push client), the world it talks
// to (simulator, sandboxes, load driver) in the orchestrator: each has its own event loop and its
// own core, and process.cpuUsage() in the child counts only the child's work. A small request /
// reply protocol over the IPC channel drives the child.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Request {
  id: number
  cmd: string
  args?: unknown
}
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }
type Hello = { ready: unknown } | { failed: string }

export interface ChildOptions {
  args?: string[]
  env?: Record<string, string>
  /** Extra node flags, e.g. --cpu-prof, --expose-gc. */
  nodeFlags?: string[]
  startTimeoutMs?: number
}

export class Child<Ready = unknown> {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private stderrTail = ''
  private exited: Promise<number | null>

  private constructor(
    private readonly proc: ChildProcess,
    readonly ready: Ready,
    exited: Promise<number | null>,
  ) {
    this.exited = exited
    proc.on('message', (m: Reply) => {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if (m.ok) p.resolve(m.value)
      else p.reject(new Error(m.error))
    })
    void exited.then((code) => {
      for (const p of this.pending.values())
        p.reject(new Error(`child exited (${code}) before answering: ${this.stderrTail.slice(-800)}`))
      this.pending.clear()
    })
  }

  get pid(): number | undefined {
    return this.proc.pid
  }

  /** Starts `script` (a .ts file under bench/) with tsx and waits for it to say it is ready. */
  static start<R>(script: string | URL, o: ChildOptions = {}): Promise<Child<R>> {
    const file = typeof script === 'string' ? script : fileURLToPath(script)
    const proc = fork(file, o.args ?? [], {
      execArgv: ['--import', 'tsx', ...(o.nodeFlags ?? [])],
      env: { ...process.env, ...o.env },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    let tail = ''
    proc.stderr?.setEncoding('utf8')
    proc.stderr?.on('data', (d: string) => {
      tail = (tail + d).slice(-4000)
    })
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL')
        reject(new Error(`${file}: not ready within ${o.startTimeoutMs ?? 60_000} ms: ${tail.slice(-800)}`))
      }, o.startTimeoutMs ?? 60_000)
      const onHello = (m: Hello): void => {
        clearTimeout(timer)
        proc.off('message', onHello)
        if ('failed' in m) return reject(new Error(`${file}: ${m.failed}`))
        const child = new Child<R>(proc, m.ready as R, exited)
        proc.stderr?.on('data', (d: string) => {
          child.stderrTail = (child.stderrTail + d).slice(-4000)
        })
        child.stderrTail = tail
        resolve(child)
      }
      proc.on('message', onHello)
      void exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`${file}: exited (${code}) before it was ready: ${tail.slice(-1500)}`))
      })
    })
  }

  call<T>(cmd: string, args?: unknown, timeoutMs = 300_000): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`child ${cmd}: no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      const req: Request = { id, cmd, ...(args !== undefined ? { args } : {}) }
      this.proc.send(req)
    })
  }

  /** Asks the child to shut down cleanly; kills it if it has not exited after `graceMs`. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode
    this.call('exit', undefined, graceMs).catch(() => undefined)
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }
}

export type Handler = (args: unknown) => unknown

/** Child side: answers requests with `handlers`; 'exit' runs `onExit` then exits with code 0. */
export function serve(ready: unknown, handlers: Record<string, Handler>, onExit: () => Promise<void>): void {
  // The orchestrator went away (Ctrl-C, crash): do not linger holding ports and Redis connections.
  process.on('disconnect', () => void onExit().finally(() => process.exit(0)))
  process.on('message', (m: Request) => {
    void (async () => {
      if (m.cmd === 'exit') {
        await onExit().catch(() => undefined)
        process.send?.({ id: m.id, ok: true, value: null } satisfies Reply)
        // process.exit (not just returning) so --cpu-prof writes its profile at once.
        setImmediate(() => process.exit(0))
        return
      }
      const h = handlers[m.cmd]
      try {
        if (!h) throw new Error(`unknown command ${m.cmd}`)
        const value = await h(m.args)
        process.send?.({ id: m.id, ok: true, value: value ?? null } satisfies Reply)
      } catch (err) {
        process.send?.({
          id: m.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        } satisfies Reply)
      }
    })()
  })
  process.send?.({ ready } satisfies Hello)
}

/** Child side: reports a failure to start. */
export function failStart(err: unknown): void {
  process.send?.({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies Hello, () =>
    process.exit(1),
  )
}
