// Benchmark 7: scale-out. 1, 2 and 3 gateway instances on one Redis, events through the webhook
// source (POST /api/v1/events, any instance): events per second sustained end to end.
import type { Child } from './lib/child.js'
import { startGatewayChild, sleep, until } from './lib/gateway.js'
import { fmtInt, fmtMs, fmtRatio, fmtSpread, spread, type Spread } from './lib/stats.js'
import { barChart } from './lib/svg.js'
import type { BenchContext, BenchOutput, Benchmark, Scale } from './lib/types.js'
import { captureEvents, postSequences, webhookEnv } from './lib/webhook.js'
import {
  addAgents,
  benchWorld,
  device,
  dropPrefix,
  openBenchStore,
  seedDevices,
  uniquePrefix,
  type BenchAgent,
} from './lib/world.js'
import type { GatewayReady } from './procs/gateway.js'

const plan = (
  scale: Scale,
  runs?: number,
): { agents: number; conversations: number; runs: number; instances: number[]; concurrency: number } =>
  scale === 'full'
    ? { agents: 1000, conversations: 5000, runs: runs ?? 3, instances: [1, 2, 3], concurrency: 32 }
    : { agents: 200, conversations: 1000, runs: runs ?? 1, instances: [1, 2, 3], concurrency: 32 }

interface ConfigFigures {
  instances: number
  /** Events accepted (202) per second while posting. */
  accepted: Spread
  /** Events per second end to end: all events / (first POST → last push answered by the sandbox). */
  sustained: Spread
  drainMs: Spread
}

export const scaleout: Benchmark = {
  id: 'scaleout',
  title: '7. Scale-out: instances on one Redis, webhook source',
  estimateS: (scale) => (scale === 'full' ? 120 : 30),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = plan(ctx.scale, ctx.runs)
    const world = await benchWorld()
    const prefix = uniquePrefix('scaleout')
    const figures: ConfigFigures[] = []
    try {
      const agents = addAgents(world, p.agents)
      const store = await openBenchStore(ctx.redisUrl, prefix)
      await seedDevices(
        store,
        agents.map((a, i) => device(a.userId, i % 2 === 0 ? 'ios' : 'android')),
      )
      await store.close()
      const pushes = (): number => world.apns.accepted.length + world.fcm.accepted.length
      const steps = p.instances.length * p.runs
      for (const [ci, n] of p.instances.entries()) {
        const gws: Array<Child<GatewayReady>> = []
        const accepted: number[] = []
        const sustained: number[] = []
        const drains: number[] = []
        try {
          for (let i = 0; i < n; i++)
            gws.push(
              await startGatewayChild({
                world,
                storeUrl: ctx.redisUrl,
                storeKeyPrefix: prefix,
                env: webhookEnv({ INSTANCE_ID: `bench-${i + 1}` }),
              }),
            )
          for (let r = -1; r < p.runs; r++) {
            // Run -1 warms every instance up and is not counted.
            const count = r < 0 ? Math.ceil(p.conversations / 5) : p.conversations
            const sequences: string[][] = []
            for (let c = 0; c < count; c++) {
              const agent = agents[c % agents.length] as BenchAgent
              let id = ''
              const offer = captureEvents(
                world,
                () => void (id = world.genesys.offer({ userId: agent.userId, mediaType: 'voice' }).conversationId),
              )
              const answer = captureEvents(world, () => world.genesys.answer(id))
              sequences.push([...offer, ...answer])
            }
            const events = sequences.reduce((s, q) => s + q.length, 0)
            world.apns.resetStats()
            world.fcm.accepted.length = 0
            const step = ci * p.runs + Math.max(0, r)
            const t0 = performance.now()
            const res = await postSequences(
              gws.map((g) => g.ready.api),
              sequences,
              p.concurrency,
              (done) =>
                ctx.progress.update(
                  (step + done / count) / steps,
                  `${n} instance${n > 1 ? 's' : ''}: ${r < 0 ? 'warm-up' : `run ${r + 1}/${p.runs}`}, ${fmtInt(done)}/${fmtInt(count)} conversations`,
                ),
            )
            if (res.non202 > 0) throw new Error(`${n} instances: ${res.non202} events refused: ${res.firstError ?? ''}`)
            // Every offer rings and every answer cancels: two pushes per conversation.
            await until('every ring and cancel pushed', () => pushes() >= 2 * count, 120_000)
            const end = performance.now()
            if (r >= 0) {
              accepted.push((events / res.elapsedMs) * 1000)
              sustained.push((events / (end - t0)) * 1000)
              drains.push(end - t0 - res.elapsedMs)
            }
            await sleep(300)
          }
        } finally {
          await Promise.all(gws.map((g) => g.stop()))
        }
        figures.push({
          instances: n,
          accepted: spread(accepted),
          sustained: spread(sustained),
          drainMs: spread(drains),
        })
      }
    } finally {
      await world.close()
      await dropPrefix(prefix, ctx.redisUrl)
    }
    const base = figures[0] as ConfigFigures
    const rows = figures.map(
      (f) =>
        `| ${f.instances} | ${fmtSpread(f.sustained, fmtInt)} | ${fmtSpread(f.accepted, fmtInt)} | ${fmtSpread(f.drainMs, fmtMs)} | ${fmtRatio(f.sustained.median / base.sustained.median)} |`,
    )
    return {
      id: 'scaleout',
      title: scaleout.title,
      markdown: [
        `${p.runs} run${p.runs > 1 ? 's' : ''} per configuration (after a warm-up run), each ${fmtInt(p.conversations)} conversations (an offer and its answer: ${fmtInt(2 * p.conversations)} events, ${fmtInt(2 * p.conversations)} pushes), spread round-robin over the instances, ${p.concurrency} conversations in flight per instance.`,
        '',
        '| instances | events/s sustained (end to end) | events/s accepted (202) | last 202 → last push answered | vs 1 instance |',
        '|---|---|---|---|---|',
        ...rows,
        '',
        'This machine has 2 cores shared by the instances, Redis, the sandboxes and the load generator, so these figures show that instances share one Redis correctly and what coordination costs, not how throughput grows with machines: each added instance here competes for the same 2 cores.',
      ].join('\n'),
      method:
        "N real gateways (child processes, GENESYS_EVENT_SOURCE=webhook, one Redis and one key prefix shared) receive EventBridge-shaped events (made from the simulator's conversation snapshots) through POST /api/v1/events from an undici load generator in the orchestrator; a conversation's offer and answer go to the same instance, in order. " +
        'Sustained = events / (first POST → the sandboxes have accepted every ring and cancel push), so it counts only events the gateways fully delivered.',
      charts: [
        {
          file: 'scaleout.svg',
          alt: 'Events per second by instances',
          svg: barChart({
            title: 'Webhook events/s sustained, instances on one Redis (2 cores)',
            yLabel: 'events per second',
            bars: figures.map((f, i) => ({
              label: `${f.instances} instance${f.instances > 1 ? 's' : ''}`,
              value: f.sustained.median,
              min: f.sustained.min,
              max: f.sustained.max,
              group: i,
            })),
          }),
        },
      ],
      headline: figures.map((f) => ({
        figure: `${f.instances} instance${f.instances > 1 ? 's' : ''}: events/s sustained`,
        value: fmtSpread(f.sustained, fmtInt),
      })),
      data: { plan: p, figures },
    }
  },
}
