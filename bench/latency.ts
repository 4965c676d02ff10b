// Benchmark 1: added latency. From the Notifications WebSocket frame arriving at the gateway to
// the push request leaving for the sandbox, and to the sandbox's 200 coming back, at a steady
// 2,000 frames/s with the Redis store. Also records a --cpu-prof profile of the same load.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGatewayChild, sleep, until } from './lib/gateway.js'
import { drive, type DriveOptions, type DriveResult } from './lib/driver.js'
import { summariseProfile, type ProfileSummary } from './lib/profile.js'
import { NODE_FLAGS, RUNTIME_V8_FLAGS } from '../src/runtime-flags.js'
import { distribution, fmtInt, fmtMs, fmtSpread, sortedCopy, spread, type Distribution } from './lib/stats.js'
import { giveMainThreadACore, whyMainThreadCannotHaveACore } from './lib/cores.js'
import { LOAD_GENERATOR_NICE, lowerOwnPriority, schedStat, whyPriorityCannotBeLowered } from './lib/priority.js'
import { percentileChart } from './lib/svg.js'
import type { BenchContext, BenchOutput, Benchmark, Scale } from './lib/types.js'
import {
  addAgents,
  benchWorld,
  device,
  dropPrefix,
  localRedisPid,
  openBenchStore,
  seedDevices,
  uniquePrefix,
} from './lib/world.js'
import type { GcPauses, OutcomeRows } from './procs/gateway.js'

const TARGET_P99_MS = 5
const TARGET_P50_MS = 1

interface Plan {
  agents: number
  rate: number
  runs: number
  seconds: number
  warmupS: number
  holdMs: number
  profileS: number
  /** Lighter loads, one run each: how the added latency grows with the load. */
  lighterRates: number[]
  /** The gateway's event loop blocked for `ms`, `atS` into a run; `runs` runs with and without the intake gate. */
  stall: { ms: number; atS: number; runs: number }
}

function plan(scale: Scale, runs?: number): Plan {
  // The gateway's Notifications source puts every agent on one channel (at most 1000 topics).
  return scale === 'full'
    ? {
        agents: 1000,
        rate: 2000,
        runs: runs ?? 5,
        seconds: 15,
        warmupS: 2,
        holdMs: 300,
        profileS: 10,
        lighterRates: [250, 500, 1000],
        stall: { ms: 1000, atS: 4, runs: 3 },
      }
    : {
        agents: 200,
        rate: 2000,
        runs: runs ?? 2,
        seconds: 4,
        warmupS: 1,
        holdMs: 300,
        profileS: 3,
        lighterRates: [500],
        stall: { ms: 500, atS: 1.5, runs: 1 },
      }
}

interface RunFigures {
  drive: DriveResult
  added: Distribution
  roundTrip: Distribution
  /** The added latency in two parts: frame → decision, decision → request. */
  decide: Distribution
  send: Distribution
  byKind: Record<string, { added: Distribution; roundTrip: Distribution }>
  notDelivered: Record<string, number>
  delivered: number
  eventLoop: { p50: number; p99: number; max: number }
  /** The gateway's GC pauses during the run: scavenges per second, their median and longest, ms. */
  gc: {
    scavengesPerS: number
    scavengeP50: number
    scavengeMax: number
    otherMax: number
    /** Of the frames at or above the run's p99 (frame → request leaves), the share in flight during a GC pause. */
    tailInPause: number
  }
  /** Gateway process CPU (user + system) per 1,000 frames over the whole run. */
  cpuPer1000: number
  /**
   * The gateway's main thread: ms spent waiting for a core per 1 s spent on one, during the run
   * (Linux scheduler statistics; undefined where there are none).
   */
  waitPerRunS?: number
  /** Answer at Genesys → cancel accepted, wall clock, including any wait before the gateway read the frame. */
  cancelLate: Distribution
}

const KIND = ['APNs ring', 'APNs cancel', 'FCM ring', 'FCM cancel']

/**
 * Where the gateway runs beside the load generator and Redis, which in production are on other
 * machines (lib/priority.ts, lib/cores.ts):
 *   apart:  the load generator at a lower priority, and the gateway's main thread on a core of its
 *           own (each where this machine allows it): the published runs;
 *   niced:  the load generator at a lower priority, every core shared;
 *   shared: equal priority, every core shared.
 */
type Placement = 'apart' | 'niced' | 'shared'

interface Samples {
  added: number[]
  roundTrip: number[]
  kinds: number[]
  /** Frame arrives → the ring engine's decision. */
  decide: number[]
  /** The decision → the push request leaves. */
  send: number[]
}

