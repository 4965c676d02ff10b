// Benchmark 6: memory. Resident memory of a gateway with 100,000 registered devices and 10,000 open
// rings, against the same with 10,000 devices: devices live in the store, so the process must not
// grow with them.
import { randomUUID } from 'node:crypto'
import { NODE_FLAGS, RUNTIME_V8_FLAGS } from '../src/runtime-flags.js'
import { startGatewayChild, until } from './lib/gateway.js'
import { fmtInt, fmtMiB, fmtSpread, spread, type Spread } from './lib/stats.js'
import { barChart } from './lib/svg.js'
import type { BenchContext, BenchOutput, Benchmark, Scale } from './lib/types.js'
import { captureEvents, postSequences, webhookEnv } from './lib/webhook.js'
import { addAgents, benchWorld, device, dropPrefix, openBenchStore, seedDevices, uniquePrefix } from './lib/world.js'
import type { MemoryReport } from './procs/gateway.js'

// RSS of one process varies by tens of MiB from run to run (allocator arenas, TLS and HTTP/2
// buffers), so each size is measured in several fresh processes and compared by the median.
const plan = (scale: Scale, runs?: number): { sizes: number[]; rings: number; runs: number } =>
  scale === 'full'
    ? { sizes: [10_000, 100_000], rings: 10_000, runs: runs ?? 3 }
    : { sizes: [2_000, 10_000], rings: 1_000, runs: runs ?? 1 }

interface SizeFigures {
  devices: number
  rings: number
  runs: Array<{ idle: MemoryReport; ringing: MemoryReport }>
  rssIdle: Spread
  heapIdle: Spread
  rssRinging: Spread
  heapRinging: Spread
}

