// The design guide's "Event Streams" events (not offered by Genesys Cloud, see docs/PLATFORMS.md),
// kept so relays built from the guide keep working: {eventType, timestamp, data: {queueId, memberId,
// memberType, conversationId, mediaType, …}} with eventType routing.queue.member.added (the agent
// is offered the interaction), routing.queue.member.removed (taken away: transfer or timeout),
// routing.conversation.created|updated (updated with status "connected" = answered) and
// routing.conversation.deleted (gone: every open ring of it ends, as abandoned).
// The guide's shape does not say which rings a "conversation gone" ends, so open rings come from the
// store: any instance may receive the end of a ring another instance started. The analytics detail
// events are read in detail-events.ts, with the small readers shared from here.
import {
  MEDIA_TYPES,
  type EndReason,
  type EventSourceName,
  type MediaType,
  type RingRecord,
  type RoutingEvent,
} from '../model.js'
import { isRecord } from './genesys-wire.js'

export const GUIDE_EVENT_TYPES = [
  'routing.queue.member.added',
  'routing.queue.member.removed',
  'routing.conversation.created',
  'routing.conversation.updated',
  'routing.conversation.deleted',
] as const

export class MalformedEventError extends Error {
  readonly code = 'EVENT_MALFORMED'
  constructor(message: string) {
    super(message)
    this.name = 'MalformedEventError'
  }
}

/** Untrusted input in an error message: String() throws on objects whose toString is not callable. */
export function shown(v: unknown): string {
  return typeof v === 'string'
    ? JSON.stringify(v.slice(0, 40))
    : typeof v === 'object'
      ? v === null
        ? 'null'
        : 'an object'
      : typeof v
}

/** Genesys spells media types per surface: voice, VOICE, call, callback, webmessaging, sms… */
export function mediaTypeOf(v: unknown): MediaType | undefined {
  if (typeof v !== 'string') return undefined
  const m = v.toLowerCase()
  if ((MEDIA_TYPES as readonly string[]).includes(m)) return m as MediaType
  if (m === 'call') return 'voice'
  if (m === 'webmessaging' || m === 'sms' || m === 'messaging' || m === 'whatsapp') return 'message'
  return undefined
}

export function stringOf(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key]
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

// A time outside what a Date can hold (±8.64e15 ms) is as good as none: take the receipt time.
export function epochOf(v: unknown, fallback: number): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN
  return Number.isFinite(new Date(ms).getTime()) ? ms : fallback
}

export function callerOf(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined
  const s = v.trim().replace(/^(tel|sip):/i, '')
  return s.length > 0 ? s.slice(0, 128) : undefined
}

/** The guide's removal reasons (not in the guide itself: our simulator's and relays' extension). */
function removedReason(v: unknown): EndReason {
  const r = typeof v === 'string' ? v.toLowerCase() : ''
  if (r === 'timeout' || r === 'not-answered' || r === 'noanswer') return 'not-answered'
  if (r === 'declined' || r === 'client') return 'declined'
  if (r === 'abandoned' || r === 'peer') return 'abandoned'
  return 'transferred' // the guide: "routing.queue.member.removed (transferred)"
}

export interface GuideContext {
  source: EventSourceName
  receivedAt: number
  /** Open rings (from the store) of one conversation. */
  openRings: (conversationId: string) => Promise<RingRecord[]>
}

/** One guide-shaped event → RoutingEvents. Throws MalformedEventError when it cannot be read. */
export async function fromGuideEvent(event: unknown, ctx: GuideContext): Promise<RoutingEvent[]> {
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
    // The guide has no participant id; a relay may add one (ours does). Without it, one ring per agent.
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
