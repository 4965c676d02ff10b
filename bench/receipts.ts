// Benchmark 10: offer → receipt on the phone. A real gateway (child process, Redis store) rings
// agents' simulated phones through the sandboxes; the pushes reach each phone under the simulator's
// delivery model (PhoneNetwork: a fixed delay, a random part, a share lost), and each phone's app
// reports its receipt to the gateway as README tells a real app to. Measured from the moment the
// simulated Genesys offers the call: the push reaching the app's code on the phone, and the
// gateway's answer to the app's receipt.
import { startGatewayChild, sleep, until } from './lib/gateway.js'
import { distribution, fmtInt, fmtMs, sortedCopy, type Distribution } from './lib/stats.js'
import { percentileChart } from './lib/svg.js'
import type { BenchContext, BenchOutput, Benchmark, Scale } from './lib/types.js'
import { addAgents, benchWorld, dropPrefix, uniquePrefix } from './lib/world.js'
import { performance } from 'node:perf_hooks'
import { PhoneNetwork, ReceiptReporter, type DeliveryModel, type SimulatedPhone } from '../src/sim/phones/index.js'

/** The simulator's delay model for this benchmark: push service → phone. */
const MODEL: Required<DeliveryModel> = { delayMs: 40, jitterMs: 200, loss: 0.02 }

const plan = (scale: Scale, runs?: number): { agents: number; offersPerS: number; runs: number } =>
  scale === 'full' ? { agents: 300, offersPerS: 50, runs: runs ?? 3 } : { agents: 40, offersPerS: 20, runs: runs ?? 1 }

interface RunFigures {
  offers: number
  pushes: number
  /** Offer → the push reached the app's code, ms. */
  reached: number[]
  /** Offer → the gateway answered the app's receipt (204), ms. */
  acknowledged: number[]
  lost: number
  refused: number
}

export const receipts: Benchmark = {
  id: 'receipts',
  title: '10. Offer → receipt on the phone (device receipts, simulated delivery delay)',
  estimateS: (scale) => (scale === 'full' ? 60 : 15),
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = plan(ctx.scale, ctx.runs)
    const world = await benchWorld()
    const prefix = uniquePrefix('receipts')
    const network = new PhoneNetwork(world, { bundleId: world.bundleId, delivery: MODEL })
    const reporters: ReceiptReporter[] = []
    try {
      const gw = await startGatewayChild({ world, storeUrl: ctx.redisUrl, storeKeyPrefix: prefix })
      const api = gw.ready.api
      try {
        // Each agent: an iPhone (calls ring through PushKit) and an Android phone in Doze.
        const agents = addAgents(world, p.agents)
        const phonesOf = new Map<string, SimulatedPhone[]>()
        ctx.progress.update(0.05, `registering ${fmtInt(p.agents * 2)} phones`)
        for (const agent of agents) {
          const iphone = network.iphone({ name: `iPhone ${agent.userId.slice(0, 6)}`, appState: 'background' })
          const android = network.android({
            name: `Android ${agent.userId.slice(0, 6)}`,
            appState: 'killed',
            doze: true,
          })
          for (const body of [...iphone.registrations(), ...android.registrations()]) {
            const res = await fetch(`${api}/api/v1/devices`, {
              method: 'POST',
              headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
              body: JSON.stringify(body),
            })
            if (res.status !== 201) throw new Error(`registration refused: ${res.status}`)
          }
          for (const phone of [iphone, android])
            reporters.push(new ReceiptReporter(phone, { gateway: api, accessToken: agent.accessToken }))
          phonesOf.set(agent.userId, [iphone, android])
        }
        await until(
          'the gateway to subscribe every agent',
          () => world.genesys.channels().some((c) => c.connected && c.topics.length >= agents.length),
          60_000,
        )

        const figures: RunFigures[] = []
        for (let run = 0; run < p.runs; run++) {
          ctx.progress.update(
            0.1 + (0.85 * run) / p.runs,
            `run ${run + 1}/${p.runs}: ${fmtInt(p.agents)} calls at ${p.offersPerS}/s`,
          )
          figures.push(await measure(world, agents, phonesOf, reporters, network, p.offersPerS))
        }
        return report(figures, p)
      } finally {
        await Promise.all(reporters.map((r) => r.stop()))
        await gw.stop()
      }
    } finally {
      network.close()
      await world.close()
      await dropPrefix(prefix, ctx.redisUrl)
    }
  },
}

