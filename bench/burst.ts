// Benchmark 8: one agent's burst against everyone else. An agent at MAX_DEVICES_PER_AGENT (10
// devices) is offered a burst of interactions at the instant 1,000 other agents are each offered a
// call: the other agents' push latency (p99) with and without that burst. Target: under 2× the
// baseline (PUSH_MAX_IN_FLIGHT shares the push services between agents in turn).
import { startGatewayChild, sleep, until } from './lib/gateway.js'
import { distribution, fmtInt, fmtMs, fmtRatio, fmtSpread, spread } from './lib/stats.js'
import type { BenchContext, BenchOutput, Benchmark, Scale } from './lib/types.js'
import {
  addAgents,
  benchWorld,
  device,
  dropPrefix,
  everyAgentSubscribed,
  openBenchStore,
  seedDevices,
  uniquePrefix,
} from './lib/world.js'
import type { OutcomeRows } from './procs/gateway.js'

const CAP = 10
const TARGET_RATIO = 2
const plan = (scale: Scale, runs?: number): { agents: number; offers: number; runs: number } =>
  scale === 'full' ? { agents: 1000, offers: 200, runs: runs ?? 5 } : { agents: 200, offers: 50, runs: runs ?? 2 }

/** p99 of frame arrival → push service answer, over the pushes to agents other than `loud`. */
function othersP99(rows: OutcomeRows, loud: string): { p99: number; pushes: number; loudPushes: number } {
  const latencies: number[] = []
  let loudPushes = 0
  for (let i = 0; i < rows.received.length; i++) {
    if (rows.user[i] === loud) loudPushes++
    else latencies.push((rows.answered[i] as number) - (rows.received[i] as number))
  }
  return { p99: distribution(latencies).p99, pushes: latencies.length, loudPushes }
}