function analyse(rows: OutcomeRows, fromPerf: number): Samples {
  const out: Samples = { added: [], roundTrip: [], kinds: [], decide: [], send: [] }
  for (let i = 0; i < rows.received.length; i++) {
    const r = rows.received[i] as number
    if (r < fromPerf) continue
    const sent = rows.sent[i] as number
    const decided = rows.decided[i] as number
    out.added.push(sent - r)
    out.roundTrip.push((rows.answered[i] as number) - r)
    out.kinds.push(rows.code[i] as number)
    if (Number.isFinite(decided)) {
      out.decide.push(decided - r)
      out.send.push(sent - decided)
    }
  }
  return out
}

/**
 * Of the frames at or above `p99` (frame arrives → push request leaves, the run's own), the share
 * whose time in the gateway overlapped a GC pause: how much of the tail the collector accounts for
 * directly (the frames that queued behind such a frame afterwards are not counted).
 */
function tailInPause(rows: OutcomeRows, fromPerf: number, p99: number, spans: number[]): number {
  let tail = 0
  let inPause = 0
  for (let i = 0; i < rows.received.length; i++) {
    const r = rows.received[i] as number
    const sent = rows.sent[i] as number
    if (r < fromPerf || sent - r < p99) continue
    tail++
    for (let j = 0; j < spans.length; j += 3)
      if ((spans[j] as number) < sent && (spans[j] as number) + (spans[j + 1] as number) > r) {
        inPause++
        break
      }
  }
  return tail === 0 ? 0 : inPause / tail
}

