// The ring state machine of docs/ARCHITECTURE.md, keyed by (conversation, agent, participant):
// idle → ringing → answered | cancelled. Only the first offer rings (Genesys resends the whole
// conversation on every change, and our own sources may see an offer twice); answered or ended
// while ringing cancels exactly the devices that rang; a ring nobody ends is cancelled at its
// timeout. The ring record outlives the ring by the dedup window, so a late repeat of the same
// offer is recognised and suppressed, on every instance sharing the store.
// Claims are marked sent after their pushes (outbox.ts); recovery sends what a dead instance claimed
// and never marked: a ring when gap recovery re-reads the offer, a cancel from the periodic sweep.
import { performance } from 'node:perf_hooks'
import type { Clock } from '../clock.js'
import type {
  Device,
  EndReason,
  PushIntent,
  PushIntentSink,
  PushTarget,
  RingContext,
  RingRecord,
  RoutingEvent,
  RoutingEventSink,
} from '../model.js'
import { ringKey } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { RingDecision } from '../outcomes.js'
import type { DeviceStore, RingStore } from '../store/store.js'
import { selectCancelTargets, selectRingTargets, type IosCallCancel } from './phones.js'
import { claimedByLiveInstance, Outbox } from './outbox.js'

// endRing attempts: the second carries the ring record's own rung devices, so only a ring changed in between needs a third.
const END_ATTEMPTS = 3

/** The presence filter as the engine sees it (src/ring/presence.ts). */
export interface PresenceCheck {
  check(userId: string): Promise<{ deliver: boolean; reason?: string }>
}

/** The agent's app reported that one of its phones answered. */
export interface DeviceAnswer {
  conversationId: string
  userId: string
  /** Every token of the answering phone (an iPhone holds a PushKit and an alert token): never cancelled. */
  tokens: string[]
  /** From the ring's payload (genesys_participant_id); without it every open ring of the conversation for this agent. */
  participantId?: string
}

export interface RingEngineOptions {
  store: DeviceStore & RingStore
  /** The dispatcher: every push leaves through the outbox to it. */
  pushes: PushIntentSink
  clock: Clock
  logger: Logger
  ringTimeoutMs: number
  dedupWindowMs: number
  /** IOS_CALL_CANCEL: a phone rung through PushKit is cancelled on its alert token (default) or through PushKit. */
  iosCallCancel?: IosCallCancel
  onDecision?: (decision: RingDecision) => void
  /** A ring left 'ringing' on this instance (answered, ended, timed out): the record as it was. */
  onRingEnded?: (ring: RingRecord) => void
  sweepIntervalMs?: number
  /** PRESENCE_FILTER=soft; absent or off: every offer rings. */
  presence?: PresenceCheck
  /** A cached queue name, never a lookup on the ring's path (src/ring/queues.ts). */
  queueName?: (queueId: string) => string | undefined
  /**
   * A claim not marked sent this long after it was made is presumed abandoned by a dead instance
   * and sent again; a live instance marks within milliseconds (default 2 s).
   */
  recoveryGraceMs?: number
}

export class RingEngine implements RoutingEventSink {
  // Events of one (conversation, agent) are handled one after another, in arrival order: an offer
  // and its abandon 10 ms later must not race through the store.
  private readonly queues = new Map<string, Promise<void>>()
  private sweepTimer: NodeJS.Timeout | undefined
  private readonly rechecks = new Set<NodeJS.Timeout>()
  private readonly outbox: Outbox
  private readonly graceMs: number

  constructor(private readonly options: RingEngineOptions) {
    this.graceMs = options.recoveryGraceMs ?? 2_000
    this.outbox = new Outbox({ ...options, graceMs: this.graceMs })
  }

  /** Pushes handed to dispatch and not yet marked sent: a graceful stop lets them finish. */
  get pending(): number {
    return this.outbox.pending
  }

  start(): void {
    const every = this.options.sweepIntervalMs ?? 1_000
    this.sweepTimer = setInterval(() => void this.sweep(), every)
    this.sweepTimer.unref()
  }

  stop(): void {
    clearInterval(this.sweepTimer)
    this.sweepTimer = undefined
    this.outbox.stop()
    for (const t of this.rechecks) clearTimeout(t)
    this.rechecks.clear()
  }

  /** Handles one event; resolves when its decision is made and its pushes are handed to dispatch. */
  handle(event: RoutingEvent): Promise<void> {
    return this.inOrder(event, () => this.decide(event)).catch((err: unknown) => {
      this.options.logger.error(
        { err, conversationId: event.conversationId, userId: event.userId, kind: event.kind },
        'ring engine could not handle an event',
      )
    })
  }

