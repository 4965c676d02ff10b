// Throughput of two push clients against one sandbox, measured in the same run: the clients take
// turns (A B, B A, A B …) so drift in the machine's load hits both alike, and the ratio is taken
// per round. The sandbox runs here, the clients in a child process (bench/procs/push-client.ts).
import { Child } from './child.js'
import { fmtInt, fmtRatio, fmtSpread, spread, type Spread } from './stats.js'
import { barChart } from './svg.js'
import type { BenchContext, Chart, Scale } from './types.js'
import { benchWorld } from './world.js'
import type { TestWorld } from '../../src/sim/world.js'
import type { PushClientArgs, ThroughputRun } from '../procs/push-client.js'

export interface ClientFigures {
  name: string
  runs: ThroughputRun[]
  /** Orchestrator (sandbox) CPU per run, ms. */
  sandboxCpuMs: number[]
  rate: Spread
  cpuPer1000: Spread
  sandboxCpuPer1000: Spread
}

export interface PairFigures {
  a: ClientFigures
  b: ClientFigures
  /** a / b per round. */
  ratio: Spread
  /** Client CPU per push, a / b per round (lower is better for a). */
  cpuRatio: Spread
}

/** Sizes shared by the APNs and FCM throughput benchmarks. */
// Each client's warm-up is one untimed round of the full size: with 2,000 pushes the first timed
// round of either client still ran partly unoptimised code (its CPU per push up to 1.5× the later
// rounds'), and which client that hit more decided the ratio.
export const throughputPlan = (scale: Scale, runs?: number): { devices: number; rounds: number; warm: number } =>
  scale === 'full'
    ? { devices: 10_000, rounds: runs ?? 5, warm: 10_000 }
    : { devices: 2_000, rounds: runs ?? 2, warm: 500 }

function startPushClient(args: PushClientArgs): Promise<Child> {
  return Child.start(new URL('../procs/push-client.ts', import.meta.url), {
    args: [Buffer.from(JSON.stringify(args)).toString('base64')],
  })
}

/** The sandboxes, and a push-client child aimed at both, for the time of `run`. */
export async function withPushClient<T>(
  devices: number,
  run: (world: TestWorld, child: Child) => Promise<T>,
): Promise<T> {
  // Apple keeps nothing of a push: the APNs sandbox counts them instead of holding 10,000 per round.
  const world = await benchWorld({ keepAcceptedPushes: false })
  try {
    const child = await startPushClient({
      ca: world.pki.caCert,
      apns: {
        url: world.apns.url,
        keyId: world.apnsKey.keyId,
        teamId: world.apnsKey.teamId,
        privateKeyPem: world.apnsKey.privateKeyPem,
        topic: world.bundleId,
      },
      fcm: { url: world.fcm.url, serviceAccount: world.serviceAccount },
      devices,
    })
    try {
      return await run(world, child)
    } finally {
      await child.stop()
    }
  } finally {
    await world.close()
  }
}

export async function racePair(o: {
  ctx: BenchContext
  child: Child
  cmd: 'apns' | 'fcm'
  clients: [string, string]
  labels: [string, string]
  rounds: number
  count: number
  warm: number
  /** Pushes the sandbox accepted since the last call (and forget them). */
  accepted: () => number
}): Promise<PairFigures> {
  const runs: [ThroughputRun[], ThroughputRun[]] = [[], []]
  const sandbox: [number[], number[]] = [[], []]
  const ratios: number[] = []
  const cpuRatios: number[] = []
  o.accepted()
  for (let r = 0; r < o.rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0]
    const rates: number[] = [0, 0]
    const cpuPerPush: number[] = [0, 0]
    for (const [k, idx] of order.entries()) {
      o.ctx.progress.update(
        (r * 2 + k) / (o.rounds * 2),
        `round ${r + 1}/${o.rounds}: ${o.labels[idx as 0 | 1]}, ${fmtInt(o.count)} pushes`,
      )
      const cpu0 = process.cpuUsage()
      const run = await o.child.call<ThroughputRun>(o.cmd, {
        client: o.clients[idx as 0 | 1],
        count: o.count,
        warm: o.warm,
      })
      const cpu = process.cpuUsage(cpu0)
      const accepted = o.accepted()
      if (run.delivered !== o.count || accepted < o.count) {
        throw new Error(
          `${o.labels[idx as 0 | 1]}: delivered ${run.delivered}, sandbox accepted ${accepted} of ${o.count}: ${run.firstError ?? ''}`,
        )
      }
      runs[idx as 0 | 1].push(run)
      sandbox[idx as 0 | 1].push((cpu.user + cpu.system) / 1000)
      rates[idx as 0 | 1] = (run.pushes / run.ms) * 1000
      cpuPerPush[idx as 0 | 1] = (run.cpuUserMs + run.cpuSystemMs) / run.pushes
    }
    ratios.push((rates[0] as number) / (rates[1] as number))
    cpuRatios.push((cpuPerPush[0] as number) / (cpuPerPush[1] as number))
  }
  const figures = (i: 0 | 1): ClientFigures => ({
    name: o.labels[i],
    runs: runs[i],
    sandboxCpuMs: sandbox[i],
    rate: spread(runs[i].map((x) => (x.pushes / x.ms) * 1000)),
    cpuPer1000: spread(runs[i].map((x) => ((x.cpuUserMs + x.cpuSystemMs) / x.pushes) * 1000)),
    sandboxCpuPer1000: spread(sandbox[i].map((ms, j) => (ms / (runs[i][j] as ThroughputRun).pushes) * 1000)),
  })
  return { a: figures(0), b: figures(1), ratio: spread(ratios), cpuRatio: spread(cpuRatios) }
}

export function pairTable(f: PairFigures): string {
  const row = (c: ClientFigures): string =>
    `| ${c.name} | ${fmtSpread(c.rate, fmtInt)} | ${fmtSpread(c.cpuPer1000, (x) => `${x.toFixed(0)} ms`)} | ${fmtSpread(c.sandboxCpuPer1000, (x) => `${x.toFixed(0)} ms`)} |`
  return [
    '| client | pushes/s | client CPU per 1,000 pushes | sandbox CPU per 1,000 pushes |',
    '|---|---|---|---|',
    row(f.a),
    row(f.b),
    '',
    `Ratio ${f.a.name} / ${f.b.name}, measured per round: ${fmtSpread(f.ratio, fmtRatio)} (rounds: ${f.ratio.runs.map(fmtRatio).join(', ')}); client CPU per push, same ratio: ${fmtSpread(f.cpuRatio, fmtRatio)} (rounds: ${f.cpuRatio.runs.map(fmtRatio).join(', ')}).`,
  ].join('\n')
}

export function pairChart(
  file: string,
  title: string,
  f: PairFigures,
  target?: { value: number; label: string },
): Chart {
  return {
    file,
    alt: title,
    svg: barChart({
      title,
      yLabel: 'pushes per second',
      bars: [f.a, f.b].map((c, i) => ({
        label: c.name,
        value: c.rate.median,
        min: c.rate.min,
        max: c.rate.max,
        group: i,
      })),
      ...(target ? { target } : {}),
    }),
  }
}
