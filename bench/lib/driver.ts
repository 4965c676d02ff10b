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
   * Ticks that came more than 10 ms after the previous one: the load generator's own GC pauses,
   * which leave frames overdue.
   */
  stalls: number
  /** Most frames overdue at once (after a stall, before the driver caught up). */
  maxBacklog: number
}

export interface DriveOptions {
  world: TestWorld
  agents: BenchAgent[]
  queueId?: string
  framesPerS: number
  durationMs: number
  holdMs: number
  /**
   * How the frames left overdue by a stall of the load generator go out. 'paced' (the default):
   * at up to CATCH_UP × the rate until the driver is back on schedule, as a sender that paces its
   * channels does (Genesys allows 100 messages/s per channel). 'at-once': all in the tick after
   * the stall, the burst a Node.js generator makes when nothing paces it.
   */
  catchUp?: 'paced' | 'at-once'
  onTick?: (elapsedMs: number) => void
}

const STALL_MS = 10
const TICK_MS = 2
/** Catch-up speed after a stall, relative to the nominal rate. */
const CATCH_UP = 1.5

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
  const paced = (o.catchUp ?? 'paced') === 'paced'
  // Token bucket: frames may leave at up to CATCH_UP × the rate, in ticks of at most two ticks' worth.
  const maxRatePerMs = (o.framesPerS * CATCH_UP) / 1000
  const bucketSize = Math.max(2, Math.ceil(maxRatePerMs * TICK_MS * 2))
  let budget = bucketSize
  let maxBacklog = 0
  const start = performance.now()
  let lastTick = start
  let maxGap = 0
  let stalls = 0
  try {
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now()
        const gap = now - lastTick
        maxGap = Math.max(maxGap, gap)
        if (gap > STALL_MS) stalls++
        lastTick = now
        budget = paced ? Math.min(bucketSize, budget + gap * maxRatePerMs) : Infinity
        const elapsed = now - start
        const offering = elapsed < o.durationMs
        // Answers first: they are the older frames.
        let answersDue = 0
        while (answersDue < open.length && (open[answersDue] as { at: number }).at + o.holdMs <= now) answersDue++
        const offersDue = offering ? Math.floor((elapsed * offerRate) / 1000) - offers : 0
        maxBacklog = Math.max(maxBacklog, answersDue + offersDue)
        while (budget >= 1 && open.length > 0 && (open[0] as { at: number }).at + o.holdMs <= now) {
          const id = (open.shift() as { id: string }).id
          sim.answer(id)
          answered.push({ id, at: now })
          answers++
          budget--
        }
        for (let i = 0; i < offersDue && budget >= 1; i++, budget--) {
          const agent = o.agents[next++ % o.agents.length] as BenchAgent
          const c = sim.offer({
            userId: agent.userId,
            mediaType: 'voice',
            ...(o.queueId ? { queueId: o.queueId } : {}),
          })
          open.push({ id: c.conversationId, at: now })
          offers++
        }
        while (answered.length > 0 && (answered[0] as { at: number }).at + 1_000 <= now)
          sim.forget((answered.shift() as { id: string }).id)
        o.world.apns.accepted.length = 0
        o.world.fcm.accepted.length = 0
        o.onTick?.(elapsed)
        if (!offering && open.length === 0) {
          clearInterval(timer)
          resolve()
        }
      }
      const timer = setInterval(tick, TICK_MS)
    })
  } finally {
    sim.off('frame', onFrame)
  }
  return { offers, answers, frames, elapsedMs: performance.now() - start, maxTickGapMs: maxGap, stalls, maxBacklog }
}
