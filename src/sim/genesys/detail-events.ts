// The analytics detail events Genesys derives from a conversation's changes, field for field from
// purecloud-platform-client-v2 UserStartDetailEventTopicUserStartEvent, UserEndDetailEventTopicUserEndEvent,
// AcdStartDetailEventTopicAcdStartEvent and AcdEndDetailEventTopicAcdEndEvent. Their enumerations
// are upper case, kind first: mediaType VOICE, direction INBOUND, disconnectType NO_ANSWER_TRANSFER,
// acdOutcome ANSWERED. Times are epoch milliseconds (eventTime), not ISO strings as on the topics.
// - user.start when an agent participant joins (its alert begins), user.end when its leg ends, with
//   how long it alerted and interacted;
// - acd.start when the queue takes the interaction, acd.end when it lets go: ANSWERED (and
//   answeredUserId) when it handed over to an agent who connected, ABANDON when the customer left.
import type { SimConversation, SimMedia, SimMediaType, SimParticipant } from './conversations.js'

export type DetailKind = 'user.start' | 'user.end' | 'acd.start' | 'acd.end'

const MEDIA: Record<SimMediaType, string> = {
  voice: 'VOICE',
  callback: 'CALLBACK',
  chat: 'CHAT',
  message: 'MESSAGE',
  email: 'EMAIL',
}

/** The topics' disconnectType in the detail events' spelling. */
const DISCONNECT: Record<string, string> = {
  endpoint: 'ENDPOINT',
  client: 'CLIENT',
  system: 'SYSTEM',
  timeout: 'TIMEOUT',
  transfer: 'TRANSFER',
  'transfer.conference': 'CONFERENCE_TRANSFER',
  'transfer.consult': 'CONSULT_TRANSFER',
  'transfer.forward': 'FORWARD_TRANSFER',
  'transfer.noanswer': 'NO_ANSWER_TRANSFER',
  'transfer.notavailable': 'NOT_AVAILABLE_TRANSFER',
  'transport.failure': 'TRANSPORT_FAILURE',
  error: 'ERROR',
  peer: 'PEER',
  other: 'OTHER',
  spam: 'SPAM',
  uncallable: 'UNCALLABLE',
}

interface Seen {
  ended: boolean
  connectedTime?: number
}

export class DetailEventTracker {
  private readonly seen = new Map<string, Map<string, Seen>>()

  /** The detail events this change of `conv` causes, in the order Genesys would send them. */
  changes(conv: SimConversation): Array<{ kind: DetailKind; body: Record<string, unknown> }> {
    let known = this.seen.get(conv.id)
    if (!known) this.seen.set(conv.id, (known = new Map()))
    const out: Array<{ kind: DetailKind; body: Record<string, unknown> }> = []
    for (const p of conv.participants) {
      if (p.purpose === 'customer') continue
      const before = known.get(p.id)
      const ended = p.media.state === 'disconnected' || p.media.state === 'terminated'
      if (!before) {
        known.set(p.id, { ended: false })
        out.push({ kind: p.purpose === 'acd' ? 'acd.start' : 'user.start', body: this.body(conv, p, p.startTime) })
      }
      const state = known.get(p.id) as Seen
      if (p.media.connectedTime !== undefined) state.connectedTime = p.media.connectedTime
      if (!ended || state.ended) continue
      state.ended = true
      const endedAt = p.media.disconnectedTime ?? p.endTime ?? p.startTime
      out.push(
        p.purpose === 'acd'
          ? { kind: 'acd.end', body: this.acdEnd(conv, p, endedAt) }
          : { kind: 'user.end', body: this.userEnd(conv, p, endedAt) },
      )
    }
    if (
      conv.endTime !== undefined &&
      conv.participants.every((p) => p.purpose === 'customer' || known.get(p.id)?.ended === true)
    )
      this.seen.delete(conv.id)
    return out
  }

  forget(conversationId: string): void {
    this.seen.delete(conversationId)
  }

  private body(conv: SimConversation, p: SimParticipant, eventTime: number): Record<string, unknown> {
    const customer = conv.participants.find((x) => x.purpose === 'customer')
    const m: SimMedia = p.media
    return {
      eventTime,
      conversationId: conv.id,
      participantId: p.id,
      sessionId: m.id,
      mediaType: MEDIA[conv.mediaType],
      provider: conv.mediaType === 'voice' ? 'Edge' : 'PureCloud',
      direction: m.direction.toUpperCase(),
      ...(customer?.ani ? { ani: customer.ani } : {}),
      ...(p.dnis ? { dnis: p.dnis } : {}),
      ...(conv.mediaType === 'callback' && customer?.ani
        ? { callbackUserName: customer.name, callbackNumbers: [customer.ani.replace(/^tel:/, '')] }
        : {}),
      ...(conv.mediaType === 'email'
        ? { subject: 'Help with my order', addressFrom: customer?.address ?? '', addressTo: conv.address }
        : {}),
      ...(conv.mediaType === 'message' ? { messageType: 'WEBMESSAGING' } : {}),
      ...(p.userId ? { userId: p.userId } : {}),
      ...(p.queueId ? { queueId: p.queueId } : {}),
      conversationExternalContactIds: [],
      conversationExternalOrganizationIds: [],
    }
  }

  private userEnd(conv: SimConversation, p: SimParticipant, endedAt: number): Record<string, unknown> {
    const connectedAt = p.media.connectedTime
    const alertEnd = connectedAt ?? endedAt
    return {
      ...this.body(conv, p, endedAt),
      ...this.disconnectType(p.media),
      alertingDurationMs: Math.max(0, alertEnd - (p.media.startAlertingTime ?? p.startTime)),
      ...(connectedAt !== undefined ? { interactingDurationMs: Math.max(1, endedAt - connectedAt) } : {}),
    }
  }

  private acdEnd(conv: SimConversation, p: SimParticipant, endedAt: number): Record<string, unknown> {
    // The queue hands over when an agent connects (its leg ends "transfer"); "peer" is the customer leaving.
    const answeredBy =
      p.media.disconnectType === 'transfer'
        ? conv.participants.find(
            (a) => a.purpose === 'agent' && a.media.connectedTime !== undefined && a.media.connectedTime <= endedAt,
          )
        : undefined
    const outcome = answeredBy ? 'ANSWERED' : p.media.disconnectType === 'peer' ? 'ABANDON' : 'FLOW_OUT'
    return {
      ...this.body(conv, p, endedAt),
      ...this.disconnectType(p.media),
      acdOutcome: outcome,
      ...(answeredBy?.userId ? { answeredUserId: answeredBy.userId } : {}),
      connectedDurationMs: Math.max(0, endedAt - p.startTime),
    }
  }

  private disconnectType(m: SimMedia): { disconnectType?: string } {
    const value = m.disconnectType === undefined ? undefined : (DISCONNECT[m.disconnectType] ?? 'OTHER')
    return value === undefined ? {} : { disconnectType: value }
  }
}
