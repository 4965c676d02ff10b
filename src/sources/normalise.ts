// Turns Genesys conversation snapshots into RoutingEvents. Genesys sends the whole conversation on
// every change (a hold, a recording flag, a wrap-up code…), so only transitions of an agent
// participant's media leg count: alerting → offer, connected → answered, disconnected → ended.
// Wire shapes: purecloud-platform-client-v2 ConversationEventTopicConversation / …Participant /
// …Call (calls[], callbacks[], chats[], messages[], emails[] each with state and disconnectType), and
// the per-media topics (…conversations.calls etc.) whose participants carry state themselves.
import { systemClock, type Clock } from '../clock.js'
import type { EventSourceName, MediaType, RoutingEvent } from '../model.js'
import type { Logger } from '../observability/logger.js'
import { legEndReason } from './disconnect.js'
import { isRecord, parseConversationTopic, readLegs, type ConversationTopic, type LegReading } from './genesys-wire.js'

export type RejectKind = 'unknown-topic' | 'malformed-body' | 'malformed-participant'

type LegState = LegReading['state']

interface TrackedLeg {
  state: LegState
  userId: string
  mediaType: MediaType
  queueId?: string
  callerDisplay?: string
}

interface TrackedConversation {
  /** The conversation's id as first seen: the key it is stored under again on every snapshot. */
  id: string
  legs: Map<string, TrackedLeg>
  touchedAt: number
  /** Set while every tracked agent leg has ended: the entry is then only a short-lived tombstone. */
  endedAt?: number
}

export interface NormaliserLimits {
  /** Conversations tracked at once; the least recently touched goes first. */
  maxConversations?: number
  /** A conversation not seen for this long is forgotten (a lost final snapshot must not leak). */
  idleTtlMs?: number
  /** How long an ended conversation is remembered, so trailing snapshots (wrap-up…) stay silent. */
  endedTtlMs?: number
}

const SWEEP_EVERY_MS = 30_000

export class ConversationNormaliser {
  private readonly conversations = new Map<string, TrackedConversation>()
  private readonly clock: Clock
  private readonly logger: Logger | undefined
  private readonly maxConversations: number
  private readonly idleTtlMs: number
  private readonly endedTtlMs: number
  private readonly rejectedCounts: Record<RejectKind, number> = {
    'unknown-topic': 0,
    'malformed-body': 0,
    'malformed-participant': 0,
  }
  private readonly loggedKinds = new Set<RejectKind>()
  private lastSweep = 0

  constructor(options: { clock?: Clock; logger?: Logger; limits?: NormaliserLimits } = {}) {
    this.clock = options.clock ?? systemClock
    this.logger = options.logger
    this.maxConversations = options.limits?.maxConversations ?? 10_000
    this.idleTtlMs = options.limits?.idleTtlMs ?? 4 * 3600_000
    this.endedTtlMs = options.limits?.endedTtlMs ?? 5 * 60_000
    this.lastSweep = this.clock.now()
  }

  /** Snapshots that were not understood, by kind. */
  get rejected(): Readonly<Record<RejectKind, number>> {
    return this.rejectedCounts
  }

  get rejectedTotal(): number {
    return (
      this.rejectedCounts['unknown-topic'] +
      this.rejectedCounts['malformed-body'] +
      this.rejectedCounts['malformed-participant']
    )
  }

  /** Conversations currently tracked (for tests and metrics). */
  get tracked(): number {
    return this.conversations.size
  }

  forget(conversationId: string): void {
    this.conversations.delete(conversationId)
  }

  fromSnapshot(topicName: string, eventBody: unknown, receivedAt: number, source: EventSourceName): RoutingEvent[] {
    try {
      return this.normalise(topicName, eventBody, receivedAt, source)
    } catch (err) {
      // A shape we did not foresee must cost one snapshot, never the source.
      this.reject('malformed-body', { topicName, err: err instanceof Error ? err.message : String(err) })
      return []
    }
  }