  /**
   * One device answered (POST /api/v1/agent/answered): the agent's other devices get their cancel
   * now, without waiting for Genesys. The answering phone's tokens are claimed without a push, so
   * the Genesys `connected` that follows cancels nobody twice and never the phone that answered.
   */
  answeredOnDevice(a: DeviceAnswer): Promise<{ rings: number; cancelled: number }> {
    return this.inOrder(a, async () => {
      const rings = a.participantId
        ? [await this.options.store.getRing(ringKey({ ...a, participantId: a.participantId }))].filter(
            (r): r is RingRecord => r?.state === 'ringing',
          )
        : (await this.options.store.listOpenRings()).filter(
            (r) => r.conversationId === a.conversationId && r.userId === a.userId,
          )
      let cancelled = 0
      for (const ring of rings)
        cancelled += await this.cancel(ringKey(ring), ring, 'answered-on-device', undefined, a.tokens)
      return { rings: rings.length, cancelled }
    })
  }

  /** Runs `work` after this instance's pending work for the same (conversation, agent): a ring repeat never overtakes its cancel. */
  serialize<T>(k: { conversationId: string; userId: string }, work: () => Promise<T>): Promise<T> {
    return this.inOrder(k, work)
  }

  // Work for one (conversation, agent) runs one item after another, in arrival order.
  private inOrder<T>(k: { conversationId: string; userId: string }, work: () => Promise<T>): Promise<T> {
    const queueKey = `${k.conversationId}:${k.userId}`
    const previous = this.queues.get(queueKey) ?? Promise.resolve()
    const next = previous.then(work)
    const tail = next.then(
      () => undefined,
      () => undefined,
    )
    this.queues.set(queueKey, tail)
    void tail.finally(() => {
      if (this.queues.get(queueKey) === tail) this.queues.delete(queueKey)
    })
    return next
  }

  private async decide(event: RoutingEvent): Promise<void> {
    switch (event.kind) {
      case 'offer':
        return this.offer(event)
      case 'answered':
        return this.end(event, 'answered', 'answered')
      case 'ended':
        return this.end(event, 'cancelled', event.reason)
    }
  }

  private async offer(event: Extract<RoutingEvent, { kind: 'offer' }>): Promise<void> {
    const now = this.options.clock.now()
    const devices = await this.options.store.listDevices(event.userId)
    if (devices.length === 0) return this.decided({ kind: 'suppressed', event, reason: 'no-devices' })
    const { targets, skipped } = selectRingTargets(devices, event.mediaType)
    for (const s of skipped)
      this.options.logger.debug(
        { conversationId: event.conversationId, userId: event.userId, reason: s.reason },
        'device not rung',
      )
    if (targets.length === 0) return this.decided({ kind: 'suppressed', event, reason: 'no-reachable-device' })
    if (this.options.presence) {
      const verdict = await this.options.presence.check(event.userId)
      if (!verdict.deliver)
        return this.decided({
          kind: 'suppressed',
          event,
          reason: 'presence',
          ...(verdict.reason ? { detail: verdict.reason } : {}),
        })
      if (verdict.reason)
        this.options.logger.debug(
          { conversationId: event.conversationId, userId: event.userId, reason: verdict.reason },
          'presence filter let the offer through',
        )
    }

    const record: RingRecord = {
      conversationId: event.conversationId,
      userId: event.userId,
      participantId: event.participantId,
      mediaType: event.mediaType,
      state: 'ringing',
      rungTokens: targets.map((t) => t.device.token),
      cancelledTokens: [],
      offeredAt: event.occurredAt,
      expiresAt: now + this.options.ringTimeoutMs,
    }
    // Assigned, not spread in: a conditional spread builds and copies a throwaway object per ring.
    if (event.queueId) record.queueId = event.queueId
    if (event.callerDisplay) record.callerDisplay = event.callerDisplay
    const created = await this.options.store.createRing(record, this.options.ringTimeoutMs + this.options.dedupWindowMs)
    if (!created)
      return event.recovered === true
        ? this.recoverRing(event)
        : this.decided({ kind: 'suppressed', event, reason: 'duplicate' })

    const intent: PushIntent = {
      action: 'ring',
      ring: this.contextOf(record),
      targets,
      expiresAt: record.expiresAt,
      cause: event,
    }
    this.decided({ kind: 'ring', event, intent })
    this.outbox.send(ringKey(record), intent, { ring: true })
  }

