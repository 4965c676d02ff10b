// Benchmark 3: FCM throughput (HTTP v1, access token cached): our HTTP/2 provider against a plain
// undici HTTP/1.1 keep-alive client, the usual shape of a Node FCM integration.
import { fmtInt, fmtRatio, fmtSpread } from './lib/stats.js'
import { pairChart, pairTable, racePair, throughputPlan, withPushClient } from './lib/throughput.js'
import type { BenchContext, BenchOutput, Benchmark } from './lib/types.js'

export const fcm: Benchmark = {
  id: 'fcm',
  title: '3. FCM throughput',
  estimateS: (scale) => (scale === 'full' ? 60 : 15),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = throughputPlan(ctx.scale, ctx.runs)
    return withPushClient(p.devices, async (world, child) => {
      const tokensBefore = world.fcm.tokensIssued
      const f = await racePair({
        ctx,
        child,
        cmd: 'fcm',
        clients: ['ours', 'undici'],
        labels: ['gateway (HTTP/2, streams multiplexed)', 'undici HTTP/1.1 keep-alive, 4 connections'],
        rounds: p.rounds,
        count: p.devices,
        warm: p.warm,
        accepted: () => world.fcm.accepted.splice(0).length,
      })
      const tokens = world.fcm.tokensIssued - tokensBefore
      return {
        id: 'fcm',
        title: fcm.title,
        markdown: `${p.rounds} rounds of ${fmtInt(p.devices)} data messages to distinct registration tokens, at most 1,000 in flight per client. OAuth access tokens fetched during the whole benchmark: ${tokens} per client mode (cached and shared by every send).\n\n${pairTable(f)}`,
        method:
          'The FCM HTTP v1 sandbox (src/sim/fcm: OAuth JWT-bearer token endpoint, messages:send validated as Google does) runs in the orchestrator; createFcmProvider runs in a child process, created once and warmed up with one untimed round (the access token is fetched then, and cached). ' +
          'The comparison is a plain undici client doing what most Node FCM integrations do (one HTTP/1.1 keep-alive request per message, 4 connections, the same cached access token): firebase-admin, the official SDK, cannot be aimed at a local sandbox with its own CA, and is not a dependency.',
        charts: [pairChart('fcm-throughput.svg', 'FCM sends per second (same sandbox, same run)', f)],
        headline: [
          { figure: 'gateway pushes/s', value: fmtSpread(f.a.rate, fmtInt) },
          { figure: 'CPU per 1,000 pushes', value: fmtSpread(f.a.cpuPer1000, (x) => `${x.toFixed(0)} ms`) },
          { figure: 'ratio gateway / undici HTTP/1.1', value: fmtSpread(f.ratio, fmtRatio) },
        ],
        data: { plan: p, figures: f, accessTokensFetched: tokens },
      }
    })
  },
}
