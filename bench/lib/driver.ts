// A steady stream of Notifications API frames from the simulator: offers, each answered `holdMs`
// later, at `framesPerS` frames per second in total (half offers, half answers). Every action is a
// real simulator conversation change, published as Genesys does: the full conversation snapshot on
// the agent's v2.users.{id}.conversations topic.
import type { TestWorld } from '../../src/sim/world.js'
import type { BenchAgent } from './world.js'

export interface DriveResult {
  offers: number
  answers: number
  /** Conversation frames the simulator wrote to the gateway's socket. */
  frames: number
  elapsedMs: number
  /** Largest gap between two ticks of the driver (its own event loop lag). */
  maxTickGapMs: number
  /**
   * Ticks that came more than 10 ms after the previous one (the load generator's own GC pauses):
   * the frames due meanwhile leave together, and the gateway receives them as one burst.
   */
  stalls: number
}

export interface DriveOptions {
  world: TestWorld
  agents: BenchAgent[]
  queueId?: string
  framesPerS: number
  durationMs: number
  holdMs: number
  onTick?: (elapsedMs: number) => void
}

const STALL_MS = 10

export async function drive(o: DriveOptions): Promise<DriveResult> {
  const sim = o.world.genesys
  let frames = 0
  const onFrame = (_channel: string, frame: { topicName: string }): void => {
    if (frame.topicName.startsWith('v2.users.')) frames++
  }
  sim.on('frame', onFrame)
  const open: Array<{ id: string; at: number }> = []
  // Answered calls are forgotten a second later, and the sandboxes' records of accepted pushes are
  // dropped as the run goes (the gateway's own outcomes are what is measured): kept, they grew the
  // orchestrator's heap by ~100 MB a run, and its full GCs stalled the driver for 100+ ms.
  const answered: Array<{ id: string; at: number }> = []
  let offers = 0
  let answers = 0
  let next = 0
  const offerRate = o.framesPerS / 2
  const start = performance.now()
  let lastTick = start
  let maxGap = 0
  let stalls = 0
  try {
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now()
        maxGap = Math.max(maxGap, now - lastTick)
        if (now - lastTick > STALL_MS) stalls++
        lastTick = now
        const elapsed = now - start
        const offering = elapsed < o.durationMs
        const due = offering ? Math.floor((elapsed * offerRate) / 1000) - offers : 0
        for (let i = 0; i < due; i++) {
          const agent = o.agents[next++ % o.agents.length] as BenchAgent
          const c = sim.offer({ userId: agent.userId, mediaType: 'voice', ...(o.queueId ? { queueId: o.queueId } : {}) })
          open.push({ id: c.conversationId, at: now })
          offers++
        }
        while (open.length > 0 && (open[0] as { at: number }).at + o.holdMs <= now) {
          const id = (open.shift() as { id: string }).id
          sim.answer(id)
          answered.push({ id, at: now })
          answers++
        }
        while (answered.length > 0 && (answered[0] as { at: number }).at + 1_000 <= now) sim.forget((answered.shift() as { id: string }).id)
        o.world.apns.accepted.length = 0
        o.world.fcm.accepted.length = 0
        o.onTick?.(elapsed)
        if (!offering && open.length === 0) {
          clearInterval(timer)
          resolve()
        }
      }
      const timer = setInterval(tick, 2)
    })
  } finally {
    sim.off('frame', onFrame)
  }
  return { offers, answers, frames, elapsedMs: performance.now() - start, maxTickGapMs: maxGap, stalls }
}