  /**
   * Gap recovery read this offer again: the agent is still alerting. A ring claimed but never
   * marked sent (its instance died between the claim and the push) is pushed now to the devices
   * it was claimed for; one claimed too recently may still be on its way and is looked at again
   * once the grace has passed.
   */
  private async recoverRing(event: Extract<RoutingEvent, { kind: 'offer' }>): Promise<void> {
    const key = ringKey(event)
    const ring = await this.options.store.getRing(key)
    const duplicate = (): void => this.decided({ kind: 'suppressed', event, reason: 'duplicate' })
    if (ring?.state !== 'ringing' || ring.dispatchedAt !== undefined || this.outbox.isSending(key)) return duplicate()
    const age = this.options.clock.now() - (ring.expiresAt - this.options.ringTimeoutMs)
    if (age < this.graceMs) {
      const timer = setTimeout(() => {
        this.rechecks.delete(timer)
        void this.handle(event)
      }, this.graceMs - age)
      timer.unref()
      this.rechecks.add(timer)
      return duplicate()
    }
    // Once across instances, should two ever recover at the same time.
    if (await claimedByLiveInstance(this.options.store, key, this.options.clock.now(), this.graceMs)) return duplicate()
    if (!(await this.options.store.claimOnce(`resend:ring:${key}`, this.graceMs))) return duplicate()
    const rung = new Set(ring.rungTokens)
    const { targets } = selectRingTargets(
      (await this.options.store.listDevices(ring.userId)).filter((d) => rung.has(d.token)),
      ring.mediaType,
    )
    if (targets.length === 0) {
      await this.options.store.markSent(key, { ring: true }, this.options.clock.now())
      return this.decided({ kind: 'suppressed', event, reason: 'no-reachable-device' })
    }
    this.options.logger.warn(
      { conversationId: ring.conversationId, userId: ring.userId, ageMs: age },
      'ring claimed but never sent (its instance died): sending it now',
    )
    const intent: PushIntent = {
      action: 'ring',
      ring: this.contextOf(ring),
      targets,
      expiresAt: ring.expiresAt,
      cause: event,
    }
    this.decided({ kind: 'ring', event, intent })
    this.outbox.send(key, intent, { ring: true })
  }

  private async end(event: RoutingEvent, to: 'answered' | 'cancelled', reason: EndReason | 'answered'): Promise<void> {
    const key = ringKey(event)
    // Most rings end while the agent's devices are as they were at the offer, so the devices rung
    // then are those the offer would pick now. With that guess the store ends the ring and claims
    // its cancels in one atomic step (it checks the guess against the ring's record); a device
    // registered or removed since changes nothing there and costs one more round trip, with the
    // devices the record names. Never an end without its claims: no ring left ended, uncancelled.
    const current = await this.options.store.listDevices(event.userId)
    let rung = selectRingTargets(current, event.mediaType).targets.map((t) => t.device.token)
    for (let attempt = 0; attempt < END_ATTEMPTS; attempt++) {
      const candidates = this.cancelCandidates(rung, current)
      const ended = await this.options.store.endRing(
        key,
        ['ringing'],
        to,
        this.options.dedupWindowMs + this.options.ringTimeoutMs,
        {
          ifRung: rung,
          tokens: candidates.map((t) => t.device.token),
        },
      )
      if (!ended) return this.decided({ kind: 'suppressed', event, reason: 'not-ringing' })
      if (ended.claimed !== undefined) {
        this.options.onRingEnded?.(ended.before)
        this.sendCancel(key, ended.before, candidates, ended.claimed, reason, event)
        return
      }
      rung = ended.before.rungTokens
    }
    this.options.logger.error(
      { conversationId: event.conversationId, userId: event.userId },
      'ring could not be ended: its record kept changing',
    )
  }

  /** The cancel targets of a ring that rang `rungTokens`, among the agent's `current` devices. */
  private cancelCandidates(rungTokens: readonly string[], current: Device[]): PushTarget[] {
    const rung = new Set(rungTokens)
    return selectCancelTargets(
      current.filter((d) => rung.has(d.token)),
      current,
      this.options.iosCallCancel,
    )
  }

  /** Cancels rings whose timeout passed without an answer or an end. */
  async sweep(): Promise<void> {
    try {
      const now = this.options.clock.now()
      for (const ring of await this.options.store.listOpenRings(now)) {
        if (ring.expiresAt > now) continue
        const key = ringKey(ring)
        // The end and its cancel claims in one store step, as in end(); the record names the rung devices.
        const candidates = this.cancelCandidates(ring.rungTokens, await this.options.store.listDevices(ring.userId))
        const ended = await this.options.store.endRing(key, ['ringing'], 'cancelled', this.options.dedupWindowMs, {
          ifRung: ring.rungTokens,
          tokens: candidates.map((t) => t.device.token),
        })
        if (ended?.claimed === undefined) continue
        this.options.onRingEnded?.(ended.before)
        this.sendCancel(key, ended.before, candidates, ended.claimed, 'timeout')
      }
      await this.resendCancels()
    } catch (err) {
      this.options.logger.error({ err }, 'ring timeout sweep failed')
    }
  }

