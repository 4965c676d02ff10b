// A real gateway (Gateway from src/app.ts, nothing replaced) in its own process, for the latency,
// fan-out, registration, memory and scale-out benchmarks. It records every push outcome's
// timestamps (frame arrival → request sent → answer) and answers the orchestrator's questions.
// Logs are produced at the configured level and written to /dev/null: serialised as in production,
// not stored.
import { readFileSync } from 'node:fs'
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { destination } from 'pino'
import type * as AppModule from '../../src/app.js'
import type * as ConfigModule from '../../src/config.js'
import type * as LoggerModule from '../../src/observability/logger.js'
import { failStart, serve } from '../lib/child.js'
import { productModule } from '../lib/product.js'
import type { PushOutcome } from '../../src/outcomes.js'

export interface GatewayChildArgs {
  env: Record<string, string>
  caFile: string
  storeKeyPrefix?: string
}

export interface GatewayReady {
  api: string
  pid: number
}

/** Delivered pushes: [frame arrival, decision, request sent, answer] in performance.now() ms, and a code. */
export interface OutcomeRows {
  received: number[]
  /** When the ring engine decided the push's intent (NaN when it did not say). */
  decided: number[]
  sent: number[]
  answered: number[]
  /** 0 APNs ring, 1 APNs cancel, 2 FCM ring, 3 FCM cancel. */
  code: number[]
  /** The agent each push was for. */
  user: string[]
  /**
   * Cancels only (NaN for rings): wall-clock ms from the answer at Genesys (the snapshot's
   * connectedTime, set by the simulator on this machine) to the push service's answer. Unlike
   * `received`, it also counts the time a frame waited before the gateway read it.
   */
  late: number[]
  notDelivered: Record<string, number>
}

export interface GatewayCounts {
  events: number
  outcomes: number
  delivered: number
  decisions: Record<string, number>
  pending: number
}

export interface MemoryReport {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  mallocedMemory: number
}

const args = JSON.parse(Buffer.from(process.argv[2] ?? '', 'base64').toString('utf8')) as GatewayChildArgs

const emptyRows = (): OutcomeRows => ({
  received: [],
  decided: [],
  sent: [],
  answered: [],
  code: [],
  user: [],
  late: [],
  notDelivered: {},
})
let rows = emptyRows()
let counts: GatewayCounts = { events: 0, outcomes: 0, delivered: 0, decisions: {}, pending: 0 }
const eld = monitorEventLoopDelay({ resolution: 1 })

/** The gateway's GC pauses since the last reset, ms: scavenges (young generation) and the others. */
export interface GcPauses {
  scavenges: number[]
  others: number[]
  /** Every pause in order as three numbers: its start (performance.now(), ms), its duration, 0 for a scavenge or 1 for another collection. */
  spans: number[]
}
let gcPauses: GcPauses = { scavenges: [], others: [], spans: [] }
// Every pause stops every frame in flight: the benchmark reports them beside the latency they cause.
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = ((entry as { detail?: unknown }).detail as { kind?: number } | null | undefined)?.kind
    const scavenge = kind === perfConstants.NODE_PERFORMANCE_GC_MINOR
    ;(scavenge ? gcPauses.scavenges : gcPauses.others).push(entry.duration)
    gcPauses.spans.push(entry.startTime, entry.duration, scavenge ? 0 : 1)
  }
}).observe({ entryTypes: ['gc'] })

function record(o: PushOutcome): void {
  counts.outcomes++
  if (o.result.kind !== 'delivered') {
    const k = `${o.provider ?? '-'}:${o.result.kind}:${o.result.reason.slice(0, 60)}`
    rows.notDelivered[k] = (rows.notDelivered[k] ?? 0) + 1
    return
  }
  counts.delivered++
  const received = o.intent.cause?.receivedAtHr
  if (received === undefined || o.sentAtHr === undefined) return
  rows.received.push(received)
  rows.decided.push(o.intent.decidedAtHr ?? NaN)
  rows.sent.push(o.sentAtHr)
  rows.answered.push(o.answeredAtHr)
  rows.code.push((o.provider === 'fcm' ? 2 : 0) + (o.intent.action === 'cancel' ? 1 : 0))
  rows.user.push(o.intent.ring.userId)
  rows.late.push(o.intent.action === 'cancel' ? Date.now() - (o.intent.cause?.occurredAt ?? NaN) : NaN)
}

async function main(): Promise<void> {
  const { Gateway } = await productModule<typeof AppModule>('app.js')
  const { loadConfig } = await productModule<typeof ConfigModule>('config.js')
  const { createLogger } = await productModule<typeof LoggerModule>('observability/logger.js')
  const config = loadConfig(args.env)
  const logger = createLogger({ level: config.logLevel }, destination({ dest: '/dev/null', sync: false }))
  const gateway = await Gateway.create({
    config,
    logger,
    ca: readFileSync(args.caFile, 'utf8'),
    ...(args.storeKeyPrefix ? { storeKeyPrefix: args.storeKeyPrefix } : {}),
    onEvent: () => void counts.events++,
    onDecision: (d) => void (counts.decisions[d.kind] = (counts.decisions[d.kind] ?? 0) + 1),
    onOutcome: record,
  })
  const api = await gateway.start()
  serve(
    { api, pid: process.pid } satisfies GatewayReady,
    {
      reset: () => {
        rows = emptyRows()
        counts = { events: 0, outcomes: 0, delivered: 0, decisions: {}, pending: 0 }
        eld.reset()
        eld.enable()
        gcPauses = { scavenges: [], others: [], spans: [] }
      },
      counts: () => ({ ...counts, pending: gateway.dispatcher.pending }),
      rows: () => rows,
      eventLoop: () => {
        eld.disable()
        return { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 }
      },
      gc: () => gcPauses,
      // Blocks the gateway's event loop for `ms`, as a long pause of its own would (a full GC on a
      // large heap, a CPU-starved container): the latency benchmark's stall.
      stall: (ms: unknown) => {
        const until = performance.now() + Number(ms)
        while (performance.now() < until);
        return true
      },
      // CLOCK_MONOTONIC in microseconds: the clock of --cpu-prof's sample timestamps.
      now: () => ({ hrUs: Number(process.hrtime.bigint() / 1000n), perf: performance.now() }),
      cpu: () => process.cpuUsage(),
      status: () => gateway.source.status(),
      memory: (): MemoryReport => {
        const gc = (globalThis as { gc?: () => void }).gc
        gc?.()
        gc?.()
        const m = process.memoryUsage()
        return {
          rss: m.rss,
          heapUsed: m.heapUsed,
          heapTotal: m.heapTotal,
          external: m.external,
          arrayBuffers: m.arrayBuffers,
          mallocedMemory: getHeapStatistics().malloced_memory,
        }
      },
    },
    () => gateway.stop(2_000),
  )
}

main().catch(failStart)
