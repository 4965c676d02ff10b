// The outbox of the ring engine. A ring (or a cancel) is claimed in the shared store before it is
// pushed, so a process killed between the claim and the push would leave a claim that every other
// path reads as "already done". The engine therefore marks each claim sent once the dispatcher has
// handed its pushes to the push services (delivered, or definitively failed); recovery finds the
// claims never marked and sends them again. The mark is written after the push, never before it:
// the push does not wait for the store, at the price of at-least-once delivery when a process dies
// after pushing and before marking (the duplicate carries the same apns-collapse-id / collapse_key /
// Topic, the conversation id, so it replaces rather than adds: docs/PLATFORMS.md "Delivery").
import type { Clock } from '../clock.js'
import type { PushIntent, PushIntentSink } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { RingStore } from '../store/store.js'

export type SentMark = { ring?: boolean; cancelTokens?: string[] }

export class Outbox {
  // Ring keys with pushes being sent by this process: recovery never doubles its own work.
  private readonly sending = new Map<string, number>()

  constructor(
    private readonly options: {
      store: Pick<RingStore, 'markSent'>
      /** The dispatcher. */
      pushes: PushIntentSink
      clock: Clock
      logger: Logger
    },
  ) {}

  /** Sends and marks not yet done here (a graceful stop waits for them). */
  get pending(): number {
    let n = 0
    for (const count of this.sending.values()) n += count
    return n
  }

  isSending(key: string): boolean {
    return this.sending.has(key)
  }

  /** Hands `intent` to the dispatcher at once, then marks `mark` sent on the ring `key`. */
  send(key: string, intent: PushIntent, mark: SentMark): void {
    this.sending.set(key, (this.sending.get(key) ?? 0) + 1)
    const dispatched = this.options.pushes.dispatch(intent)
    void dispatched
      .catch((err: unknown) =>
        this.options.logger.error(
          { err, conversationId: intent.ring.conversationId, action: intent.action },
          'dispatch failed',
        ),
      )
      .then(() => this.options.store.markSent(key, mark, this.options.clock.now()))
      .catch((err: unknown) => {
        // Unmarked, the pushes may be sent once more by recovery: a duplicate, never a loss.
        this.options.logger.warn(
          {
            err: err instanceof Error ? err.message : String(err),
            conversationId: intent.ring.conversationId,
            action: intent.action,
          },
          'could not mark pushes sent',
        )
      })
      .finally(() => {
        const left = (this.sending.get(key) ?? 1) - 1
        if (left > 0) this.sending.set(key, left)
        else this.sending.delete(key)
      })
  }
}
