// The live feed behind the dashboard: every ring, cancel, suppression and push outcome as a small
// item with the latency of each stage, kept for the last few hundred and pushed to subscribers
// (the dashboard's server-sent events). Fed by the same observers as the metrics.
import { performance } from 'node:perf_hooks'
import type { Clock } from '../clock.js'
import { tokenPrefix } from './logger.js'
import type { PushOutcome, RingDecision } from '../outcomes.js'

/** Milliseconds spent in each stage; absent when the stage did not happen or was not timed. */
export interface Stages {
  /** Event received → ring/cancel decided (store round trips, dedup). */
  decideMs?: number
  /** Decided → first request to the push service left (per-device ordering, token signing). */
  queueMs?: number
  /** First request left → final answer from the push service (retries included). */
  serviceMs?: number
  /** Event received → final answer. */
  totalMs?: number
}

export type FeedItem = (
  | {
      type: 'ring'
      at: number
      conversationId: string
      userId: string
      mediaType: string
      devices: number
      stages: Stages
    }
  | {
      type: 'cancel'
      at: number
      conversationId: string
      userId: string
      reason: string
      devices: number
      stages: Stages
    }
  | {
      type: 'suppressed'
      at: number
      conversationId: string
      userId: string
      reason: string
      /** Expected in normal operation (a repeat snapshot, an answer after the ring ended…), not a failure. */
      normal: boolean
    }
  | {
      type: 'push'
      at: number
      conversationId: string
      userId: string
      action: string
      provider: string
      platform: string
      /** The device token's short prefix, never the token. */
      device: string
      outcome: string
      reason?: string
      attempts: number
      stages: Stages
    }
  | ReceiptItem
) & { agentName?: string }

export type ReceiptItem = {
  type: 'receipt'
  at: number
  userId: string
  action: string
  provider: string
  latencyMs?: number
}

export interface FeedTotals {
  rings: number
  cancels: number
  suppressed: number
  delivered: number
  failed: number
}

// Suppressions that are the gateway working as intended: Genesys repeats a snapshot (duplicate), an
// answer or end arrives for a ring that already ended or never rang (not-ringing: answered before
// the ring, or on another phone), the presence filter held an offer back on purpose, an agent has
// no device. Only "devices, but none reachable" is a problem worth an operator's look.
const NORMAL_SUPPRESSIONS: ReadonlySet<string> = new Set(['duplicate', 'not-ringing', 'presence', 'no-devices'])

const round = (ms: number): number => Math.round(ms * 100) / 100

export class LiveFeed {
  // The last `keep` items in a ring of fixed size: under load every slot is rewritten within tens
  // of milliseconds, and an array that shifted and grew reallocated its backing store as it went,
  // garbage that each young-generation collection had to copy.
  private readonly items: Array<FeedItem | undefined>
  /** The slot the next item goes to. */
  private next = 0
  private held = 0
  private readonly listeners = new Set<(item: FeedItem) => void>()
  readonly totals: FeedTotals = { rings: 0, cancels: 0, suppressed: 0, delivered: 0, failed: 0 }

  constructor(
    private readonly options: { clock: Clock; keep?: number; agentName?: (userId: string) => string | undefined },
  ) {
    this.items = new Array<FeedItem | undefined>(Math.max(1, options.keep ?? 300)).fill(undefined)
  }

  /** The most recent items, oldest first. */
  recent(): FeedItem[] {
    const size = this.items.length
    const out: FeedItem[] = []
    for (let i = this.held; i > 0; i--) out.push(this.items[(this.next - i + size) % size] as FeedItem)
    return out
  }

  /** Calls `listener` with every new item until the returned function is called. */
  subscribe(listener: (item: FeedItem) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** A device receipt (push service accepted → the app reported it). */
  observeReceipt(r: { userId: string; action: string; provider?: string; latencyMs?: number }): void {
    this.emit({
      type: 'receipt',
      at: this.options.clock.now(),
      userId: r.userId,
      action: r.action,
      provider: r.provider ?? 'none',
      ...(r.latencyMs !== undefined ? { latencyMs: Math.round(r.latencyMs) } : {}),
    })
  }

  observeDecision(d: RingDecision): void {
    const now = (d.kind !== 'suppressed' ? d.intent.decidedAtHr : undefined) ?? performance.now()
    const at = this.options.clock.now()
    if (d.kind === 'suppressed') {
      this.totals.suppressed++
      return this.emit({
        type: 'suppressed',
        at,
        conversationId: d.event.conversationId,
        userId: d.event.userId,
        reason: d.reason,
        normal: NORMAL_SUPPRESSIONS.has(d.reason),
      })
    }
    const received = d.intent.cause?.receivedAtHr
    const stages: Stages = received !== undefined ? { decideMs: round(now - received) } : {}
    const { conversationId, userId, mediaType } = d.intent.ring
    if (d.kind === 'ring') {
      this.totals.rings++
      this.emit({ type: 'ring', at, conversationId, userId, mediaType, devices: d.intent.targets.length, stages })
    } else {
      this.totals.cancels++
      this.emit({
        type: 'cancel',
        at,
        conversationId,
        userId,
        reason: d.intent.reason ?? 'unknown',
        devices: d.intent.targets.length,
        stages,
      })
    }
  }

  observeOutcome(outcome: PushOutcome): void {
    const { intent, target, result } = outcome
    const received = intent.cause?.receivedAtHr
    const decided = intent.decidedAtHr
    const stages: Stages = {}
    if (received !== undefined && decided !== undefined) stages.decideMs = round(decided - received)
    if (decided !== undefined && outcome.sentAtHr !== undefined) stages.queueMs = round(outcome.sentAtHr - decided)
    if (outcome.sentAtHr !== undefined) stages.serviceMs = round(outcome.answeredAtHr - outcome.sentAtHr)
    if (received !== undefined) stages.totalMs = round(outcome.answeredAtHr - received)
    if (result.kind === 'delivered') this.totals.delivered++
    else this.totals.failed++
    this.emit({
      type: 'push',
      at: this.options.clock.now(),
      conversationId: intent.ring.conversationId,
      userId: target.device.userId,
      action: intent.action,
      provider: outcome.provider ?? 'none',
      platform: target.device.platform,
      device: tokenPrefix(target.device.token),
      outcome: result.kind,
      ...('reason' in result ? { reason: result.reason } : {}),
      attempts: outcome.attempts,
      stages,
    })
  }

  private emit(item: FeedItem): void {
    // The agent's display name when already cached (never looked up on the event path).
    const agentName = this.options.agentName?.(item.userId)
    if (agentName !== undefined) item.agentName = agentName
    this.items[this.next] = item
    this.next = (this.next + 1) % this.items.length
    if (this.held < this.items.length) this.held++
    for (const listener of this.listeners) {
      try {
        listener(item)
      } catch {
        // A broken subscriber (a closed dashboard stream) must not stop the feed for the others.
        this.listeners.delete(listener)
      }
    }
  }
}
