// The Redis store's write-behind batch: outbox marks (markSent) and delivery records
// (noteDelivery) leave together, as one pgwWriteBehind call.
import type { RedisConnection } from './redis-connection.js'
import { runVariadicScript } from './redis-scripts.js'

/**
 * Writes made after the fact, never on a push's path: the outbox marks (markSent, after the push
 * left) and the delivery records of device receipts (noteDelivery, several per push). Those made
 * within WRITE_BEHIND_MS leave together as one script call (one command, not a pipeline: see
 * EVENT_PATH_COMMANDS in redis-connection.ts): each command costs the gateway a socket write and a
 * reply to parse, and at 2,000 frames/s these were most of the commands it sent. A mark reaches
 * Redis at most WRITE_BEHIND_MS later; recovery only resends claims unmarked for seconds (the
 * engine's grace). A delivery record is read on this instance only after the batch (getDelivery
 * flushes it first, and one connection keeps commands in order); another instance sees it at most
 * WRITE_BEHIND_MS later, far less than any push takes to reach a phone and come back as a receipt.
 */
export const WRITE_BEHIND_MS = 5
const WRITE_BEHIND_MAX = 256

interface PendingMark {
  key: string
  at: number
  ring: boolean
  tokens: string[]
  resolve: () => void
  reject: (err: unknown) => void
}

interface PendingDelivery {
  key: string
  ttlMs: number
  pairs: string[]
  resolve: () => void
  reject: (err: unknown) => void
}

export class WriteBehind {
  private marks: PendingMark[] = []
  private deliveries: PendingDelivery[] = []
  private flushTimer: NodeJS.Timeout | undefined
  // One bound function for every timer, not a closure per batch.
  private readonly flushLater = (): void => this.flush()

  constructor(private readonly connection: RedisConnection) {}

  /** Delivery records wait in the batch (getDelivery sends them ahead of its read). */
  hasDeliveries(): boolean {
    return this.deliveries.length > 0
  }

  /** Marks ring `key`'s pushes (`ring`) and/or its cancels to `tokens` sent at `at`. */
  queueMark(key: string, at: number, ring: boolean, tokens: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      // A plain literal: a spread-and-extend object costs V8 far more (see outcome() in dispatcher.ts).
      this.marks.push({ key, at, ring, tokens, resolve, reject })
      this.schedule()
    })
  }

  /** Sets field/value `pairs` of the delivery hash `key` and restarts its TTL. */
  queueDelivery(key: string, ttlMs: number, pairs: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.deliveries.push({ key, ttlMs, pairs, resolve, reject })
      this.schedule()
    })
  }

  /** Sends what is waiting now, as one call. */
  flush(): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const markBatch = this.marks
    const deliveryBatch = this.deliveries
    this.marks = []
    this.deliveries = []
    if (markBatch.length === 0 && deliveryBatch.length === 0) return
    const k = this.connection.keys
    // pgwWriteBehind's layout (redis-scripts.ts): the index, then per mark its ring and unsent set,
    // then per delivery record its hash; the arguments in the same order.
    const keys: string[] = [k.unsentIndex]
    const args: (string | number)[] = [markBatch.length]
    for (const m of markBatch) {
      keys.push(k.ring(m.key), k.unsent(m.key))
      args.push(m.key, m.at, m.ring ? '1' : '0', m.tokens.length, ...m.tokens)
    }
    for (const d of deliveryBatch) {
      keys.push(d.key)
      args.push(d.ttlMs, d.pairs.length / 2, ...d.pairs)
    }
    this.connection.coalesceWrites('after-the-fact')
    runVariadicScript(this.connection.redis, 'pgwWriteBehind', keys, args).then(
      () => {
        for (const m of markBatch) m.resolve()
        for (const d of deliveryBatch) d.resolve()
      },
      (err: unknown) => {
        for (const m of markBatch) m.reject(err)
        for (const d of deliveryBatch) d.reject(err)
      },
    )
  }

  private schedule(): void {
    if (this.marks.length + this.deliveries.length >= WRITE_BEHIND_MAX) this.flush()
    else this.flushTimer ??= setTimeout(this.flushLater, WRITE_BEHIND_MS)
  }
}