  private normalise(topicName: string, body: unknown, receivedAt: number, source: EventSourceName): RoutingEvent[] {
    const topic = parseConversationTopic(topicName)
    if (!topic) {
      this.reject('unknown-topic', { topicName })
      return []
    }
    if (!isRecord(body) || typeof body.id !== 'string' || body.id === '' || !Array.isArray(body.participants)) {
      this.reject('malformed-body', { topicName })
      return []
    }
    const conversationId = body.id
    const reading = readLegs(body.participants, topic.mediaType)
    if (reading.malformed > 0) this.reject('malformed-participant', { topicName, conversationId })

    const now = this.clock.now()
    this.sweep(now)
    let conv = this.conversations.get(conversationId)
    if (conv) this.conversations.delete(conversationId) // re-inserted below: Map order = least recently touched first
    const events: RoutingEvent[] = []
    const seen = new Set<string>()

    for (const read of reading.legs) {
      if (!inScope(topic, read.userId)) continue
      seen.add(read.participantId)
      conv ??= { id: conversationId, legs: new Map(), touchedAt: now }
      const prev = conv.legs.get(read.participantId)
      // A ring keeps the media it was offered as: an accepted callback goes on as a call to the customer.
      const leg = prev && prev.mediaType !== read.mediaType ? { ...read, mediaType: prev.mediaType } : read
      const event = transition(prev?.state, leg, reading.customerGone, { conversationId, receivedAt, source })
      if (event) events.push(event)
      if (prev) updateTrackedLeg(prev, leg)
      else
        conv.legs.set(leg.participantId, {
          state: leg.state,
          userId: leg.userId,
          mediaType: leg.mediaType,
          ...(leg.queueId !== undefined && { queueId: leg.queueId }),
          ...(leg.callerDisplay !== undefined && { callerDisplay: leg.callerDisplay }),
        })
    }

    if (conv) {
      // An alerting leg that vanished from the snapshot stopped ringing without a disconnect record.
      for (const [participantId, leg] of conv.legs) {
        if (leg.state !== 'alerting' || seen.has(participantId) || !inScope(topic, leg.userId)) continue
        if (topic.mediaType !== undefined && topic.mediaType !== leg.mediaType) continue
        leg.state = 'ended'
        events.push({
          kind: 'ended',
          reason: reading.customerGone ? 'abandoned' : 'ended',
          ...legBase(conversationId, participantId, leg, receivedAt, receivedAt, source),
        })
      }
      conv.touchedAt = now
      let allEnded = true
      for (const l of conv.legs.values()) if (l.state !== 'ended') allEnded = false
      conv.endedAt = allEnded ? (conv.endedAt ?? now) : undefined
      this.conversations.set(conv.id, conv)
      if (this.conversations.size > this.maxConversations) {
        const oldest = this.conversations.keys().next()
        if (!oldest.done) this.conversations.delete(oldest.value)
      }
    }
    return events
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return
    this.lastSweep = now
    for (const [id, conv] of this.conversations) {
      const expired =
        conv.endedAt !== undefined ? now - conv.endedAt > this.endedTtlMs : now - conv.touchedAt > this.idleTtlMs
      if (expired) this.conversations.delete(id)
    }
  }

  private reject(kind: RejectKind, detail: Record<string, unknown>): void {
    this.rejectedCounts[kind]++
    if (this.loggedKinds.has(kind)) return
    this.loggedKinds.add(kind)
    this.logger?.warn({ kind, ...detail }, 'genesys conversation snapshot not understood (logged once per kind)')
  }
}

/**
 * Brings a tracked leg up to date in place, keeping the strings it already holds where the snapshot
 * repeats them. The tracking lives for minutes, so it is promoted to V8's old generation; a new
 * leg (or a fresh copy of an unchanged id) stored there on every snapshot of a long conversation
 * would be promoted too, and each scavenge copies it first.
 */
function updateTrackedLeg(tracked: TrackedLeg, leg: LegReading): void {
  tracked.state = leg.state
  if (tracked.userId !== leg.userId) tracked.userId = leg.userId
  if (tracked.mediaType !== leg.mediaType) tracked.mediaType = leg.mediaType
  if (leg.queueId === undefined) {
    if (tracked.queueId !== undefined) delete tracked.queueId
  } else if (tracked.queueId !== leg.queueId) tracked.queueId = leg.queueId
  if (leg.callerDisplay === undefined) {
    if (tracked.callerDisplay !== undefined) delete tracked.callerDisplay
  } else if (tracked.callerDisplay !== leg.callerDisplay) tracked.callerDisplay = leg.callerDisplay
}

function inScope(topic: ConversationTopic, userId: string): boolean {
  return topic.scope === 'queue' || topic.id === userId
}

function transition(
  prev: LegState | undefined,
  leg: LegReading,
  customerGone: boolean,
  ctx: { conversationId: string; receivedAt: number; source: EventSourceName },
): RoutingEvent | undefined {
  const { conversationId, receivedAt, source } = ctx
  switch (leg.state) {
    case 'alerting':
      if (prev !== undefined && prev !== 'other') return undefined
      return {
        kind: 'offer',
        ...legBase(conversationId, leg.participantId, leg, receivedAt, receivedAt, source),
        ...(leg.alertingTimeoutMs !== undefined && { alertingTimeoutMs: leg.alertingTimeoutMs }),
      }
    case 'connected':
      // First seen connected (after a gap or a restart) still counts: a persisted ring may need cancelling.
      if (prev === 'connected' || prev === 'ended') return undefined
      return {
        kind: 'answered',
        ...legBase(conversationId, leg.participantId, leg, leg.connectedAt ?? receivedAt, receivedAt, source),
      }
    case 'ended':
      if (prev === 'ended') return undefined
      return {
        kind: 'ended',
        reason: legEndReason(prev === 'connected', leg.disconnectType, customerGone),
        ...legBase(conversationId, leg.participantId, leg, leg.endedAt ?? receivedAt, receivedAt, source),
      }
    case 'other':
      return undefined
  }
}

function legBase(
  conversationId: string,
  participantId: string,
  leg: { userId: string; mediaType: MediaType; queueId?: string; callerDisplay?: string },
  occurredAt: number,
  receivedAt: number,
  source: EventSourceName,
): {
  conversationId: string
  userId: string
  participantId: string
  mediaType: MediaType
  occurredAt: number
  receivedAt: number
  source: EventSourceName
  queueId?: string
  callerDisplay?: string
} {
  return {
    conversationId,
    userId: leg.userId,
    participantId,
    mediaType: leg.mediaType,
    ...(leg.queueId !== undefined && { queueId: leg.queueId }),
    ...(leg.callerDisplay !== undefined && { callerDisplay: leg.callerDisplay }),
    occurredAt,
    receivedAt,
    source,
  }
}
