// The analytics detail events Amazon EventBridge carries for a conversation,
// v2.detail.events.conversation.{id}.{kind} (purecloud-platform-client-v2 models
// UserStartDetailEventTopicUserStartEvent, UserEndDetailEventTopicUserEndEvent,
// AcdEndDetailEventTopicAcdEndEvent). Enumerations are upper case here (mediaType VOICE,
// direction INBOUND, disconnectType NO_ANSWER_TRANSFER, acdOutcome ANSWERED).
// - user.start: an agent's session starts, alerting → an offer (inbound only: an agent's own
//   outbound call starts one too).
// - user.end: the session ended. Interacting time means it was answered; otherwise disconnectType
//   says why the alert stopped (disconnect.ts).
// - acd.end: the queue let go of the interaction. It is the only detail event that says an agent
//   answered before the interaction ends (answeredUserId, acdOutcome ANSWERED); ABANDON is the
//   customer leaving, FLOW_OUT the interaction leaving the queue through a flow. It names no agent
//   participant, so the open rings of the conversation come from the store.
// Other detail kinds (acd.start, customer.*, flow.*, wrapup, acw…) carry nothing for a ring and are
// accepted without effect, so an EventBridge rule that sends more than needed costs nothing.
import { MEDIA_TYPES, type EndReason, type EventSourceName, type RingRecord, type RoutingEvent } from '../model.js'
import { legEndReason } from './disconnect.js'
import { isRecord } from './genesys-wire.js'
import { callerOf, epochOf, MalformedEventError, mediaTypeOf, shown, stringOf } from './event-readers.js'

const DETAIL_RE = /^v2\.detail\.events\.conversation\.([^.]+)\.([a-z]+\.[a-z]+)$/

export const isDetailTopic = (topic: string): boolean => DETAIL_RE.test(topic)

export interface DetailContext {
  source: EventSourceName
  receivedAt: number
  /** Open rings (from the store) of one conversation. */
  openRings: (conversationId: string) => Promise<RingRecord[]>
}

/** acdOutcome → what it means to the rings of the conversation that still ring. */
const ACD_OUTCOME_REASONS: Readonly<Record<string, EndReason | 'answered'>> = {
  ANSWERED: 'answered',
  ABANDON: 'abandoned',
  FLOW_OUT: 'transferred',
}

/**
 * Reads one detail event. Throws MalformedEventError at once when it cannot be read (the webhook
 * then answers 400 and changes nothing); otherwise returns the work that produces its events.
 */
export function readDetailEvent(topic: string, body: unknown): (ctx: DetailContext) => Promise<RoutingEvent[]> {
  const m = DETAIL_RE.exec(topic)
  if (!m) throw new MalformedEventError(`not a conversation detail event topic: ${topic.slice(0, 120)}`)
  if (!isRecord(body)) throw new MalformedEventError('detail event body must be an object')
  const conversationId = stringOf(body, 'conversationId') ?? m[1] ?? ''
  switch (m[2]) {
    case 'user.start':
    case 'user.end':
      return userEvent(m[2], conversationId, body)
    case 'acd.end':
      return acdEnd(conversationId, body)
    default:
      return () => Promise.resolve([])
  }
}

function userEvent(
  kind: 'user.start' | 'user.end',
  conversationId: string,
  body: Record<string, unknown>,
): (ctx: DetailContext) => Promise<RoutingEvent[]> {
  const participantId = stringOf(body, 'participantId')
  const userId = stringOf(body, 'userId')
  const mediaType = mediaTypeOf(body.mediaType)
  if (!participantId || !userId) throw new MalformedEventError(`${kind} needs participantId and userId`)
  if (!mediaType)
    throw new MalformedEventError(`${kind} mediaType ${shown(body.mediaType)} is not one of ${MEDIA_TYPES.join(', ')}`)
  const queueId = stringOf(body, 'queueId')
  const display = callerOf(body.ani)
  const outbound = typeof body.direction === 'string' && body.direction.toUpperCase() === 'OUTBOUND'
  const interacted = typeof body.interactingDurationMs === 'number' && body.interactingDurationMs > 0
  const disconnectType = typeof body.disconnectType === 'string' ? body.disconnectType : undefined
  return (ctx) => {
    const common = {
      conversationId,
      userId,
      participantId,
      mediaType,
      ...(queueId && { queueId }),
      ...(display && { callerDisplay: display }),
      occurredAt: epochOf(body.eventTime, ctx.receivedAt),
      receivedAt: ctx.receivedAt,
      source: ctx.source,
    }
    if (kind === 'user.start') return Promise.resolve(outbound ? [] : [{ kind: 'offer', ...common }])
    // Time spent interacting: the agent answered. Said now, it still cancels the agent's other devices.
    if (interacted) return Promise.resolve([{ kind: 'answered', ...common }])
    return Promise.resolve([{ kind: 'ended', reason: legEndReason(false, disconnectType, false), ...common }])
  }
}

function acdEnd(
  conversationId: string,
  body: Record<string, unknown>,
): (ctx: DetailContext) => Promise<RoutingEvent[]> {
  const answeredUserId = stringOf(body, 'answeredUserId')
  const outcome = typeof body.acdOutcome === 'string' ? ACD_OUTCOME_REASONS[body.acdOutcome.toUpperCase()] : undefined
  return async (ctx) => {
    const base = {
      conversationId,
      occurredAt: epochOf(body.eventTime, ctx.receivedAt),
      receivedAt: ctx.receivedAt,
      source: ctx.source,
    }
    const rings = await ctx.openRings(conversationId)
    if (answeredUserId !== undefined) {
      // The agent who answered: their rings are answered. Others of the queue still alerting end
      // with their own user.end, which says why.
      return rings.filter((r) => r.userId === answeredUserId).map((r) => ({ kind: 'answered', ...base, ...ringOf(r) }))
    }
    // acd.end's own disconnectType is the queue's leg (TRANSFER when it handed over to an agent), not
    // the agent's: only the outcome speaks for the rings.
    if (outcome === undefined || outcome === 'answered') return []
    return rings.map((r) => ({ kind: 'ended', reason: outcome, ...base, ...ringOf(r) }))
  }
}

function ringOf(r: RingRecord): {
  userId: string
  participantId: string
  mediaType: RingRecord['mediaType']
  queueId?: string
} {
  return {
    userId: r.userId,
    participantId: r.participantId,
    mediaType: r.mediaType,
    ...(r.queueId !== undefined && { queueId: r.queueId }),
  }
}