async function measure(
  world: Awaited<ReturnType<typeof benchWorld>>,
  agents: Array<{ userId: string }>,
  phonesOf: Map<string, SimulatedPhone[]>,
  reporters: ReceiptReporter[],
  network: PhoneNetwork,
  offersPerS: number,
): Promise<RunFigures> {
  const offeredAt = new Map<string, number>()
  const reached: number[] = []
  const acknowledged: number[] = []
  let refused = 0
  const lostBefore = network.lost
  const detach: Array<() => void> = []
  for (const phones of phonesOf.values()) {
    for (const phone of phones) {
      detach.push(
        phone.onAppCode((d) => {
          const t0 = offeredAt.get(String(d.keys.genesys_conversation_id))
          if (t0 !== undefined && d.keys.action === 'ring') reached.push(performance.now() - t0)
        }),
      )
    }
  }
  for (const reporter of reporters) {
    detach.push(
      reporter.onReport((r) => {
        const t0 = offeredAt.get(r.conversationId)
        if (t0 === undefined || r.action !== 'ring') return
        if (r.status === 204) acknowledged.push(performance.now() - t0)
        else refused++
      }),
    )
  }
  const conversations: string[] = []
  const gap = 1000 / offersPerS
  const start = performance.now()
  for (let i = 0; i < agents.length; i++) {
    const wait = start + i * gap - performance.now()
    if (wait > 0) await sleep(wait)
    const agent = agents[i] as { userId: string }
    const at = performance.now()
    const { conversationId } = world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
    offeredAt.set(conversationId, at)
    conversations.push(conversationId)
  }
  const expected = agents.length * 2
  // Everything that was not lost has arrived and been acknowledged, or the model's worst case has passed.
  const deadline = performance.now() + MODEL.delayMs + MODEL.jitterMs + 10_000
  while (acknowledged.length + refused + (network.lost - lostBefore) < expected && performance.now() < deadline)
    await sleep(50)
  const lost = network.lost - lostBefore
  for (const cid of conversations) world.genesys.abandon(cid)
  await sleep(MODEL.delayMs + MODEL.jitterMs + 500)
  for (const off of detach) off()
  return { offers: agents.length, pushes: expected, reached, acknowledged, lost, refused }
}

function report(figures: RunFigures[], p: ReturnType<typeof plan>): BenchOutput {
  const reached = figures.flatMap((f) => f.reached)
  const acked = figures.flatMap((f) => f.acknowledged)
  const dr = distribution(reached)
  const da = distribution(acked)
  const pushes = figures.reduce((n, f) => n + f.pushes, 0)
  const lost = figures.reduce((n, f) => n + f.lost, 0)
  const refused = figures.reduce((n, f) => n + f.refused, 0)
  const row = (name: string, d: Distribution): string =>
    `| ${name} | ${fmtInt(d.n)} | ${fmtMs(d.p50)} | ${fmtMs(d.p90)} | ${fmtMs(d.p99)} | ${fmtMs(d.max)} |`
  const lines = [
    `${fmtInt(p.agents)} agents, each with an iPhone (PushKit, app in the background) and an Android phone (app killed, in Doze); one call offered to each at ${p.offersPerS}/s, ${figures.length} run(s). Delivery model: ${MODEL.delayMs} ms + up to ${MODEL.jitterMs} ms, ${(MODEL.loss * 100).toFixed(0)} % lost.`,
    '',
    '| from the offer in Genesys to | pushes | p50 | p90 | p99 | max |',
    '|---|---:|---:|---:|---:|---:|',
    row('the ring reaching the app on the phone', dr),
    row("the gateway's answer to the app's receipt", da),
    '',
    `${fmtInt(pushes)} rings pushed; ${fmtInt(lost)} rings lost by the delivery model (never reported, as a phone without network), ${fmtInt(refused)} receipts refused.`,
  ]
  const svg = percentileChart({
    title: 'Offer → receipt on the phone',
    yLabel: 'milliseconds after the offer',
    series: [
      { name: 'ring reaches the app', sorted: sortedCopy(reached) },
      { name: 'receipt acknowledged', sorted: sortedCopy(acked) },
    ],
  })
  return {
    id: 'receipts',
    title: receipts.title,
    markdown: lines.join('\n'),
    method:
      "The gateway runs as a child process on the Redis store; Genesys, APNs, FCM and the phones are the simulator in the benchmark process. Each push the sandboxes accept reaches its phone after the delivery model's delay (or never); the phone's app POSTs /api/v1/agent/received at once. Times are performance.now() in the benchmark process, from the offer call to the app code running and to the 204.",
    charts: [{ file: 'receipts.svg', alt: 'Offer to receipt on the phone, percentiles', svg }],
    headline: [
      { figure: 'offer → ring on the phone, p50 / p99', value: `${fmtMs(dr.p50)} / ${fmtMs(dr.p99)}` },
      { figure: 'offer → receipt acknowledged, p50 / p99', value: `${fmtMs(da.p50)} / ${fmtMs(da.p99)}` },
    ],
    data: { model: MODEL, plan: p, reached: dr, acknowledged: da, pushes, lost, refused },
  }
}
