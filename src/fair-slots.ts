// At most `limit` pieces of work in flight at once. When every slot is taken, the next free one goes
// to the waiters' keys in turn (round robin), not to the oldest waiter.
// - The dispatcher's PUSH_MAX_IN_FLIGHT, keyed by agent: an agent whose burst queued thousands of
//   pushes takes one slot per turn like everyone else, so another agent's ring waits for one slot
//   to free, not for that whole burst. A slot is held only while a request is out; a push waiting
//   out a back-off holds none.
// - The Genesys name lookups (ring/names.ts), under one key: first come, first served.
export class FairSlots {
  private inUse = 0
  private waiting = 0
  // Agents with pushes waiting, in turn order (a Map keeps insertion order): the first is served
  // next, then moves to the back if it has more.
  private readonly queues = new Map<string, Array<() => void>>()

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive whole number, not ${limit}`)
  }

  /** Slots taken now. */
  get busy(): number {
    return this.inUse
  }

  /** Waiters for a slot. */
  get queued(): number {
    return this.waiting
  }

  /** Takes a slot at once when one is free and nobody waits (no promise made on the hot path). */
  tryAcquire(): boolean {
    if (this.inUse >= this.limit || this.waiting > 0) return false
    this.inUse++
    return true
  }

  /** Waits for a slot in the turn of `agent` (the waiter's key); resolves holding it. */
  acquire(agent: string): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve()
    return new Promise((resolve) => {
      const queue = this.queues.get(agent)
      if (queue) queue.push(resolve)
      else this.queues.set(agent, [resolve])
      this.waiting++
    })
  }

  /** Gives the slot back: to the next agent in turn when any waits. */
  release(): void {
    const next = this.queues.entries().next()
    if (next.done) {
      this.inUse--
      return
    }
    const [agent, queue] = next.value
    const wake = queue.shift() as () => void
    this.queues.delete(agent)
    if (queue.length > 0) this.queues.set(agent, queue)
    this.waiting--
    // The slot passes straight to the waiter: inUse is unchanged.
    wake()
  }
}
