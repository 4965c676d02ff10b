// Benchmark 4: fan-out burst. One queue-wide offer reaches 1,000 agents with 2 devices each at the
// same instant: how long until the last of the 2,000 pushes has left, and has been answered.
import { startGatewayChild, sleep, until } from './lib/gateway.js'
import { fmtInt, fmtMs, fmtSpread, spread } from './lib/stats.js'
import { barChart } from './lib/svg.js'
import type { BenchContext, BenchOutput, Benchmark, Scale } from './lib/types.js'
import { addAgents, benchWorld, device, dropPrefix, openBenchStore, seedDevices, uniquePrefix } from './lib/world.js'
import type { OutcomeRows } from './procs/gateway.js'

const plan = (scale: Scale, runs?: number): { agents: number; runs: number } =>
  scale === 'full' ? { agents: 1000, runs: runs ?? 5 } : { agents: 200, runs: runs ?? 2 }

interface BurstFigures {
  pushes: number
  /** First frame received → last push request sent / last answer, ms. */
  lastSentMs: number
  lastAnsweredMs: number
  /** First → last frame received (how long the burst took to arrive). */
  arrivalMs: number
}

function burst(rows: OutcomeRows): BurstFigures {
  const first = Math.min(...rows.received)
  return {
    pushes: rows.received.length,
    lastSentMs: Math.max(...rows.sent) - first,
    lastAnsweredMs: Math.max(...rows.answered) - first,
    arrivalMs: Math.max(...rows.received) - first,
  }
}

