// The load generator's CPU priority. The orchestrator process plays Genesys, Apple and Google (the
// simulator, the sandboxes, the driver): in production none of them shares the gateway's machine,
// here they share its two cores with the gateway and Redis. At equal priority the scheduler makes
// a gateway or Redis that wakes for a frame or a claim wait behind the orchestrator's work: in one
// 10 s run at 2,000 frames/s the gateway's main thread spent 2.8 s waiting for a core against 7.0 s
// running. The latency benchmark therefore measures with the orchestrator at a lower priority
// (a higher nice value) and says so beside its figures, with one run at equal priority for
// comparison. Its main thread also gets a core of its own (cores.ts).
//
// A forked child inherits its parent's nice value, and raising a priority back needs privilege
// (CAP_SYS_NICE, or RLIMIT_NICE): so the priority is lowered only around the measurement, after
// the gateway child is forked, and only where it can be raised back afterwards.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { getPriority, setPriority } from 'node:os'

/** How far the load generator's priority is lowered (nice 0 → 10): CFS weights of 1024 and 110. */
export const LOAD_GENERATOR_NICE = 10

/** This process's threads: on Linux, a nice value belongs to each thread, not the process. */
function ownThreads(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number).filter(Number.isInteger)
  } catch {
    return [process.pid]
  }
}

function setAll(threads: number[], nice: number): void {
  for (const tid of threads) {
    try {
      setPriority(tid, nice)
    } catch (err) {
      // A thread that ended meanwhile has nothing left to set.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
    }
  }
}

/**
 * Whether this process may lower its priority and raise it back: tried on a throwaway child, so a
 * refusal costs this process nothing. Undefined when it may; otherwise why not.
 */
export function whyPriorityCannotBeLowered(): string | undefined {
  return onThrowawayProcess(
    (pid) => {
      const base = getPriority(pid)
      setPriority(pid, Math.min(19, base + LOAD_GENERATOR_NICE))
      setPriority(pid, base)
    },
    (e) => `${e.code ?? 'error'}: raising a priority back needs CAP_SYS_NICE or RLIMIT_NICE`,
  )
}

/**
 * Runs `act` on a short-lived child process, so that a setting refused or left behind costs this
 * process nothing. Undefined when `act` succeeded; otherwise why not (`explain` words an error).
 */
export function onThrowawayProcess(
  act: (pid: number) => void,
  explain: (err: NodeJS.ErrnoException) => string,
): string | undefined {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdio: 'ignore' })
  try {
    if (child.pid === undefined) return 'could not start a process to try it on'
    act(child.pid)
    return undefined
  } catch (err) {
    return explain(err as NodeJS.ErrnoException)
  } finally {
    child.kill('SIGKILL')
  }
}

/**
 * Lowers this process's priority (every thread) by LOAD_GENERATOR_NICE until the returned
 * function restores it. Call whyPriorityCannotBeLowered() first: here a refusal to restore throws.
 */
export function lowerOwnPriority(): () => void {
  const threads = ownThreads()
  const base = getPriority(process.pid)
  setAll(threads, Math.min(19, base + LOAD_GENERATOR_NICE))
  return () => setAll(ownThreads(), base)
}

/**
 * A thread's time on a core and waiting for one, ns, from /proc/<pid>/schedstat (Linux with
 * scheduler statistics; undefined elsewhere). For a process's pid this is its main thread.
 */
export function schedStat(pid: number | undefined): { runNs: number; waitNs: number } | undefined {
  if (pid === undefined) return undefined
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number)
    return run !== undefined && wait !== undefined && Number.isFinite(run + wait)
      ? { runNs: run, waitNs: wait }
      : undefined
  } catch {
    return undefined
  }
}