export const burst: Benchmark = {
  id: 'burst',
  title: "8. One agent's burst: 1,000 agents ringing beside an agent at the device cap",
  estimateS: (scale) => (scale === 'full' ? 90 : 25),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = plan(ctx.scale, ctx.runs)
    const world = await benchWorld()
    const prefix = uniquePrefix('burst')
    try {
      const agents = addAgents(world, p.agents)
      const [loud] = addAgents(world, 1)
      if (!loud) throw new Error('no loud agent')
      const store = await openBenchStore(ctx.redisUrl, prefix)
      await seedDevices(store, [
        ...agents.flatMap((a) => [device(a.userId, 'ios'), device(a.userId, 'android')]),
        ...Array.from({ length: CAP }, (_, i) => device(loud.userId, i % 2 === 0 ? 'ios' : 'android')),
      ])
      await store.close()
      const gw = await startGatewayChild({
        world,
        storeUrl: ctx.redisUrl,
        storeKeyPrefix: prefix,
        env: { MAX_DEVICES_PER_AGENT: String(CAP), RING_TIMEOUT_S: '120' },
      })
      const baseline: number[] = []
      const withBurst: number[] = []
      const anomalies: string[] = []
      let loudPushes = 0
      const settled = async (expected: number): Promise<boolean> => {
        const c = await gw.call<{ outcomes: number; pending: number }>('counts')
        if (c.outcomes < expected || c.pending > 0) return false
        await sleep(200)
        const again = await gw.call<{ outcomes: number; pending: number }>('counts')
        return again.outcomes === c.outcomes && again.pending === 0
      }
      try {
        // 1,001 agents take two channels (1,000 topics each at most): wait for the topics, wherever they are.
        await until('every agent subscribed', () => everyAgentSubscribed(world, [...agents, loud]), 60_000)
        // Round 0 warms up (JIT, TLS sessions, tokens) and is not counted; then baseline and burst alternate.
        for (let r = 0; r <= p.runs; r++) {
          for (const loudToo of [false, true]) {
            ctx.progress.update(
              (2 * r + (loudToo ? 1 : 0)) / (2 * (p.runs + 1)),
              `${r === 0 ? 'warm-up' : `run ${r}/${p.runs}`}: ${loudToo ? `with a burst of ${p.offers} offers` : 'baseline'}`,
            )
            await gw.call('reset')
            const conversations: string[] = []
            // The loud agent's offers first, so its pushes are queued when the others' frames arrive.
            if (loudToo)
              for (let i = 0; i < p.offers; i++)
                conversations.push(world.genesys.offer({ userId: loud.userId, mediaType: 'chat' }).conversationId)
            for (const a of agents)
              conversations.push(world.genesys.offer({ userId: a.userId, mediaType: 'voice' }).conversationId)
            const expected = p.agents * 2 + (loudToo ? p.offers * CAP : 0)
            await until('every ring answered', () => settled(expected), 180_000)
            const rows = await gw.call<OutcomeRows>('rows')
            const figures = othersP99(rows, loud.userId)
            if (figures.pushes !== p.agents * 2)
              anomalies.push(
                `${loudToo ? 'burst' : 'baseline'} run ${r}: ${figures.pushes} of ${p.agents * 2} rings to the other agents delivered`,
              )
            if (r > 0) {
              ;(loudToo ? withBurst : baseline).push(figures.p99)
              if (loudToo) loudPushes = figures.loudPushes
            }
            await gw.call('reset')
            for (const id of conversations) world.genesys.abandon(id)
            await until('every cancel answered', () => settled(expected), 180_000)
            await sleep(300)
          }
        }
      } finally {
        await gw.stop()
      }
      const base = spread(baseline)
      const loaded = spread(withBurst)
      const ratio = loaded.median / base.median
      const lines = [
        `${p.runs} runs after a warm-up; each run offers a call to ${fmtInt(p.agents)} agents (2 devices each) once alone (baseline) and once right after ${fmtInt(p.offers)} chats offered to one agent with ${CAP} devices (${fmtInt(p.offers * CAP)} pushes; ${fmtInt(loudPushes)} delivered in the last run).`,
        '',
        "| the other agents' pushes, frame → push service answer | p99 |",
        '|---|---|',
        `| baseline | ${fmtSpread(base, fmtMs)} |`,
        `| beside the burst | ${fmtSpread(loaded, fmtMs)} |`,
        `| ratio (medians) | ${fmtRatio(ratio)} (target < ${TARGET_RATIO}×) |`,
        '',
        anomalies.length
          ? `**Not every push was delivered:** ${anomalies.join('; ')}.`
          : 'Every ring to the other agents was delivered in every run.',
      ]
      return {
        id: 'burst',
        title: burst.title,
        markdown: lines.join('\n'),
        method:
          "The real gateway (Redis store, PUSH_MAX_IN_FLIGHT and MAX_DEVICES_PER_AGENT at their defaults but for the cap of 10 set explicitly) in a child process, the simulator and sandboxes in the orchestrator. Its 1,001 agents take two Notifications channels (Genesys allows 1,000 topics per channel). The loud agent's offers and then one offer per other agent are made in one synchronous loop, so their frames reach the gateway back to back. " +
          "Latency is measured in the gateway process from a frame's arrival (receivedAtHr) to the push service's answer (answeredAtHr), over the other agents' pushes only.",
        charts: [],
        headline: [
          { figure: "other agents' p99, baseline", value: fmtSpread(base, fmtMs) },
          {
            figure: `other agents' p99 beside a ${fmtInt(p.offers)}-offer burst`,
            value: fmtSpread(loaded, fmtMs),
            target: `< ${TARGET_RATIO}× baseline`,
            pass: ratio < TARGET_RATIO,
          },
        ],
        data: { plan: p, baseline, withBurst, ratio, anomalies },
      }
    } finally {
      await world.close()
      await dropPrefix(prefix, ctx.redisUrl)
    }
  },
}
