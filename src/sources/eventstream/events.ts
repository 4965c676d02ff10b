// The event-stream protocol's events: the analytics "Event Streams" WebSocket API as the design guide
// this project started from describes it. GENESYS CLOUD DOES NOT OFFER THIS API (docs/PLATFORMS.md);
// it is kept so relays built on it keep working. Shape: {eventType, timestamp, data: {queueId,
// memberId, memberType, conversationId, mediaType, …}} with eventType routing.queue.member.added (the
// agent is offered the interaction), routing.queue.member.removed (taken away: transfer or timeout),
// routing.conversation.created|updated (updated with status "connected" = answered) and
// routing.conversation.deleted (gone: every open ring of it ends, as abandoned). The webhook accepts
// these events too. The protocol does not say which rings a "conversation gone" ends, so open rings
// come from the store: any instance may receive the end of a ring another instance started.
import {
  MEDIA_TYPES,
  type EndReason,
  type EventSourceName,
  type MediaType,
  type RingRecord,
  type RoutingEvent,
} from '../../model.js'
import { callerOf, epochOf, MalformedEventError, mediaTypeOf, shown, stringOf } from '../event-readers.js'
import { isRecord } from '../genesys-wire.js'

export const EVENTSTREAM_EVENT_TYPES = [
  'routing.queue.member.added',
  'routing.queue.member.removed',
  'routing.conversation.created',
  'routing.conversation.updated',
  'routing.conversation.deleted',
] as const

/** Removal reasons (the protocol leaves them open: our simulator's and relays' extension). */
function removedReason(v: unknown): EndReason {
  const r = typeof v === 'string' ? v.toLowerCase() : ''
  if (r === 'timeout' || r === 'not-answered' || r === 'noanswer') return 'not-answered'
  if (r === 'declined' || r === 'client') return 'declined'
  if (r === 'abandoned' || r === 'peer') return 'abandoned'
  return 'transferred' // the design guide: "routing.queue.member.removed (transferred)"
}

export interface EventStreamContext {
  source: EventSourceName
  receivedAt: number
  /** Open rings (from the store) of one conversation. */
  openRings: (conversationId: string) => Promise<RingRecord[]>
}

/** One event-stream event → RoutingEvents. Throws MalformedEventError when it cannot be read. */
export async function fromEventStreamEvent(event: unknown, ctx: EventStreamContext): Promise<RoutingEvent[]> {
  if (!isRecord(event) || typeof event.eventType !== 'string' || !isRecord(event.data))
    throw new MalformedEventError('expected {eventType, data}')
  const type = event.eventType
  const d = event.data
  const conversationId = stringOf(d, 'conversationId')
  if (!conversationId) throw new MalformedEventError('data.conversationId is required')
  const occurredAt = epochOf(event.timestamp, ctx.receivedAt)
  const base = { conversationId, occurredAt, receivedAt: ctx.receivedAt, source: ctx.source }
  const member = ():
    | { userId: string; participantId: string; mediaType: MediaType; queueId?: string; callerDisplay?: string }
    | undefined => {
    const userId = stringOf(d, 'memberId') ?? stringOf(d, 'userId')
    const mediaType = mediaTypeOf(d.mediaType)
    if (!userId || (d.memberType !== undefined && d.memberType !== 'user')) return undefined
    if (!mediaType)
      throw new MalformedEventError(`data.mediaType ${shown(d.mediaType)} is not one of ${MEDIA_TYPES.join(', ')}`)
    const queueId = stringOf(d, 'queueId')
    const display = callerOf(d.ani)
    // The protocol has no participant id; a relay may add one (ours does). Without it, one ring per agent.
    return {
      userId,
      participantId: stringOf(d, 'participantId') ?? userId,
      mediaType,
      ...(queueId && { queueId }),
      ...(display && { callerDisplay: display }),
    }
  }
  switch (type) {
    case 'routing.queue.member.added': {
      const m = member()
      return m ? [{ kind: 'offer', ...base, ...m }] : []
    }
    case 'routing.queue.member.removed': {
      const m = member()
      return m ? [{ kind: 'ended', reason: removedReason(d.reason), ...base, ...m }] : []
    }
    case 'routing.conversation.updated': {
      const status = typeof d.status === 'string' ? d.status.toLowerCase() : ''
      const m = status === 'connected' ? member() : undefined
      return m ? [{ kind: 'answered', ...base, ...m }] : []
    }
    case 'routing.conversation.created':
      return []
    case 'routing.conversation.deleted': {
      const rings = await ctx.openRings(conversationId)
      return rings.map((r) => ringEnded(r, 'abandoned', base))
    }
    default:
      throw new MalformedEventError(`unknown eventType ${type}`)
  }
}

function ringEnded(
  r: RingRecord,
  reason: EndReason,
  base: { conversationId: string; occurredAt: number; receivedAt: number; source: EventSourceName },
): RoutingEvent {
  return {
    kind: 'ended',
    reason,
    ...base,
    userId: r.userId,
    participantId: r.participantId,
    mediaType: r.mediaType,
    ...(r.queueId !== undefined && { queueId: r.queueId }),
  }
}
