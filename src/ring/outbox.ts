// The outbox of the ring engine. A ring (or a cancel) is claimed in the shared store before it is
// pushed, so a process killed between the claim and the push would leave a claim that every other
// path reads as "already done". The engine therefore marks each claim sent once the dispatcher has
// handed its pushes to the push services (delivered, or definitively failed); recovery finds the
// claims never marked and sends them again. The mark is written after the push, never before it:
// the push does not wait for the store, at the price of at-least-once delivery when a process dies
// after pushing and before marking (the duplicate carries the same apns-collapse-id / collapse_key /
// Topic, the conversation id, so it replaces rather than adds: docs/PLATFORMS.md "Delivery").
//
// A live instance can take longer than the grace to mark: a slow push service, retries with
// back-off. So that another instance's recovery does not take such a claim for a dead one's and
// send it twice, a send still under way after half the grace says so in the store: it claims the
// claim's current and next liveness slices (half the grace each, claimOnce; each slice once), looked
// at every quarter grace until it is marked. Recovery resends only a claim whose current slice nobody claimed
// (claimedByLiveInstance). Sends that finish quickly, nearly all of them, write nothing more.
import type { Clock } from '../clock.js'
import type { PushIntent, PushIntentSink } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { RingStore } from '../store/store.js'

export type SentMark = { ring?: boolean; cancelTokens?: string[] }

// A mark the store refused is tried again, 100 ms doubling to 2 s, for up to 30 s (a Redis restart,
// a Sentinel failover): the claim's instance is alive and its pushes are out.
const MARK_RETRY_FIRST_MS = 100
const MARK_RETRY_MAX_MS = 2_000
const MARK_RETRY_FOR_MS = 30_000

/** The store key a live sender claims for ring `key` in liveness slice `slice`. */
export const livenessKey = (key: string, slice: number): string => `alive:${key}:${slice}`
/** The liveness slice of `now`: half the recovery grace long. */
export const livenessSlice = (now: number, graceMs: number): number => Math.floor(now / (graceMs / 2))

/**
 * Whether a live instance is still sending the claim on ring `key` (it claimed the current liveness
 * slice). When not, this call claims the slice itself, and the caller may resend.
 */
export async function claimedByLiveInstance(
  store: Pick<RingStore, 'claimOnce'>,
  key: string,
  now: number,
  graceMs: number,
): Promise<boolean> {
  return !(await store.claimOnce(livenessKey(key, livenessSlice(now, graceMs)), graceMs))
}

export class Outbox {
  // Ring keys with pushes being sent by this process, and since when: recovery never doubles its
  // own work, and long sends keep telling other instances they are alive.
  private readonly sending = new Map<string, { count: number; since: number; claimedThrough: number }>()
  private heartbeat: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly options: {
      store: Pick<RingStore, 'markSent' | 'claimOnce'>
      /** The dispatcher. */
      pushes: PushIntentSink
      clock: Clock
      logger: Logger
      /** The engine's recovery grace: claims unmarked this long may be resent by another instance. */
      graceMs: number
    },
  ) {}

  /** Sends and marks not yet done here (a graceful stop waits for them). */
  get pending(): number {
    let n = 0
    for (const { count } of this.sending.values()) n += count
    return n
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }

  isSending(key: string): boolean {
    return this.sending.has(key)
  }

  /** Hands `intent` to the dispatcher at once, then marks `mark` sent on the ring `key`. */
  send(key: string, intent: PushIntent, mark: SentMark): void {
    const entry = this.sending.get(key)
    if (entry) entry.count++
    else this.sending.set(key, { count: 1, since: this.options.clock.now(), claimedThrough: -1 })
    if (this.heartbeat === undefined) {
      this.stopped = false
      this.heartbeat = setInterval(() => this.beat(), this.options.graceMs / 4)
      this.heartbeat.unref()
    }
    const dispatched = this.options.pushes.dispatch(intent)
    void dispatched
      .catch((err: unknown) =>
        this.options.logger.error(
          { err, conversationId: intent.ring.conversationId, action: intent.action },
          'dispatch failed',
        ),
      )
      .then(() => this.mark(key, intent, mark))
      .finally(() => {
        const current = this.sending.get(key)
        if (current && current.count > 1) current.count--
        else this.sending.delete(key)
      })
  }

  /**
   * Marks `mark` sent, again and again while the store cannot be written (an outage, a failover):
   * the pushes are out, and while this instance keeps trying (and beating) no other instance
   * resends them. Given up after MARK_RETRY_FOR_MS or at stop(); unmarked, the pushes may be sent
   * once more by recovery: a duplicate, never a loss.
   */
  private async mark(key: string, intent: PushIntent, mark: SentMark): Promise<void> {
    const { store, clock, logger } = this.options
    const giveUpAt = Date.now() + MARK_RETRY_FOR_MS
    for (let wait = MARK_RETRY_FIRST_MS; ; wait = Math.min(wait * 2, MARK_RETRY_MAX_MS)) {
      try {
        return await store.markSent(key, mark, clock.now())
      } catch (err) {
        const last = this.stopped || Date.now() + wait > giveUpAt
        if (wait === MARK_RETRY_FIRST_MS || last)
          logger.warn(
            {
              err: err instanceof Error ? err.message : String(err),
              conversationId: intent.ring.conversationId,
              action: intent.action,
            },
            last ? 'could not mark pushes sent: recovery may send them again' : 'could not mark pushes sent; retrying',
          )
        if (last) return
        await new Promise<void>((resolve) => setTimeout(resolve, wait).unref())
      }
    }
  }

  /** Claims the liveness slices of every send under way for half the grace or more. */
  private beat(): void {
    const { store, clock, graceMs, logger } = this.options
    const now = clock.now()
    const slice = livenessSlice(now, graceMs)
    for (const [key, entry] of this.sending) {
      if (now - entry.since < graceMs / 2) continue
      // The current slice and the next, each claimed once: one store write per send per slice.
      for (let s = Math.max(entry.claimedThrough + 1, slice); s <= slice + 1; s++) {
        entry.claimedThrough = s
        store.claimOnce(livenessKey(key, s), graceMs * 2).catch((err: unknown) => {
          // Claimed again at the next beat. Missed, it risks a duplicate from another instance's recovery, never a loss.
          entry.claimedThrough = Math.min(entry.claimedThrough, s - 1)
          logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not renew a send in progress')
        })
      }
    }
  }
}