export const memory: Benchmark = {
  id: 'memory',
  title: '6. Memory with 100,000 devices and 10,000 open rings',
  estimateS: (scale) => (scale === 'full' ? 400 : 30),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = plan(ctx.scale, ctx.runs === undefined ? undefined : Math.min(ctx.runs, 3))
    const world = await benchWorld()
    const figures: SizeFigures[] = []
    try {
      const ringers = addAgents(world, p.rings)
      for (const [k, size] of p.sizes.entries()) {
        const runs: SizeFigures['runs'] = []
        for (let run = 0; run < p.runs; run++) {
          const step = k * p.runs + run
          const part = (f: number, what: string): void =>
            ctx.progress.update(
              (step + f) / (p.sizes.length * p.runs),
              `${fmtInt(size)} devices, run ${run + 1}/${p.runs}: ${what}`,
            )
          const prefix = uniquePrefix('memory')
          try {
            const store = await openBenchStore(ctx.redisUrl, prefix)
            const now = Date.now()
            // The ringing agents' devices, then other agents' devices up to `size` (one each).
            const devices = [
              ...ringers.map((a, i) => device(a.userId, i % 2 === 0 ? 'ios' : 'android', now)),
              ...Array.from({ length: size - p.rings }, (_, i) =>
                device(randomUUID(), i % 2 === 0 ? 'ios' : 'android', now),
              ),
            ]
            await seedDevices(store, devices, (done) =>
              part((0.4 * done) / size, `registering devices ${fmtInt(done)}`),
            )
            await store.close()
            const gw = await startGatewayChild({
              world,
              storeUrl: ctx.redisUrl,
              storeKeyPrefix: prefix,
              env: webhookEnv({ RING_TIMEOUT_S: '600' }),
              nodeFlags: ['--expose-gc'],
            })
            try {
              part(0.45, 'idle')
              const idle = await gw.call<MemoryReport>('memory')
              const offers = captureEvents(world, () => {
                for (const a of ringers)
                  world.genesys.offer({ userId: a.userId, mediaType: 'chat', alertingTimeoutMs: 600_000 })
              })
              const r = await postSequences(
                [gw.ready.api],
                offers.map((o) => [o]),
                32,
                (done) => part(0.45 + (0.45 * done) / offers.length, `opening rings ${fmtInt(done)}`),
              )
              if (r.non202 > 0) throw new Error(`webhook refused ${r.non202} events: ${r.firstError ?? ''}`)
              await until(
                'every ring pushed',
                async () => (await gw.call<{ outcomes: number; pending: number }>('counts')).outcomes >= p.rings,
                120_000,
              )
              part(0.95, 'measuring')
              const ringing = await gw.call<MemoryReport>('memory')
              runs.push({ idle, ringing })
            } finally {
              await gw.stop()
            }
          } finally {
            await dropPrefix(prefix, ctx.redisUrl)
          }
        }
        const of = (f: (r: SizeFigures['runs'][number]) => number): Spread => spread(runs.map(f))
        figures.push({
          devices: size,
          rings: p.rings,
          runs,
          rssIdle: of((r) => r.idle.rss),
          heapIdle: of((r) => r.idle.heapUsed),
          rssRinging: of((r) => r.ringing.rss),
          heapRinging: of((r) => r.ringing.heapUsed),
        })
      }
    } finally {
      await world.close()
    }
    const [small, large] = figures as [SizeFigures, SizeFigures]
    const growth = large.rssRinging.median - small.rssRinging.median
    const heapGrowth = large.heapRinging.median - small.heapRinging.median
    // "Flat" is about growth: a smaller RSS with more devices is not a failure. The JavaScript heap
    // is the exact signal. RSS after a full GC still differs by tens of MiB between identical
    // processes (pages V8 and malloc keep after the rings' burst), so RSS growth counts only past
    // 10 % or past what identical processes of one size already differed by, whichever is larger.
    const rssNoise = Math.max(small.rssRinging.max - small.rssRinging.min, large.rssRinging.max - large.rssRinging.min)
    const flat =
      growth <= Math.max(0.1 * small.rssRinging.median, rssNoise) && heapGrowth < 0.05 * small.heapRinging.median
    const rows = figures.map(
      (f) =>
        `| ${fmtInt(f.devices)} | ${fmtSpread(f.rssIdle, fmtMiB)} | ${fmtSpread(f.heapIdle, fmtMiB)} | ${fmtSpread(f.rssRinging, fmtMiB)} | ${fmtSpread(f.heapRinging, fmtMiB)} |`,
    )
    return {
      id: 'memory',
      title: memory.title,
      markdown: [
        `${p.runs} fresh gateway process${p.runs === 1 ? '' : 'es'} per size (each with its own Redis prefix), measured after a forced garbage collection (--expose-gc), idle and then with ${fmtInt(p.rings)} rings open (one per agent, not answered, ring timeout 600 s). Median of the processes, range in brackets.`,
        '',
        `| registered devices | RSS idle | heap used idle | RSS with ${fmtInt(p.rings)} open rings | heap used with rings |`,
        '|---|---|---|---|---|',
        ...rows,
        '',
        `From ${fmtInt(small.devices)} to ${fmtInt(large.devices)} devices the median resident memory with rings open changes by ${fmtMiB(growth)} (${((growth / small.rssRinging.median) * 100).toFixed(1)} %), the JavaScript heap by ${fmtMiB(heapGrowth)}: devices and ring state live in Redis, not in the process. ${p.runs > 1 ? `Identical processes of one size differed by up to ${fmtMiB(rssNoise)} of RSS; the verdict counts RSS growth only past that or 10 %` : 'The verdict counts RSS growth past 10 % (one process per size: no spread measured)'}, and heap growth past 5 %.`,
      ].join('\n'),
      method:
        `The real gateway (Redis store, webhook source) in a child process, with the Node.js flags of production (src/runtime-flags.ts: ${NODE_FLAGS.join(' ')}, and ${RUNTIME_V8_FLAGS.join(' ')} set by the gateway on itself). Devices are written to Redis through the product's store code before the gateway starts; ${fmtInt(p.rings)} of them belong to simulator agents, who are then offered a chat each through POST /api/v1/events (EventBridge-shaped events made from the simulator's snapshots), so every ring is pushed and stays open. ` +
        "The webhook source is used because an organisation with 100,000 agents' devices is past what the Notifications API carries (1,000 topics per channel, 20 channels), so that is the configuration such an organisation runs; with the WebSocket source the process also keeps the subscribed agents' topic list. " +
        "What does grow is per agent that is rung: the store keeps a read-through copy of each rung agent's device list for Redis outages (at most 100,000 agents, none older than 24 h), so both sizes here hold the same " +
        fmtInt(p.rings) +
        ' cached lists.',
      charts: [
        {
          file: 'memory.svg',
          alt: 'Resident memory by registered devices',
          svg: barChart({
            title: `Gateway RSS with ${fmtInt(p.rings)} open rings`,
            yLabel: 'MiB',
            bars: figures.flatMap((f, i) => [
              {
                label: `${fmtInt(f.devices)} devices, idle`,
                value: f.rssIdle.median / 1048576,
                min: f.rssIdle.min / 1048576,
                max: f.rssIdle.max / 1048576,
                group: i,
              },
              {
                label: `${fmtInt(f.devices)} devices, rings`,
                value: f.rssRinging.median / 1048576,
                min: f.rssRinging.min / 1048576,
                max: f.rssRinging.max / 1048576,
                group: i,
              },
            ]),
          }),
        },
      ],
      headline: [
        {
          figure: `RSS, ${fmtInt(large.devices)} devices + ${fmtInt(p.rings)} rings`,
          value: fmtSpread(large.rssRinging, fmtMiB),
        },
        {
          figure: `RSS growth ${fmtInt(small.devices)} → ${fmtInt(large.devices)} devices (medians)`,
          value: `${fmtMiB(growth)} (${((growth / small.rssRinging.median) * 100).toFixed(1)} %); heap ${fmtMiB(heapGrowth)}`,
          target: 'flat',
          pass: flat,
        },
      ],
      data: { plan: p, figures },
    }
  },
}
