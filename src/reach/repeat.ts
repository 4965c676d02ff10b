// RING_REPEAT_S: a ring that no device has reported yet is sent again every N seconds, until the
// ring ends, to the devices that rang through an alert (iOS) or a data message (Android, browsers).
// Never through PushKit: iOS reports every VoIP push to CallKit as a new incoming call (PushKit
// PKPushType.voIP). The repeat carries the same collapse id (the conversation id), so it replaces
// the notification on the device rather than adding one. The instance that rang repeats; if it
// stops, the repeats stop, and the ring itself is unaffected.
import type { Clock } from '../clock.js'
import { ringKey, type PushIntent, type PushIntentSink } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { RingStore } from '../store/store.js'

export interface RingRepeaterOptions {
  everyMs: number
  store: Pick<RingStore, 'getRing'>
  clock: Clock
  logger: Logger
  /** The dispatcher. */
  pushes: PushIntentSink
  /** Runs after the ring engine's pending work for the conversation and agent, so a repeat never overtakes the cancel. */
  serialize: <T>(k: { conversationId: string; userId: string }, work: () => Promise<T>) => Promise<T>
  /** Whether the device reported this ring. */
  received: (conversationId: string, token: string, participantId: string) => Promise<boolean>
}

export class RingRepeater {
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private stopped = false

  constructor(private readonly options: RingRepeaterOptions) {}

  /** A ring was pushed: repeat it while it rings unreported. */
  ringing(intent: PushIntent): void {
    if (intent.action !== 'ring' || intent.repeat !== undefined || this.stopped) return
    if (!intent.targets.some((t) => t.via !== 'voip')) return
    this.schedule(intent, 1)
  }

  stop(): void {
    this.stopped = true
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }

  private schedule(intent: PushIntent, repeat: number): void {
    const key = ringKey(intent.ring)
    const timer = setTimeout(() => {
      this.timers.delete(key)
      void this.options
        .serialize(intent.ring, () => this.repeat(intent, repeat))
        .catch((err: unknown) => {
          this.options.logger.warn({ err, conversationId: intent.ring.conversationId }, 'ring repeat failed')
        })
    }, this.options.everyMs)
    timer.unref()
    this.timers.set(key, timer)
  }

  private async repeat(intent: PushIntent, repeat: number): Promise<void> {
    if (this.stopped) return
    const { conversationId, participantId } = intent.ring
    const ring = await this.options.store.getRing(ringKey(intent.ring))
    // Ended, or a phone answered (its other devices were sent their cancel while Genesys catches up).
    if (ring?.state !== 'ringing' || ring.expiresAt <= this.options.clock.now() + 500) return
    const cancelled = new Set(ring.cancelledTokens)
    const targets = []
    for (const target of intent.targets) {
      if (target.via === 'voip' || cancelled.has(target.device.token)) continue
      if (await this.options.received(conversationId, target.device.token, participantId)) continue
      targets.push(target)
    }
    if (targets.length === 0) return
    this.options.logger.debug(
      { conversationId, userId: intent.ring.userId, repeat, devices: targets.length },
      'ring not reported yet: sending it again',
    )
    void this.options.pushes.dispatch({ ...intent, targets, expiresAt: ring.expiresAt, repeat })
    this.schedule(intent, repeat + 1)
  }
}