export const fanout: Benchmark = {
  id: 'fanout',
  title: '4. Fan-out burst: one offer to 1,000 agents × 2 devices',
  estimateS: (scale) => (scale === 'full' ? 40 : 15),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = plan(ctx.scale, ctx.runs)
    const world = await benchWorld()
    const prefix = uniquePrefix('fanout')
    try {
      const agents = addAgents(world, p.agents)
      const queue = world.genesys.addQueue({ name: 'Bench Everyone' })
      const store = await openBenchStore(ctx.redisUrl, prefix)
      await seedDevices(
        store,
        agents.flatMap((a) => [device(a.userId, 'ios'), device(a.userId, 'android')]),
      )
      await store.close()
      const gw = await startGatewayChild({ world, storeUrl: ctx.redisUrl, storeKeyPrefix: prefix })
      const rings: BurstFigures[] = []
      const cancels: BurstFigures[] = []
      const anomalies: string[] = []
      // Every expected outcome is in and nothing is still being sent (a short quiet period included).
      const settled = async (expected: number): Promise<boolean> => {
        const c = await gw.call<{ outcomes: number; pending: number }>('counts')
        if (c.outcomes < expected || c.pending > 0) return false
        await sleep(200)
        const again = await gw.call<{ outcomes: number; pending: number }>('counts')
        return again.outcomes === c.outcomes && again.pending === 0
      }
      try {
        await until(
          'every agent subscribed',
          () => world.genesys.channels().some((c) => c.connected && c.topics.length === p.agents),
          30_000,
        )
        const expected = p.agents * 2
        // Round 0 warms the gateway up (JIT, TLS sessions, tokens) and is not counted.
        for (let r = 0; r <= p.runs; r++) {
          ctx.progress.update(
            r / (p.runs + 1),
            r === 0 ? 'warm-up burst' : `burst ${r}/${p.runs}: ${fmtInt(expected)} rings`,
          )
          await gw.call('reset')
          // Genesys sends each agent's snapshot on its own topic: 1,000 frames in one go.
          const conversations = agents.map(
            (a) => world.genesys.offer({ userId: a.userId, mediaType: 'voice', queueId: queue.id }).conversationId,
          )
          await until('every ring answered', () => settled(expected), 120_000)
          const ringRows = await gw.call<OutcomeRows>('rows')
          await gw.call('reset')
          for (const id of conversations) world.genesys.abandon(id)
          await until('every cancel answered', () => settled(expected), 120_000)
          const cancelRows = await gw.call<OutcomeRows>('rows')
          if (ringRows.received.length !== expected || cancelRows.received.length !== expected) {
            anomalies.push(
              `burst ${r}: ${ringRows.received.length} rings and ${cancelRows.received.length} cancels delivered of ${expected} each${Object.keys({ ...ringRows.notDelivered, ...cancelRows.notDelivered }).length ? ` (not delivered: ${JSON.stringify({ ...ringRows.notDelivered, ...cancelRows.notDelivered })})` : ''}`,
            )
          }
          if (r > 0) {
            rings.push(burst(ringRows))
            cancels.push(burst(cancelRows))
          }
          await sleep(300)
        }
      } finally {
        await gw.stop()
      }
      const s = (xs: BurstFigures[], f: (b: BurstFigures) => number): ReturnType<typeof spread> => spread(xs.map(f))
      const lines = [
        `${p.runs} bursts (after one warm-up burst): each offers a call to all ${fmtInt(p.agents)} agents at once (${fmtInt(p.agents * 2)} devices, one iOS and one Android each), waits for every ring, then abandons all calls (${fmtInt(p.agents * 2)} cancels).`,
        '',
        '| burst | frames arrive over | first frame → last push sent | first frame → last 200 back | pushes/s over the burst |',
        '|---|---|---|---|---|',
        `| rings | ${fmtSpread(
          s(rings, (b) => b.arrivalMs),
          fmtMs,
        )} | ${fmtSpread(
          s(rings, (b) => b.lastSentMs),
          fmtMs,
        )} | ${fmtSpread(
          s(rings, (b) => b.lastAnsweredMs),
          fmtMs,
        )} | ${fmtSpread(
          s(rings, (b) => (b.pushes / b.lastAnsweredMs) * 1000),
          fmtInt,
        )} |`,
        `| cancels | ${fmtSpread(
          s(cancels, (b) => b.arrivalMs),
          fmtMs,
        )} | ${fmtSpread(
          s(cancels, (b) => b.lastSentMs),
          fmtMs,
        )} | ${fmtSpread(
          s(cancels, (b) => b.lastAnsweredMs),
          fmtMs,
        )} | ${fmtSpread(
          s(cancels, (b) => (b.pushes / b.lastAnsweredMs) * 1000),
          fmtInt,
        )} |`,
        '',
        anomalies.length
          ? `**Not every push was delivered:** ${anomalies.join('; ')}.`
          : `Every ring and every cancel was delivered in every burst (${fmtInt(p.agents * 2)} each).`,
      ]
      const lastSent = s(rings, (b) => b.lastSentMs)
      return {
        id: 'fanout',
        title: fanout.title,
        markdown: lines.join('\n'),
        method:
          "The real gateway (Redis store) in a child process, the simulator and sandboxes in the orchestrator. The simulator has no conversation with 1,000 alerting agents, and Genesys would publish such a change as one snapshot per agent topic anyway: the burst is 1,000 offers made in one synchronous loop, which writes 1,000 frames to the gateway's socket back to back. " +
          "Times are measured in the gateway process from the first frame's arrival (receivedAtHr) to the last push's sentAtHr and answeredAtHr.",
        charts: [
          {
            file: 'fanout.svg',
            alt: 'Fan-out burst times',
            svg: barChart({
              title: `Fan-out: ${fmtInt(p.agents)} agents × 2 devices`,
              yLabel: 'ms after the first frame',
              bars: [
                { label: 'rings: last sent', value: lastSent.median, min: lastSent.min, max: lastSent.max, group: 0 },
                { label: 'rings: last 200', ...fromSpread(s(rings, (b) => b.lastAnsweredMs)), group: 0 },
                { label: 'cancels: last sent', ...fromSpread(s(cancels, (b) => b.lastSentMs)), group: 1 },
                { label: 'cancels: last 200', ...fromSpread(s(cancels, (b) => b.lastAnsweredMs)), group: 1 },
              ],
            }),
          },
        ],
        headline: [
          { figure: `${fmtInt(p.agents * 2)} rings: last push sent`, value: fmtSpread(lastSent, fmtMs) },
          {
            figure: `${fmtInt(p.agents * 2)} rings: last 200 back`,
            value: fmtSpread(
              s(rings, (b) => b.lastAnsweredMs),
              fmtMs,
            ),
          },
        ],
        data: { plan: p, rings, cancels, anomalies },
      }
    } finally {
      await world.close()
      await dropPrefix(prefix, ctx.redisUrl)
    }
  },
}

function fromSpread(sp: ReturnType<typeof spread>): { value: number; min: number; max: number } {
  return { value: sp.median, min: sp.min, max: sp.max }
}
