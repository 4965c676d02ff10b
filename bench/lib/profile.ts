// Reads a V8 .cpuprofile (written by node --cpu-prof) and sums self time per function, restricted
// to a time window (the measured load, not start-up and TypeScript compilation). Sample timestamps
// are CLOCK_MONOTONIC microseconds, the clock of process.hrtime(), so the window comes from the
// profiled process itself.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileEntry {
  name: string
  /** file:line relative to the repository, node:… for Node internals, or a V8 pseudo-frame. */
  where: string
  selfMs: number
  /** Share of busy (non-idle) time. */
  share: number
}

export interface ProfileSummary {
  windowMs: number
  busyMs: number
  idleMs: number
  samples: number
  /** false when the window did not match the profile and the whole profile was used. */
  windowed: boolean
  top: ProfileEntry[]
  /** The gateway's own functions by inclusive time (themselves and everything they called). */
  inclusive: ProfileEntry[]
  /** Busy time by origin: the gateway's src/, each dependency, Node internals, GC. */
  byOrigin: Array<{ origin: string; selfMs: number; share: number }>
}

const repo = fileURLToPath(new URL('../../', import.meta.url))

function locate(f: CallFrame): { where: string; origin: string } {
  const url = f.url
  if (!url)
    return {
      where: f.functionName || '(native)',
      origin: f.functionName.startsWith('(') ? f.functionName : 'V8 / native',
    }
  if (url.startsWith('node:')) return { where: `${url}:${f.lineNumber + 1}`, origin: 'Node.js internals' }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const rel = relative(repo, path)
  // tsx compiles each TypeScript file to one line: a line number there would mislead.
  const where = rel.endsWith('.ts') || f.lineNumber <= 0 ? rel : `${rel}:${f.lineNumber + 1}`
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(rel)
  if (nm) return { where, origin: `dependency: ${nm[1]}` }
  // The benchmarks run the compiled product (dist/), the tests run src/ through tsx.
  if (rel.startsWith('src/') || rel.startsWith('dist/')) return { where, origin: 'gateway (src/)' }
  if (rel.startsWith('bench/')) return { where, origin: 'benchmark harness (bench/)' }
  return { where, origin: 'other' }
}

export function summariseProfile(file: string, window?: { startUs: number; endUs: number }, topN = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((node) => [node.id, node]))
  let windowed =
    window !== undefined && window.startUs >= p.startTime && window.endUs <= p.endTime && window.endUs > window.startUs
  const inWindow = (t: number): boolean => !windowed || (t >= (window?.startUs ?? 0) && t <= (window?.endUs ?? 0))
  const self = new Map<string, { name: string; where: string; origin: string; us: number }>()
  const parent = new Map<number, number>()
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id)
  const incl = new Map<string, { name: string; where: string; us: number }>()
  let idle = 0
  let busy = 0
  let count = 0
  const tally = (): void => {
    self.clear()
    incl.clear()
    idle = busy = count = 0
    let t = p.startTime
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i] ?? 0
      t += dt
      if (!inWindow(t)) continue
      const node = byId.get(p.samples[i] as number)
      if (!node) continue
      count++
      const name = node.callFrame.functionName || '(anonymous)'
      if (name === '(idle)') {
        idle += dt
        continue
      }
      busy += dt
      const loc = locate(node.callFrame)
      const key = `${name}@${loc.where}`
      const e = self.get(key) ?? { name, where: loc.where, origin: loc.origin, us: 0 }
      e.us += dt
      self.set(key, e)
      // Each gateway function on this sample's stack, once (recursion counted once).
      const seen = new Set<string>()
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const f = byId.get(id)
        if (!f) break
        const l = locate(f.callFrame)
        if (l.origin !== 'gateway (src/)') continue
        const k = `${f.callFrame.functionName || '(anonymous)'}@${l.where}`
        if (seen.has(k)) continue
        seen.add(k)
        const ie = incl.get(k) ?? { name: f.callFrame.functionName || '(anonymous)', where: l.where, us: 0 }
        ie.us += dt
        incl.set(k, ie)
      }
    }
  }
  tally()
  if (windowed && count === 0) {
    windowed = false
    tally()
  }
  const entries = [...self.values()].sort((a, b) => b.us - a.us)
  const origins = new Map<string, number>()
  for (const e of entries) origins.set(e.origin, (origins.get(e.origin) ?? 0) + e.us)
  const share = (us: number): number => (busy > 0 ? us / busy : 0)
  return {
    windowMs: windowed && window ? (window.endUs - window.startUs) / 1000 : (p.endTime - p.startTime) / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    samples: count,
    windowed,
    top: entries.slice(0, topN).map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: share(e.us) })),
    inclusive: [...incl.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: share(e.us) })),
    byOrigin: [...origins.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([origin, us]) => ({ origin, selfMs: us / 1000, share: share(us) })),
  }
}