export const latency: Benchmark = {
  id: 'latency',
  title: '1. Added latency at 2,000 events/s (Redis store)',
  estimateS: (scale) => {
    const p = plan(scale)
    return 15 + (p.runs + p.lighterRates.length + 3 + 2 * p.stall.runs) * (p.seconds + 3) + p.profileS + 10
  },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = plan(ctx.scale, ctx.runs)
    const { progress } = ctx
    const stepsTotal = p.runs + p.lighterRates.length + 4 + 2 * p.stall.runs
    // The load generator (this process) at a lower CPU priority while the gateway is measured,
    // where the priority can be raised back afterwards (lib/priority.ts).
    const priorityRefused = whyPriorityCannotBeLowered()
    const lowered = priorityRefused === undefined
    if (priorityRefused)
      progress.note(`  latency: the load generator runs at the gateway's priority (${priorityRefused})`)
    const coreRefused = whyMainThreadCannotHaveACore()
    const ownCore = coreRefused === undefined
    if (coreRefused) progress.note(`  latency: the gateway's main thread shares every core (${coreRefused})`)
    const redisPid = ownCore ? await localRedisPid(ctx.redisUrl) : undefined
    let redisUnmoved = false
    // Every run gets a fresh world (simulator, sandboxes, agents, devices, Redis prefix): a world
    // reused across runs keeps every conversation and accepted push, and its growing heap slowed
    // the orchestrator's ticks and the sandboxes' answers run after run (p50 0.8 ms in the first
    // run, 240 ms in the fifth).
    const runOnce = async (
      flags: string[],
      seconds: number,
      step: number,
      rate = p.rate,
      catchUp: DriveOptions['catchUp'] = 'paced',
      stall?: { ms: number; atS: number; env: Record<string, string> },
      placement: Placement = 'apart',
    ): Promise<{
      fig: RunFigures
      samples: { added: number[]; roundTrip: number[] }
      window: { startUs: number; endUs: number }
    }> => {
      progress.update(step / stepsTotal, `seeding ${fmtInt(p.agents)} agents`)
      const world = await benchWorld({ keepAcceptedPushes: false })
      const prefix = uniquePrefix('latency')
      const agents = addAgents(world, p.agents)
      const queue = world.genesys.addQueue({ name: 'Bench Support' })
      const store = await openBenchStore(ctx.redisUrl, prefix)
      await seedDevices(
        store,
        agents.map((a, i) => device(a.userId, i % 2 === 0 ? 'ios' : 'android')),
      )
      await store.close()
      const cleanUp = async (): Promise<void> => {
        await world.close()
        await dropPrefix(prefix, ctx.redisUrl)
      }
      const gw = await startGatewayChild({
        world,
        storeUrl: ctx.redisUrl,
        storeKeyPrefix: prefix,
        nodeFlags: flags,
        ...(stall && { env: stall.env }),
      }).catch(async (err: unknown) => {
        await cleanUp()
        throw err
      })
      const what = flags.length
        ? 'profiling'
        : stall
          ? `a ${fmtMs(stall.ms)} stall`
          : placement === 'shared'
            ? 'load generator at equal priority, cores shared'
            : placement === 'niced'
              ? 'cores shared'
              : rate !== p.rate
                ? 'lighter load'
                : catchUp === 'at-once'
                  ? 'overdue frames at once'
                  : `run ${step + 1}/${p.runs}`
      let restorePriority: (() => void) | undefined
      let restoreCores: (() => void) | undefined
      try {
        await until(
          'the gateway to subscribe every agent',
          () => world.genesys.channels().some((c) => c.connected && c.topics.length === p.agents),
          30_000,
        )
        restorePriority = placement !== 'shared' && lowered ? lowerOwnPriority() : undefined
        if (placement === 'apart' && ownCore && gw.pid !== undefined) {
          const moved = giveMainThreadACore(gw.pid, redisPid === undefined ? [] : [redisPid])
          restoreCores = moved.restore
          if (moved.unmoved.length > 0) redisUnmoved = true
        }
        // A short warm-up at the same rate: JIT, TLS sessions, the provider token, Redis scripts.
        await drive({ world, agents, queueId: queue.id, framesPerS: rate, durationMs: 1000, holdMs: p.holdMs })
        await until('warm-up pushes', async () => (await gw.call<{ pending: number }>('counts')).pending === 0, 30_000)
        await gw.call('reset')
        const t0 = await gw.call<{ hrUs: number; perf: number }>('now')
        const cpu0 = await gw.call<NodeJS.CpuUsage>('cpu')
        const sched0 = schedStat(gw.pid)
        const stalled = stall && sleep(stall.atS * 1000).then(() => gw.call('stall', stall.ms))
        const d = await drive({
          world,
          agents,
          queueId: queue.id,
          framesPerS: rate,
          durationMs: seconds * 1000,
          holdMs: p.holdMs,
          catchUp,
          onTick: (ms) =>
            progress.update(
              (step + Math.min(1, ms / (seconds * 1000))) / stepsTotal,
              `${what}: ${fmtInt(rate)} frames/s`,
            ),
        })
        await stalled
        const t1 = await gw.call<{ hrUs: number; perf: number }>('now')
        const expected = d.offers + d.answers
        await until(
          'every push answered',
          async () => {
            const c = await gw.call<{ outcomes: number; pending: number }>('counts')
            return c.outcomes >= expected && c.pending === 0
          },
          60_000,
        )
        const cpu1 = await gw.call<NodeJS.CpuUsage>('cpu')
        const sched1 = schedStat(gw.pid)
        const rows = await gw.call<OutcomeRows>('rows')
        const eventLoop = await gw.call<{ p50: number; p99: number; max: number }>('eventLoop')
        const pauses = await gw.call<GcPauses>('gc')
        const scavenges = distribution(pauses.scavenges)
        const from = t0.perf + p.warmupS * 1000
        const s = analyse(rows, from)
        const added = distribution(s.added)
        const byKind: RunFigures['byKind'] = {}
        KIND.forEach((name, code) => {
          const a = s.added.filter((_, i) => s.kinds[i] === code)
          const r = s.roundTrip.filter((_, i) => s.kinds[i] === code)
          if (a.length) byKind[name] = { added: distribution(a), roundTrip: distribution(r) }
        })
        const fig: RunFigures = {
          drive: d,
          added,
          roundTrip: distribution(s.roundTrip),
          decide: distribution(s.decide),
          send: distribution(s.send),
          byKind,
          notDelivered: rows.notDelivered,
          delivered: rows.received.length,
          eventLoop,
          gc: {
            scavengesPerS: (pauses.scavenges.length / (t1.perf - t0.perf)) * 1000,
            scavengeP50: scavenges.p50,
            scavengeMax: scavenges.max,
            otherMax: Math.max(0, ...pauses.others),
            tailInPause: tailInPause(rows, from, added.p99, pauses.spans),
          },
          cpuPer1000: ((cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000 / d.frames) * 1000,
          ...(sched0 &&
            sched1 &&
            sched1.runNs > sched0.runNs && {
              waitPerRunS: ((sched1.waitNs - sched0.waitNs) / (sched1.runNs - sched0.runNs)) * 1000,
            }),
          cancelLate: distribution(rows.late.filter((v): v is number => typeof v === 'number' && Number.isFinite(v))),
        }
        return { fig, samples: s, window: { startUs: t0.hrUs + p.warmupS * 1e6, endUs: t1.hrUs } }
      } finally {
        restoreCores?.()
        restorePriority?.()
        await gw.stop()
        await cleanUp()
      }
    }

    const figs: RunFigures[] = []
    const pooledAdded: number[] = []
    const pooledRt: number[] = []
    for (let r = 0; r < p.runs; r++) {
      const { fig, samples } = await runOnce([], p.seconds, r)
      figs.push(fig)
      for (const v of samples.added) pooledAdded.push(v)
      for (const v of samples.roundTrip) pooledRt.push(v)
      await sleep(500)
    }

    const lighter: Array<{ rate: number; fig: RunFigures }> = []
    for (const [i, rate] of p.lighterRates.entries()) {
      const { fig } = await runOnce([], p.seconds, p.runs + i, rate)
      lighter.push({ rate, fig })
      await sleep(500)
    }

    // The same load once more, with the frames a generator stall left overdue sent in one burst.
    const { fig: atOnce } = await runOnce([], p.seconds, p.runs + p.lighterRates.length, p.rate, 'at-once')
    await sleep(500)

    // The same load once more with every core shared, then also at equal priority: what sharing
    // the machine with Genesys's and Apple's stand-ins costs the gateway.
    let niced: RunFigures | undefined
    if (lowered && ownCore) {
      const step = p.runs + p.lighterRates.length + 1
      niced = (await runOnce([], p.seconds, step, p.rate, 'paced', undefined, 'niced')).fig
      await sleep(500)
    }
    let equalPriority: RunFigures | undefined
    if (lowered || ownCore) {
      const step = p.runs + p.lighterRates.length + 2
      equalPriority = (await runOnce([], p.seconds, step, p.rate, 'paced', undefined, 'shared')).fig
      await sleep(500)
    }

    // A 1 s stall of the gateway's own event loop in the middle of the load, with the intake gate
    // (EVENTS_MAX_IN_FLIGHT at its default) and without it, alternately. Every core is shared here:
    // catching up sends a second's worth of pushes at once, and the sandboxes that answer them, in
    // the load generator, need more than the one core they have in the runs above (the gateway
    // then waited for their answers: 819 ms behind, gate or no gate, in one full run).
    const stalls: Record<'gate' | 'noGate', RunFigures[]> = { gate: [], noGate: [] }
    for (let i = 0; i < p.stall.runs; i++) {
      for (const variant of ['gate', 'noGate'] as const) {
        const env: Record<string, string> = variant === 'gate' ? {} : { EVENTS_MAX_IN_FLIGHT: '100000' }
        const step = p.runs + p.lighterRates.length + 3 + 2 * i + (variant === 'gate' ? 0 : 1)
        const stall = { ms: p.stall.ms, atS: p.stall.atS, env }
        const { fig } = await runOnce([], p.seconds, step, p.rate, 'paced', stall, 'niced')
        stalls[variant].push(fig)
        await sleep(500)
      }
    }

    let profile: ProfileSummary | undefined
    if (ctx.profile) {
      const dir = join(ctx.tmpDir, 'cpu-prof-latency')
      mkdirSync(dir, { recursive: true })
      const { window } = await runOnce(
        ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250'],
        p.profileS,
        p.runs + p.lighterRates.length + 3 + 2 * p.stall.runs,
      )
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
      if (file) {
        profile = summariseProfile(join(dir, file), window)
        // Kept outside the repository for a closer look (Chrome DevTools, speedscope).
        const keep = join(tmpdir(), 'push-gateway-bench')
        mkdirSync(keep, { recursive: true })
        copyFileSync(join(dir, file), join(keep, 'latency.cpuprofile'))
        progress.note(`  latency: CPU profile saved to ${join(keep, 'latency.cpuprofile')}`)
      }
    }
    return report(
      p,
      figs,
      pooledAdded,
      pooledRt,
      lighter,
      atOnce,
      stalls,
      {
        lowered,
        priorityRefused,
        ownCore,
        coreRefused,
        redis: redisPid === undefined ? 'elsewhere' : redisUnmoved ? 'unmoved' : 'moved',
        niced,
        equalPriority,
      },
      profile,
    )
  },
}

