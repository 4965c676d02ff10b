// Benchmark 2: APNs throughput, our provider against @parse/node-apn, same sandbox, same run.
import { fmtInt, fmtRatio, fmtSpread } from './lib/stats.js'
import { pairChart, pairTable, racePair, throughputPlan, withPushClient } from './lib/throughput.js'
import type { BenchContext, BenchOutput, Benchmark } from './lib/types.js'

// Throughput at least node-apn's; client CPU per push at most 0.8× node-apn's (the robust figure:
// the throughput ratio is bounded by the sandbox, a node:http2 server sharing the machine).
const TARGET_RATIO = 1
const TARGET_CPU_RATIO = 0.8

export const apns: Benchmark = {
  id: 'apns',
  title: '2. APNs throughput against @parse/node-apn',
  estimateS: (scale) => (scale === 'full' ? 70 : 15),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = throughputPlan(ctx.scale, ctx.runs)
    return withPushClient(p.devices, async (world, child) => {
      const f = await racePair({
        ctx,
        child,
        cmd: 'apns',
        clients: ['ours', 'node-apn'],
        labels: ['gateway (createApnsProvider)', '@parse/node-apn 8.1'],
        rounds: p.rounds,
        count: p.devices,
        warm: p.warm,
        accepted: () => {
          const n = world.apns.acceptedCount
          world.apns.resetStats()
          return n
        },
      })
      const ours = f.a
      return {
        id: 'apns',
        title: apns.title,
        markdown: `${p.rounds} rounds; in each, every client sends one ring to each of ${fmtInt(p.devices)} distinct device tokens, at most 1,000 in flight per client (node-apn overflows its own HTTP/2 session with more).\n\n${pairTable(f)}`,
        method:
          "The APNs sandbox (src/sim/apns: HTTP/2 over TLS, ES256 provider-token checks, Apple's header and payload rules) runs in the orchestrator process; both clients run in one child process, created once and warmed up with one untimed round each, so process.cpuUsage() there counts client work only (the sandbox's CPU is reported beside it). " +
          "The sandbox counts accepted pushes instead of keeping them (keepAccepted: false), as Apple keeps nothing; it is node:http2's server, and at these rates it, not our client, sets the pace on its core: compare the CPU per 1,000 pushes too. " +
          'Our provider is createApnsProvider with its defaults (up to 2 connections from its node:http2 pool, src/providers/http2-pool.ts, with liveness PINGs; one shared JWT); @parse/node-apn 8.1, on node:http2, is configured for the same sandbox with `address`, `port`, `ca` and token auth with the same .p8 key, and sent the same payload and headers (alert push, priority 10, expiration, collapse id) one notification per push. ' +
          'The clients alternate (A B, B A, …) and the ratio is taken within each round. Every push is checked: the run fails unless the sandbox accepted all of them.',
        charts: [pairChart('apns-throughput.svg', 'APNs pushes per second (same sandbox, same run)', f)],
        headline: [
          { figure: 'gateway pushes/s', value: fmtSpread(ours.rate, fmtInt) },
          { figure: '@parse/node-apn pushes/s', value: fmtSpread(f.b.rate, fmtInt) },
          {
            figure: 'ratio gateway / node-apn',
            value: fmtSpread(f.ratio, fmtRatio),
            target: `≥ ${TARGET_RATIO}×`,
            pass: f.ratio.median >= TARGET_RATIO,
          },
          { figure: 'gateway CPU per 1,000 pushes', value: fmtSpread(ours.cpuPer1000, (x) => `${x.toFixed(0)} ms`) },
          { figure: 'node-apn CPU per 1,000 pushes', value: fmtSpread(f.b.cpuPer1000, (x) => `${x.toFixed(0)} ms`) },
          {
            figure: 'CPU per push, gateway / node-apn',
            value: fmtSpread(f.cpuRatio, fmtRatio),
            target: `≤ ${TARGET_CPU_RATIO}×`,
            pass: f.cpuRatio.median <= TARGET_CPU_RATIO,
          },
        ],
        data: { plan: p, figures: f },
      }
    })
  },
}
