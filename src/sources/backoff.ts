// Reconnect pacing shared by the WebSocket sources. Exponential back-off with full jitter (AWS
// Architecture Blog, "Exponential Backoff And Jitter"): the delay before attempt n is uniform in
// [0, min(max, initial · 2^n)], so many gateways cut off by the same Genesys outage come back spread
// out rather than in lock-step. The design guide asks for 1 s doubling to 30 s; a connection that
// stayed up for `healthyAfterMs` resets the count, so one blip a day does not leave a 30 s delay armed.

export interface BackoffOptions {
  initialMs?: number
  maxMs?: number
  /** A connection up this long counts as healthy: the next failure starts from `initialMs` again. */
  healthyAfterMs?: number
  /** Uniform [0, 1); injectable so tests can observe the exact schedule (random = () => 1 gives the caps). */
  random?: () => number
}

export class Backoff {
  readonly initialMs: number
  readonly maxMs: number
  readonly healthyAfterMs: number
  private readonly random: () => number
  private failures = 0
  private healthyTimer: NodeJS.Timeout | undefined

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1_000
    this.maxMs = options.maxMs ?? 30_000
    this.healthyAfterMs = options.healthyAfterMs ?? 60_000
    this.random = options.random ?? Math.random
  }

  /** The cap for the next attempt (before jitter). */
  get ceilingMs(): number {
    return Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30))
  }

  get failureCount(): number {
    return this.failures
  }

  /** The delay before the next attempt; counts the failure that made it necessary. */
  next(): number {
    const delay = Math.min(this.ceilingMs, this.random() * this.ceilingMs)
    this.failures++
    return delay
  }

  /** The link is up: after `healthyAfterMs` without a new failure the schedule starts over. */
  connected(): void {
    this.clearHealthy()
    this.healthyTimer = setTimeout(() => {
      this.healthyTimer = undefined
      this.failures = 0
    }, this.healthyAfterMs)
    this.healthyTimer.unref()
  }

  /** The link dropped before it proved healthy: keep counting. */
  disconnected(): void {
    this.clearHealthy()
  }

  stop(): void {
    this.clearHealthy()
  }

  private clearHealthy(): void {
    if (this.healthyTimer) clearTimeout(this.healthyTimer)
    this.healthyTimer = undefined
  }
}