function report(
  p: Plan,
  figs: RunFigures[],
  pooledAdded: number[],
  pooledRt: number[],
  lighter: Array<{ rate: number; fig: RunFigures }>,
  atOnce: RunFigures,
  stalls: Record<'gate' | 'noGate', RunFigures[]>,
  placement: {
    lowered: boolean
    priorityRefused: string | undefined
    ownCore: boolean
    coreRefused: string | undefined
    /** Where Redis ran during the published runs: not on this machine, or kept off the gateway's core or not. */
    redis: 'elsewhere' | 'moved' | 'unmoved'
    niced: RunFigures | undefined
    equalPriority: RunFigures | undefined
  },
  profile?: ProfileSummary,
): BenchOutput {
  const sp = (f: (r: RunFigures) => number): ReturnType<typeof spread> => spread(figs.map(f))
  // How long the gateway took to catch up once a stall ended: its latest cancel, less the stall.
  const behind = (r: RunFigures): number => Math.max(0, r.cancelLate.max - p.stall.ms)
  const a50 = sp((r) => r.added.p50)
  const a99 = sp((r) => r.added.p99)
  const a999 = sp((r) => r.added.p999)
  const r50 = sp((r) => r.roundTrip.p50)
  const r99 = sp((r) => r.roundTrip.p99)
  const r999 = sp((r) => r.roundTrip.p999)
  const rate = sp((r) => (r.drive.frames / r.drive.elapsedMs) * 1000)
  const pooledA = distribution(pooledAdded)
  const pooledR = distribution(pooledRt)
  const lines: string[] = []
  lines.push(
    `${figs.length} runs of ${p.seconds} s each (first ${p.warmupS} s of each run not counted), ${fmtInt(p.agents)} agents with one device each (half iOS, half Android), offers answered after ${p.holdMs} ms: every frame is one push (a ring or its cancel). Figures are the median of the runs, with the range of the runs in brackets.`,
  )
  lines.push('')
  lines.push('| measured | p50 | p99 | p99.9 | max (pooled) | target |')
  lines.push('|---|---|---|---|---|---|')
  lines.push(
    `| frame arrives → push request leaves | ${fmtSpread(a50, fmtMs)} | ${fmtSpread(a99, fmtMs)} | ${fmtSpread(a999, fmtMs)} | ${fmtMs(pooledA.max)} | p50 ≤ ${TARGET_P50_MS} ms, p99 ≤ ${TARGET_P99_MS} ms |`,
  )
  lines.push(
    `| frame arrives → sandbox's 200 back | ${fmtSpread(r50, fmtMs)} | ${fmtSpread(r99, fmtMs)} | ${fmtSpread(r999, fmtMs)} | ${fmtMs(pooledR.max)} | |`,
  )
  lines.push('')
  const waited = (figures: RunFigures[]): string => {
    const w = figures.flatMap((f) => (f.waitPerRunS === undefined ? [] : [f.waitPerRunS]))
    return w.length ? fmtSpread(spread(w), (x) => `${x.toFixed(0)} ms`) : 'not measured (no scheduler statistics)'
  }
  const eq = placement.equalPriority
  const once = (label: string, r: RunFigures): string =>
    ` One more run of ${p.seconds} s ${label}: frame → push request leaves p50 ${fmtMs(r.added.p50)}, p99 ${fmtMs(r.added.p99)}, p99.9 ${fmtMs(r.added.p999)}; the gateway's main thread waited for a core ${waited([r])} per second it ran.`
  const loadGenerator =
    'the load generator (the orchestrator process: the Genesys simulator, the APNs and FCM sandboxes, the driver)'
  const priorityText = placement.lowered
    ? `${loadGenerator} ran at nice ${LOAD_GENERATOR_NICE}`
    : `${loadGenerator} ran at the gateway's priority (it could not be lowered and raised back here: ${placement.priorityRefused ?? 'unknown'})`
  const redisText = {
    elsewhere: 'Redis is not on this machine',
    moved: 'Redis shared the other cores with them',
    unmoved: 'Redis could not be moved and used every core',
  }[placement.redis]
  const coreText = placement.ownCore
    ? `The gateway's main thread, which runs its event loop, had the first core to itself; the gateway's other threads (V8's GC and compiler helpers) and the load generator shared the other cores. ${redisText}.`
    : `Every process shared every core (the main thread could not be given a core of its own here: ${placement.coreRefused ?? 'unknown'}).`
  lines.push(
    `While the gateway was measured, ${priorityText}. ${coreText} In production none of them shares the gateway's machine; here the gateway, the load generator and Redis share this machine's cores, and at equal priority the gateway waits behind the load generator for one. The gateway's main thread waited for a core ${waited(figs)} per second it ran.` +
      (placement.niced
        ? once(`with the load generator at nice ${LOAD_GENERATOR_NICE} and every core shared`, placement.niced)
        : '') +
      (eq ? once("with the load generator at the gateway's priority and every core shared", eq) : ''),
  )
  lines.push('')
  lines.push(
    "Where the added latency goes: from the frame to the ring engine's decision (the agent's devices from the cache, the ring's claim in Redis: one round trip), then from the decision to the push request leaving (dispatcher, payload, provider token, HTTP/2 stream). A GC pause or a busy event loop adds to whichever part it falls in.",
  )
  lines.push('')
  lines.push('| part | p50 | p99 | p99.9 |')
  lines.push('|---|---|---|---|')
  for (const [label, part] of [
    ["frame arrives → ring engine's decision", (r: RunFigures) => r.decide],
    ['decision → push request leaves', (r: RunFigures) => r.send],
  ] as const) {
    const cell = (q: (d: Distribution) => number): string =>
      fmtSpread(
        sp((r) => q(part(r))),
        fmtMs,
      )
    lines.push(`| ${label} | ${cell((d) => d.p50)} | ${cell((d) => d.p99)} | ${cell((d) => d.p999)} |`)
  }
  lines.push('')
  lines.push('By push (pooled over the runs):')
  lines.push('')
  lines.push('| push | n | → request p50 | → request p99 | → 200 p50 | → 200 p99 |')
  lines.push('|---|---|---|---|---|---|')
  for (const kind of KIND) {
    const a = figs.flatMap((f) => (f.byKind[kind] ? [f.byKind[kind]] : []))
    if (a.length === 0) continue
    const med = (g: (x: (typeof a)[number]) => number): string => fmtMs(spread(a.map(g)).median)
    lines.push(
      `| ${kind} | ${fmtInt(a.reduce((s, x) => s + x.added.n, 0))} | ${med((x) => x.added.p50)} | ${med((x) => x.added.p99)} | ${med((x) => x.roundTrip.p50)} | ${med((x) => x.roundTrip.p99)} |`,
    )
  }
  lines.push('')
  const lost = figs.reduce((s, f) => s + Object.values(f.notDelivered).reduce((a, b) => a + b, 0), 0)
  lines.push(
    `Load actually offered: ${fmtSpread(rate, fmtInt)} frames/s; pushes delivered ${fmtInt(figs.reduce((s, f) => s + f.delivered, 0))}, not delivered ${fmtInt(lost)}${lost ? ` (${JSON.stringify(Object.assign({}, ...figs.map((f) => f.notDelivered)))})` : ''}. Gateway CPU per 1,000 frames (user + system, each frame one push): ${fmtSpread(
      sp((r) => r.cpuPer1000),
      (x) => `${x.toFixed(0)} ms`,
    )}. Gateway event-loop delay p99 ${fmtSpread(
      sp((r) => r.eventLoop.p99),
      fmtMs,
    )}, max ${fmtSpread(
      sp((r) => r.eventLoop.max),
      fmtMs,
    )}; driver tick gap max ${fmtSpread(
      sp((r) => r.drive.maxTickGapMs),
      fmtMs,
    )}, driver stalls over 10 ms ${fmtSpread(
      sp((r) => r.drive.stalls),
      fmtInt,
    )} per run (the load generator's own GC pauses), most frames overdue at once ${fmtSpread(
      sp((r) => r.drive.maxBacklog),
      fmtInt,
    )}: they went out paced, at up to 1.5 × the rate, until the driver was back on schedule. ` +
      `Gateway GC: ${fmtSpread(
        sp((r) => r.gc.scavengesPerS),
        (x) => x.toFixed(1),
      )} scavenges per second, each pausing ${fmtSpread(
        sp((r) => r.gc.scavengeP50),
        fmtMs,
      )} (median; longest ${fmtSpread(
        sp((r) => r.gc.scavengeMax),
        fmtMs,
      )}), other collections' longest pause ${fmtSpread(
        sp((r) => r.gc.otherMax),
        fmtMs,
      )}: every frame in flight waits out each pause. Of the frames at or above each run's p99, ${fmtSpread(
        sp((r) => r.gc.tailInPause * 100),
        (x) => `${x.toFixed(0)} %`,
      )} were in the gateway during a pause; the rest waited behind other frames, for Redis's answer or for a core.`,
  )
  if (lighter.length > 0) {
    lines.push('')
    lines.push(`#### Added latency by load`)
    lines.push('')
    lines.push(
      `One run of ${p.seconds} s at each lighter load (same agents, same hold), beside the median of the runs above. The gateway is one Node.js process: its CPU per frame sets how close to a full core it runs, and bursts queue behind the frames in front of them.`,
    )
    lines.push('')
    lines.push(
      '| frames/s offered | frame → push sent p50 | p99 | p99.9 | gateway CPU per 1,000 frames | event-loop delay p99 |',
    )
    lines.push('|---|---|---|---|---|---|')
    const row = (rate: string, f: { added: Distribution; cpuPer1000: number; eventLoop: { p99: number } }): string =>
      `| ${rate} | ${fmtMs(f.added.p50)} | ${fmtMs(f.added.p99)} | ${fmtMs(f.added.p999)} | ${f.cpuPer1000.toFixed(0)} ms | ${fmtMs(f.eventLoop.p99)} |`
    for (const l of lighter) lines.push(row(fmtInt(l.rate), l.fig))
    lines.push(
      row(`${fmtInt(p.rate)} (median of the runs above)`, {
        added: { ...pooledA, p50: a50.median, p99: a99.median, p999: a999.median },
        cpuPer1000: sp((r) => r.cpuPer1000).median,
        eventLoop: { p99: sp((r) => r.eventLoop.p99).median },
      }),
    )
  }
  lines.push('')
  lines.push(`#### When the load generator bursts`)
  lines.push('')
  lines.push(
    `The load generator is a Node.js process too, and its own GC pauses leave frames overdue. In the runs above they go out paced (at up to 1.5 × the rate). One more run of ${p.seconds} s sends them all in the tick after the pause instead: ${fmtInt(p.rate / 100)} frames reach the gateway at once for every 10 ms of pause, and the last of them waits for the ones in front. ` +
      `That run: frame → push sent p50 ${fmtMs(atOnce.added.p50)}, p99 ${fmtMs(atOnce.added.p99)}, p99.9 ${fmtMs(atOnce.added.p999)}, max ${fmtMs(atOnce.added.max)}; ${fmtInt(atOnce.drive.stalls)} driver stalls over 10 ms, the longest ${fmtMs(atOnce.drive.maxTickGapMs)}, up to ${fmtInt(atOnce.drive.maxBacklog)} frames sent at once.`,
  )
  lines.push('')
  lines.push(`#### After a stall`)
  lines.push('')
  lines.push(
    `The gateway's event loop is blocked for ${fmtMs(p.stall.ms)} (a full GC on a big heap, a CPU-starved container) ${p.stall.atS} s into a run of ${p.seconds} s at ${fmtInt(p.rate)} frames/s; meanwhile Genesys keeps sending. Measured per cancel, from the answer at Genesys (the snapshot's connectedTime, wall clock on this machine, ms resolution) to the push service accepting the cancel: unlike the figures above, this counts the time a frame waited before the gateway read it. "Behind after the stall" is the latest cancel minus the stall: how long the gateway took to catch up once it could run again. ${p.stall.runs} runs of each, alternating; median, range in brackets. These runs share every core: catching up sends a second's worth of pushes at once, and the sandboxes that answer them need more than one core.`,
  )
  lines.push('')
  lines.push('| intake | answer → cancel accepted p50 | p99 | max | behind after the stall |')
  lines.push('|---|---|---|---|---|')
  for (const [variant, label] of [
    ['gate', '`EVENTS_MAX_IN_FLIGHT` 64 (default): sockets not read while 64 events are being decided'],
    ['noGate', 'no limit (100000): every frame read and started at once'],
  ] as const) {
    const runs = stalls[variant]
    if (runs.length === 0) continue
    const s = (f: (r: RunFigures) => number): string => fmtSpread(spread(runs.map(f)), fmtMs)
    lines.push(
      `| ${label} | ${s((r) => r.cancelLate.p50)} | ${s((r) => r.cancelLate.p99)} | ${s((r) => r.cancelLate.max)} | ${s(behind)} |`,
    )
  }
  if (profile) {
    lines.push('')
    lines.push(`#### CPU profile of the hot path`)
    lines.push('')
    lines.push(
      `\`node --cpu-prof\` on the gateway process during ${(profile.windowMs / 1000).toFixed(1)} s of the same load (${profile.windowed ? 'start-up excluded' : 'whole process: the load window could not be isolated'}): busy ${fmtMs(profile.busyMs)}, idle ${fmtMs(profile.idleMs)} (${((profile.busyMs / (profile.busyMs + profile.idleMs)) * 100).toFixed(0)} % of one core busy). Self time by function:`,
    )
    lines.push('')
    lines.push('| self time | share of busy | function | where |')
    lines.push('|---|---|---|---|')
    for (const e of profile.top)
      lines.push(`| ${fmtMs(e.selfMs)} | ${(e.share * 100).toFixed(1)} % | \`${e.name}\` | ${e.where} |`)
    lines.push('')
    lines.push("The gateway's own functions by inclusive time (the function and everything it called):")
    lines.push('')
    lines.push('| inclusive time | share of busy | function | where |')
    lines.push('|---|---|---|---|')
    for (const e of profile.inclusive)
      lines.push(`| ${fmtMs(e.selfMs)} | ${(e.share * 100).toFixed(1)} % | \`${e.name}\` | ${e.where} |`)
    lines.push('')
    lines.push('Busy time by origin:')
    lines.push('')
    lines.push('| origin | self time | share |')
    lines.push('|---|---|---|')
    for (const o of profile.byOrigin.slice(0, 12))
      lines.push(`| ${o.origin} | ${fmtMs(o.selfMs)} | ${(o.share * 100).toFixed(1)} % |`)
  }
  const svg = percentileChart({
    title: `Added latency at ${fmtInt(p.rate)} frames/s, Redis store`,
    yLabel: 'milliseconds after the frame arrived',
    series: [
      { name: 'push request leaves', sorted: sortedCopy(pooledAdded) },
      { name: "sandbox's 200 back", sorted: sortedCopy(pooledRt) },
    ],
    target: { value: TARGET_P99_MS, label: `target p99 ≤ ${TARGET_P99_MS} ms` },
  })
  return {
    id: 'latency',
    title: latency.title,
    markdown: lines.join('\n'),
    method:
      'The real gateway (Gateway from src/app.ts, Redis store under a unique key prefix, logs at info written to /dev/null) runs in a child process with the Node.js flags of production (src/runtime-flags.ts: ' +
      NODE_FLAGS.join(' ') +
      ', and ' +
      RUNTIME_V8_FLAGS.join(' ') +
      " set by the gateway on itself); the Genesys simulator and the APNs and FCM sandboxes run in the orchestrator process, apart from the gateway's, at a lower CPU priority while the gateway is measured where the machine allows it (see above). Redis runs on the same two cores: when they are busy, a ring's claim waits for Redis to be scheduled (the frame → decision part above). " +
      `The simulator offers calls to ${fmtInt(p.agents)} agents and answers each ${p.holdMs} ms later, ${fmtInt(p.rate)} conversation changes per second in total, each published as Genesys does (the whole conversation snapshot on the agent's v2.users.{id}.conversations topic). ` +
      'The gateway subscribes all agents on one Notifications channel (its source uses one channel of up to 1000 topics today), so the 2,000 frames/s arrive on one WebSocket rather than 20 channels × 100 msg/s; the work per frame is the same. ' +
      'The driver ticks every 2 ms and sends the frames due; after a pause of its own (its GC) it sends the overdue frames at up to 1.5 × the rate until it is back on schedule, as a sender that paces its channels does, rather than in one burst (the burst is measured separately above). ' +
      "Timestamps are performance.now() in the gateway process: the RoutingEvent's receivedAtHr (taken when the WebSocket message event fires) and the dispatcher's sentAtHr / answeredAtHr from onOutcome.",
    charts: [{ file: 'latency.svg', alt: 'Latency percentile distribution', svg }],
    headline: [
      {
        figure: 'frame → push sent, p50',
        value: fmtSpread(a50, fmtMs),
        target: `≤ ${TARGET_P50_MS} ms`,
        pass: a50.median <= TARGET_P50_MS,
      },
      {
        figure: 'frame → push sent, p99',
        value: fmtSpread(a99, fmtMs),
        target: `≤ ${TARGET_P99_MS} ms`,
        pass: a99.median <= TARGET_P99_MS,
      },
      { figure: 'frame → push sent, p99.9', value: fmtSpread(a999, fmtMs) },
      ...(placement.niced
        ? [
            {
              figure: `frame → push sent, p50 / p99 with every core shared (one run; above: the gateway's main thread on a core of its own)`,
              value: `${fmtMs(placement.niced.added.p50)} / ${fmtMs(placement.niced.added.p99)}`,
            },
          ]
        : []),
      ...(eq
        ? [
            {
              figure: `frame → push sent, p50 / p99 with every core shared and the load generator at the gateway's priority (one run)`,
              value: `${fmtMs(eq.added.p50)} / ${fmtMs(eq.added.p99)}`,
            },
          ]
        : []),
      {
        figure: "p99 of its parts: frame → ring engine's decision / decision → request leaves",
        value: `${fmtMs(sp((r) => r.decide.p99).median)} / ${fmtMs(sp((r) => r.send.p99).median)}`,
      },
      { figure: "frame → sandbox's 200, p99", value: fmtSpread(r99, fmtMs) },
      {
        figure: 'gateway CPU per 1,000 frames',
        value: fmtSpread(
          sp((r) => r.cpuPer1000),
          (x) => `${x.toFixed(0)} ms`,
        ),
      },
      {
        figure: `behind after a ${fmtMs(p.stall.ms)} stall (last cancel − stall), with / without the intake gate`,
        value: `${fmtMs(spread(stalls.gate.map(behind)).median)} / ${fmtMs(spread(stalls.noGate.map(behind)).median)}`,
      },
      {
        figure: 'gateway scavenge pause, median / longest',
        value: `${fmtMs(sp((r) => r.gc.scavengeP50).median)} / ${fmtMs(sp((r) => r.gc.scavengeMax).median)}`,
      },
    ],
    data: {
      plan: p,
      runs: figs,
      pooled: { added: pooledA, roundTrip: pooledR },
      lighter,
      atOnce,
      stalls,
      loadGenerator: {
        nice: placement.lowered ? LOAD_GENERATOR_NICE : 0,
        refused: placement.priorityRefused,
        mainThreadOwnCore: placement.ownCore,
        coreRefused: placement.coreRefused,
        redis: placement.redis,
        niced: placement.niced,
        equalPriority: eq,
      },
      profile,
    },
  }
}
