// Fan-out of one PushIntent to its devices. Retries, back-off and token hygiene live here, once
// (Sygnal and gorush copy a retry loop into every provider). Devices are pushed in parallel so a
// slow device never delays another; pushes to the same device are sent in order, so a cancel can
// never overtake the ring it cancels.
import { setMaxListeners } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { Clock } from '../clock.js'
import type { PushIntent, PushTarget } from '../model.js'
import type { DeliveryResult, PushOutcome } from '../outcomes.js'
import type { Logger } from '../observability/logger.js'
import { tokenPrefix } from '../observability/logger.js'
import type { PushMessage, PushProvider, ProviderName, SendResult } from '../providers/provider.js'
import type { DeviceStore } from '../store/store.js'
import type { ProviderAlarms } from './alarms.js'
import { buildMessage, type PayloadOptions } from './payloads.js'
import { FairSlots } from '../fair-slots.js'

// Pushes whose deadlines fall in the same slice of this many ms share one abort signal.
const DEADLINE_SLICE_MS = 100

export interface DispatcherOptions {
  providers: Partial<Record<ProviderName, PushProvider>>
  store: DeviceStore
  clock: Clock
  logger: Logger
  payload: PayloadOptions
  onOutcome?: (outcome: PushOutcome) => void
  /** Configuration errors raise an alarm here (log, metric, readiness); a delivery clears it. */
  alarms?: ProviderAlarms
  /** Back-off base and cap; a retry never goes out after the intent's expiry. */
  retryBaseMs?: number
  retryMaxMs?: number
  maxAttempts?: number
  /** PUSH_MAX_IN_FLIGHT: requests out at once, over all push services, shared in turn between agents. */
  maxInFlight?: number
}

const DEFAULT_MAX_IN_FLIGHT = 2000

export class Dispatcher {
  // The tail of the send chain per device token: the next push to that device waits for it.
  private readonly chains = new Map<string, Promise<unknown>>()
  private readonly retryBaseMs: number
  private readonly retryMaxMs: number
  private readonly maxAttempts: number
  private inFlight = 0
  private readonly deadlines = new Map<number, AbortSignal>()
  private readonly slots: FairSlots

  constructor(private readonly options: DispatcherOptions) {
    this.retryBaseMs = options.retryBaseMs ?? 200
    this.retryMaxMs = options.retryMaxMs ?? 5_000
    this.maxAttempts = options.maxAttempts ?? 6
    this.slots = new FairSlots(options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT)
  }

  /** Pushes currently being sent or retried. */
  get pending(): number {
    return this.inFlight
  }

  /** Requests out now, and pushes waiting for one of the PUSH_MAX_IN_FLIGHT slots. */
  get slotUse(): { busy: number; queued: number } {
    return { busy: this.slots.busy, queued: this.slots.queued }
  }

  dispatch(intent: PushIntent): Promise<PushOutcome[]> {
    return Promise.all(
      intent.targets.map((target) => this.inOrder(target.device.token, () => this.deliver(intent, target))),
    )
  }

  private inOrder<T>(token: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(token) ?? Promise.resolve()
    const next = previous.then(work, work)
    this.chains.set(token, next)
    // then(f, f), not finally(): finally() would hand a rejection on to a promise nobody awaits.
    const forget = (): void => {
      if (this.chains.get(token) === next) this.chains.delete(token)
    }
    next.then(forget, forget)
    return next
  }

  private async deliver(intent: PushIntent, target: PushTarget): Promise<PushOutcome> {
    this.inFlight++
    try {
      let finished: PushOutcome
      let bug: unknown
      try {
        finished = await this.attempt(intent, target)
      } catch (err) {
        // A bug or an input no payload rule foresaw (e.g. a date out of range): this push fails,
        // counted and logged like any other outcome (with the error); the process and the other
        // devices go on.
        finished = outcome(
          intent,
          target,
          { kind: 'failed', reason: `internal error: ${err instanceof Error ? err.message : String(err)}` },
          0,
        )
        bug = err
      }
      this.report(finished, bug)
      return finished
    } finally {
      this.inFlight--
    }
  }

