// Benchmark 9: push connections when the network breaks, through the loopback TCP proxy of
// src/sim/net-proxy.ts between our APNs provider and the APNs sandbox:
// - a path that goes silent under an open connection (a NAT forgetting the flow): how long from
//   the push to its delivery on a new connection;
// - APNs refusing every connection while pushes keep waiting: connect attempts per minute.
import { performance } from 'node:perf_hooks'
import type * as ApnsModule from '../src/providers/apns.js'
import type * as LoggerModule from '../src/observability/logger.js'
import type { ApnsMessage, PushProvider } from '../src/providers/provider.js'
import { startNetProxy } from '../src/sim/net-proxy.js'
import type { TestWorld } from '../src/sim/world.js'
import { productModule } from './lib/product.js'
import { fmtInt, fmtMs, fmtSpread, spread } from './lib/stats.js'
import type { BenchContext, BenchOutput, Benchmark } from './lib/types.js'
import { benchWorld } from './lib/world.js'

const { createApnsProvider } = await productModule<typeof ApnsModule>('providers/apns.js')
const { silentLogger } = await productModule<typeof LoggerModule>('observability/logger.js')

let counter = 0
function ring(world: TestWorld): ApnsMessage {
  counter++
  return {
    provider: 'apns',
    token: counter.toString(16).padStart(8, '0').repeat(8),
    environment: 'sandbox',
    topic: world.bundleId,
    pushType: 'alert',
    priority: 10,
    expiration: 0,
    collapseId: `conv-${counter}`,
    payload: {
      aps: { alert: { title: 'Incoming call', body: 'Queue Support' } },
      action: 'ring',
      genesys_conversation_id: `conv-${counter}`,
    },
  }
}

function provider(world: TestWorld, url: string): PushProvider<ApnsMessage> {
  return createApnsProvider({
    key: { keyId: world.apnsKey.keyId, teamId: world.apnsKey.teamId, privateKeyPem: world.apnsKey.privateKeyPem },
    url,
    ca: world.pki.caCert,
    logger: silentLogger(),
  })
}

/** Push → delivered when the open connection's path has gone silent. */
async function deadPathOnce(world: TestWorld): Promise<number> {
  const proxy = await startNetProxy({ target: { port: Number(new URL(world.apns.url).port) } })
  const apns = provider(world, proxy.url)
  try {
    const warm = await apns.send(ring(world))
    if (warm.kind !== 'delivered') throw new Error(`warm-up push not delivered: ${JSON.stringify(warm)}`)
    proxy.blackHoleExisting()
    const started = performance.now()
    const result = await apns.send(ring(world))
    if (result.kind !== 'delivered') throw new Error(`push over a dead path not delivered: ${JSON.stringify(result)}`)
    return performance.now() - started
  } finally {
    await apns.close()
    await proxy.close()
  }
}

/** Connect attempts while APNs refuses connections for `outageMs` and pushes keep waiting. */
async function outageOnce(
  world: TestWorld,
  outageMs: number,
): Promise<{ attempts: number; perMinute: number; delivered: number }> {
  const proxy = await startNetProxy({ target: { port: Number(new URL(world.apns.url).port) } })
  proxy.setMode('refuse')
  const apns = provider(world, proxy.url)
  const sends: Array<Promise<unknown>> = []
  try {
    // Rings keep arriving (10 a second), each waiting up to 30 s, as during a real outage.
    const started = performance.now()
    while (performance.now() - started < outageMs) {
      sends.push(apns.send(ring(world), AbortSignal.timeout(30_000)))
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const attempts = proxy.connects
    proxy.setMode('pass')
    const results = (await Promise.all(sends)) as Array<{ kind: string }>
    return {
      attempts,
      perMinute: (attempts / outageMs) * 60_000,
      delivered: results.filter((r) => r.kind === 'delivered').length,
    }
  } finally {
    await apns.close()
    await proxy.close()
  }
}

export const connections: Benchmark = {
  id: 'connections',
  title: '9. Push connections when the network breaks',
  estimateS: (scale) => (scale === 'full' ? 90 : 35),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const runs = ctx.runs ?? (ctx.scale === 'full' ? 5 : 2)
    const outageMs = ctx.scale === 'full' ? 60_000 : 15_000
    const world = await benchWorld()
    try {
      const detect: number[] = []
      for (let i = 0; i < runs; i++) {
        ctx.progress.update(i / (runs + 1), `dead path ${i + 1}/${runs}`)
        detect.push(await deadPathOnce(world))
      }
      ctx.progress.update(runs / (runs + 1), `APNs refusing connections for ${outageMs / 1000} s`)
      const outage = await outageOnce(world, outageMs)
      const detected = spread(detect)
      return {
        id: 'connections',
        title: connections.title,
        markdown: [
          '| measured | figure |',
          '|---|---|',
          `| push → delivered on a new connection, the open one's path silent | ${fmtSpread(detected, fmtMs)} (${runs} runs) |`,
          `| connect attempts during a ${outageMs / 1000} s outage (pushes waiting throughout) | ${fmtInt(outage.attempts)}: ${outage.perMinute.toFixed(0)} per minute |`,
          `| pushes still waiting when it ended (each waits up to the 10 s request timeout), delivered then | ${fmtInt(outage.delivered)} |`,
        ].join('\n'),
        method:
          'Our APNs provider (createApnsProvider, default settings: PUSH_PING_AFTER_MS 1000, PUSH_PING_TIMEOUT_MS 2000) sends to the APNs sandbox through the loopback TCP proxy of src/sim/net-proxy.ts. ' +
          'Dead path: one push opens the connection, then the proxy stops forwarding that flow either way without closing it (a NAT that forgot it) while new flows still pass; the figure is the time from the next push to its delivery, through PING, PING timeout, a new connection and the resend. ' +
          `Outage: the proxy accepts and resets every connection for ${outageMs / 1000} s while a push arrives every 100 ms, each waiting up to 30 s; the figure counts the connections the proxy saw (connect attempts), paced by the pool's back-off (100 ms doubling to 5 s, full jitter).` +
          (ctx.scale === 'full' ? '' : ' Quick runs shorten the outage to 15 s.'),
        charts: [],
        headline: [
          {
            figure: 'dead connection → delivered on a new one',
            value: fmtSpread(detected, fmtMs),
            target: '≤ 5 s',
            pass: detected.median <= 5_000,
          },
          { figure: `connects per minute during a ${outageMs / 1000} s outage`, value: outage.perMinute.toFixed(0) },
        ],
        data: { runs, detectMs: detect, outage: { ms: outageMs, ...outage } },
      }
    } finally {
      await world.close()
    }
  },
}