  /** Cancels claimed but never marked sent (their instance died between the claim and the push). */
  private async resendCancels(): Promise<void> {
    for (const { ring, tokens } of await this.options.store.listUnsentCancels(this.graceMs)) {
      const key = ringKey(ring)
      if (this.outbox.isSending(key)) continue
      await this.inOrder(ring, async () => {
        // Its instance may be alive and slow (a push service answering late, retries): not dead.
        if (await claimedByLiveInstance(this.options.store, key, this.options.clock.now(), this.graceMs)) return
        if (!(await this.options.store.claimOnce(`resend:cancel:${key}`, this.graceMs))) return
        const wanted = new Set(tokens)
        const devices = (await this.options.store.listDevices(ring.userId)).filter((d) => wanted.has(d.token))
        // Past the ring's end the phone has stopped by itself (expires_at); a device gone has nothing to stop.
        const targets =
          ring.expiresAt > this.options.clock.now()
            ? selectCancelTargets(devices, devices, this.options.iosCallCancel)
            : []
        if (targets.length === 0)
          return this.options.store.markSent(key, { cancelTokens: tokens }, this.options.clock.now())
        this.options.logger.warn(
          { conversationId: ring.conversationId, userId: ring.userId, devices: targets.length },
          'cancel claimed but never sent (its instance died): sending it now',
        )
        // The record does not keep the end's reason; its state tells the closest one.
        const reason =
          ring.state === 'answered' ? 'answered' : ring.state === 'ringing' ? 'answered-on-device' : 'ended'
        const intent: PushIntent = {
          action: 'cancel',
          ring: this.contextOf(ring),
          targets,
          expiresAt: this.options.clock.now() + this.options.ringTimeoutMs,
          reason,
        }
        this.decided({ kind: 'cancel', intent })
        this.outbox.send(key, intent, { cancelTokens: tokens })
      })
    }
  }

  /** Sends the ring's cancel to the devices not cancelled yet; `answering` tokens are claimed silently. Returns how many were cancelled. */
  private async cancel(
    key: string,
    ring: RingRecord,
    reason: PushIntent['reason'],
    event?: RoutingEvent,
    answering: string[] = [],
    devices?: Device[],
  ): Promise<number> {
    const current = devices ?? (await this.options.store.listDevices(ring.userId))
    const rungTokens = new Set(ring.rungTokens)
    const rung = current.filter((d) => rungTokens.has(d.token))
    const skip = new Set(answering)
    const candidates = selectCancelTargets(rung, current, this.options.iosCallCancel).filter(
      (t) => !skip.has(t.device.token),
    )
    // Each device gets at most one cancel, even when two paths (Genesys and the app) end the ring;
    // the answering phone's tokens are claimed as sent, so no recovery ever cancels them.
    const claimed = await this.options.store.claimCancels(
      key,
      candidates.map((t) => t.device.token),
      answering,
    )
    return this.sendCancel(key, ring, candidates, claimed, reason, event)
  }

  /** Pushes the cancel to the `candidates` whose tokens this call `claimed`. Returns how many. */
  private sendCancel(
    key: string,
    ring: RingRecord,
    candidates: PushTarget[],
    claimed: string[],
    reason: PushIntent['reason'],
    event?: RoutingEvent,
  ): number {
    const fresh = new Set(claimed)
    const targets = candidates.filter((t) => fresh.has(t.device.token))
    if (targets.length === 0) return 0
    // A cancel is useful for as long as a ring could still be showing; the app also stops at expires_at.
    const intent: PushIntent = {
      action: 'cancel',
      ring: this.contextOf(ring),
      targets,
      expiresAt: this.options.clock.now() + this.options.ringTimeoutMs,
      reason,
      ...(event ? { cause: event } : {}),
    }
    this.decided({ kind: 'cancel', intent, ...(event ? { event } : {}) })
    this.outbox.send(key, intent, { cancelTokens: targets.map((t) => t.device.token) })
    return targets.length
  }

  private decided(decision: RingDecision): void {
    if (decision.kind !== 'suppressed') decision.intent.decidedAtHr = performance.now()
    this.options.onDecision?.(decision)
  }

  private contextOf(ring: RingRecord): RingContext {
    const queueName = ring.queueId ? this.options.queueName?.(ring.queueId) : undefined
    const context: RingContext = {
      conversationId: ring.conversationId,
      userId: ring.userId,
      participantId: ring.participantId,
      mediaType: ring.mediaType,
      offeredAt: ring.offeredAt,
    }
    if (ring.queueId) context.queueId = ring.queueId
    if (queueName) context.queueName = queueName
    if (ring.callerDisplay) context.callerDisplay = ring.callerDisplay
    return context
  }
}