  private async attempt(intent: PushIntent, target: PushTarget): Promise<PushOutcome> {
    const { clock } = this.options
    const message = buildMessage(intent, target, this.options.payload, clock.now())
    if (!message)
      return outcome(intent, target, { kind: 'skipped', reason: `${target.device.platform} push is not configured` }, 0)
    const provider = this.options.providers[message.provider]
    if (!provider)
      return outcome(intent, target, { kind: 'skipped', reason: `${message.provider} is not configured` }, 0)

    let sentAtHr: number | undefined
    for (let attempt = 1; ; attempt++) {
      const remaining = intent.expiresAt - clock.now()
      if (remaining <= 0) {
        return outcome(
          intent,
          target,
          { kind: 'expired', reason: 'the ring ended before the push could go out' },
          attempt - 1,
          provider.name,
          sentAtHr,
        )
      }
      if (!this.slots.tryAcquire()) {
        await this.slots.acquire(intent.ring.userId)
        if (clock.now() >= intent.expiresAt) {
          this.slots.release()
          return outcome(
            intent,
            target,
            { kind: 'expired', reason: 'the ring ended while the push waited for a free slot (PUSH_MAX_IN_FLIGHT)' },
            attempt - 1,
            provider.name,
            sentAtHr,
          )
        }
      }
      sentAtHr ??= performance.now()
      let result: SendResult
      try {
        result = await this.sendOnce(
          provider,
          message,
          this.deadlineSignal(intent.expiresAt),
          intent.ring.conversationId,
        )
      } finally {
        this.slots.release()
      }
      if (result.kind === 'delivered' && result.environment && result.environment !== target.device.environment) {
        await this.moveEnvironment(target, result.environment, intent.ring.conversationId)
      }
      if (result.kind === 'delivered' || result.kind === 'failed')
        return outcome(intent, target, result, attempt, provider.name, sentAtHr)
      if (result.kind === 'invalid-token') {
        const pruned = await this.prune(target, result, intent.ring.conversationId)
        return outcome(intent, target, result, attempt, provider.name, sentAtHr, pruned)
      }
      // retry: exponential back-off with full jitter, at least what the service asked for.
      const backoff = Math.random() * Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempt - 1))
      const wait = Math.max(backoff, result.retryAfterMs ?? 0)
      if (attempt >= this.maxAttempts || clock.now() + wait >= intent.expiresAt) {
        return outcome(
          intent,
          target,
          { kind: 'expired', reason: `gave up after ${attempt} attempt(s): ${result.reason}` },
          attempt,
          provider.name,
          sentAtHr,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  /**
   * Aborts at the deadline, rounded up to the next DEADLINE_SLICE_MS: never early, at most that much
   * late. Shared, because an AbortSignal.timeout per push keeps a timer alive for the ring's whole
   * remaining lifetime, freed only when a full garbage collection finalises its signal: under load
   * that is one live timer per push of the last minute.
   */
  private deadlineSignal(deadline: number): AbortSignal {
    const slice = Math.ceil(deadline / DEADLINE_SLICE_MS) * DEADLINE_SLICE_MS
    let signal = this.deadlines.get(slice)
    if (!signal) {
      signal = AbortSignal.timeout(Math.max(0, slice - this.options.clock.now()))
      // Every push in flight in the slice listens (and stops listening when it is done).
      setMaxListeners(Infinity, signal)
      this.deadlines.set(slice, signal)
      signal.addEventListener('abort', () => this.deadlines.delete(slice), { once: true })
    }
    return signal
  }

  private async sendOnce(
    provider: PushProvider,
    message: PushMessage,
    signal: AbortSignal,
    conversationId: string,
  ): Promise<SendResult> {
    try {
      return await provider.send(message, signal, { conversationId })
    } catch (err) {
      // A provider should classify everything; an exception is a bug or a network surprise: retryable.
      this.options.logger.warn(
        { err, conversationId, provider: provider.name },
        'provider threw instead of returning a result',
      )
      return { kind: 'retry', reason: err instanceof Error ? err.message : String(err) }
    }
  }

  private async prune(
    target: PushTarget,
    result: Extract<SendResult, { kind: 'invalid-token' }>,
    conversationId: string,
  ): Promise<boolean> {
    try {
      // Logged with the push's outcome (report), which says whether the token was removed.
      return await this.options.store.pruneToken(target.device.token, result.timestamp)
    } catch (err) {
      this.options.logger.error(
        { err, conversationId, device: tokenPrefix(target.device.token) },
        'could not prune a dead device token',
      )
      return false
    }
  }

  /** APNs delivered through the other environment: remember it, so the next push goes there first. */
  private async moveEnvironment(
    target: PushTarget,
    environment: 'production' | 'sandbox',
    conversationId: string,
  ): Promise<void> {
    try {
      const current = await this.options.store.getDevice(target.device.token)
      if (!current || current.userId !== target.device.userId || current.environment === environment) return
      await this.options.store.upsertDevice({ ...current, environment })
      this.options.logger.info(
        { conversationId, userId: current.userId, device: tokenPrefix(current.token), environment },
        'device environment corrected',
      )
    } catch (err) {
      this.options.logger.warn(
        { err, conversationId, device: tokenPrefix(target.device.token) },
        'could not record the device environment',
      )
    }
  }

  /** Counts, alarms and logs one push's outcome: the one log line of a push that failed. */
  private report(outcome: PushOutcome, bug?: unknown): void {
    const { result, target, intent } = outcome
    if (outcome.provider && result.kind === 'delivered') this.options.alarms?.clear(outcome.provider)
    if (outcome.provider && result.kind === 'failed' && result.config)
      this.options.alarms?.raise(outcome.provider, result.reason)
    if (result.kind !== 'delivered') {
      const level = bug !== undefined || (result.kind === 'failed' && result.config) ? 'error' : 'warn'
      this.options.logger[level](
        {
          ...(bug !== undefined ? { err: bug } : {}),
          action: intent.action,
          conversationId: intent.ring.conversationId,
          userId: target.device.userId,
          device: tokenPrefix(target.device.token),
          provider: outcome.provider,
          result: result.kind,
          ...('status' in result && result.status !== undefined ? { status: result.status } : {}),
          reason: result.reason,
          attempts: outcome.attempts,
          ...(result.kind === 'invalid-token' ? { pruned: outcome.pruned } : {}),
        },
        'push not delivered',
      )
    }
    this.options.onOutcome?.(outcome)
  }
}

/**
 * Every outcome is this one object literal, never `{ ...base, provider, result, … }`: V8 gives each
 * spread-and-extend object a hidden class of its own, which is much slower to build and keeps more
 * garbage alive per scavenge on the hot path (BENCHMARKS.md).
 */
function outcome(
  intent: PushIntent,
  target: PushTarget,
  result: DeliveryResult,
  attempts: number,
  provider?: ProviderName,
  sentAtHr?: number,
  pruned = false,
): PushOutcome {
  return { intent, target, provider, result, attempts, sentAtHr, answeredAtHr: performance.now(), pruned }
}
