// The simulated ACD: conversations with a customer, an ACD (queue) participant and agent legs,
// moved through the states Genesys Cloud shows. Every change hands the whole conversation to
// onChange, which publishes the full snapshot, as Genesys does on every change.
//
// Disconnect types (Genesys "Disconnect reasons" help article, and the DisconnectTypeEnum of
// ConversationEventTopicCall): they are relative to the participant whose media disconnected.
// - abandon: the customer hung up while the agent was alerting: customer leg "endpoint"
//   (its endpoint hung up), the alerting agent leg and the ACD leg "peer" ("another participant
//   caused the disconnect, for example the customer hung up").
// - transfer (blind): the agent leg that was transferred away "transfer"; the new agent leg alerts.
// - consult: a connected agent consults another: a new agent leg alerts while the first is held;
//   completing it disconnects the first agent's leg with "transfer.consult".
// - noAnswer: the agent's alert timed out: "transfer.noanswer" ("No Answer Transfer: a transfer after
//   an alerting timeout"); the agent becomes NOT_RESPONDING and the ACD participant, still connected,
//   offers the interaction to the next agent. ("timeout" is a system dialling timeout, never this.)
// - decline: the agent rejected it from the Genesys client: "client".
// - answer: the agent leg connects; the ACD leg disconnects with "transfer" (it handed over). An
//   accepted callback then places the call to the customer: a calls[] entry of the agent
//   participant goes "contacting" → "connected" beside the connected callbacks[] entry.
// - end: the customer hangs up: customer "endpoint", everyone else "peer".
import { randomUUID } from 'node:crypto'
import type { Clock } from '../../clock.js'
import type { Directory } from './directory.js'
import { HttpError } from './http.js'

export type SimMediaType = 'voice' | 'callback' | 'chat' | 'message' | 'email'
export const SIM_MEDIA_TYPES: readonly SimMediaType[] = ['voice', 'callback', 'chat', 'message', 'email']
export type Purpose = 'customer' | 'acd' | 'agent'
export type MediaState = 'alerting' | 'contacting' | 'connected' | 'disconnected' | 'terminated'

export interface SimMedia {
  id: string
  state: MediaState
  initialState: MediaState
  direction: 'inbound' | 'outbound'
  held?: boolean
  disconnectType?: string
  startAlertingTime?: number
  connectedTime?: number
  disconnectedTime?: number
  peerId?: string
}

export interface SimParticipant {
  id: string
  purpose: Purpose
  name: string
  address: string
  userId?: string
  queueId?: string
  ani?: string
  dnis?: string
  alertingTimeoutMs?: number
  startTime: number
  connectedTime?: number
  endTime?: number
  media: SimMedia
  /** An accepted callback's call to the customer (the agent participant's calls[] entry). */
  dial?: SimMedia
}

export interface SimConversation {
  id: string
  mediaType: SimMediaType
  startTime: number
  endTime?: number
  address: string
  participants: SimParticipant[]
}

export interface OfferInput {
  userId: string
  mediaType: SimMediaType
  queueId?: string
  ani?: string
  alertingTimeoutMs?: number
}

const DNIS = 'tel:+18005550100'

export class ConversationBook {
  readonly conversations = new Map<string, SimConversation>()

  constructor(
    private readonly clock: Clock,
    private readonly directory: Directory,
    private readonly onChange: (c: SimConversation) => void,
  ) {}

  get(id: string): SimConversation {
    const c = this.conversations.get(id)
    if (!c) throw new HttpError(404, 'not.found', `Conversation not found: ${id}`)
    return c
  }

  /** Conversations in which the user has a leg that is not disconnected. */
  activeFor(userId: string): SimConversation[] {
    return [...this.conversations.values()].filter(
      (c) => c.endTime === undefined && c.participants.some((p) => p.userId === userId && isLive(p)),
    )
  }

  offer(options: OfferInput): { conversationId: string; participantId: string } {
    if (!SIM_MEDIA_TYPES.includes(options.mediaType))
      throw new HttpError(400, 'bad.request', `Unknown mediaType: ${String(options.mediaType)}`)
    this.directory.user(options.userId)
    if (options.queueId) this.directory.queue(options.queueId)
    const now = this.clock.now()
    const ani = options.ani ?? customerAddress(options.mediaType)
    const customer: SimParticipant = {
      id: randomUUID(),
      purpose: 'customer',
      name: 'Customer',
      address: ani,
      ani,
      dnis: DNIS,
      startTime: now,
      connectedTime: now,
      media: {
        id: randomUUID(),
        state: 'connected',
        initialState: 'connected',
        direction: 'inbound',
        connectedTime: now,
      },
    }
    const conv: SimConversation = {
      id: randomUUID(),
      mediaType: options.mediaType,
      startTime: now,
      address: DNIS,
      participants: [customer],
    }
    if (options.queueId) {
      const q = this.directory.queue(options.queueId)
      conv.participants.push({
        id: randomUUID(),
        purpose: 'acd',
        name: q.name,
        address: DNIS,
        queueId: q.id,
        ani,
        dnis: DNIS,
        startTime: now,
        connectedTime: now,
        media: {
          id: randomUUID(),
          state: 'connected',
          initialState: 'connected',
          direction: 'inbound',
          connectedTime: now,
          peerId: customer.media.id,
        },
      })
    }
    const agent = this.addAgentLeg(conv, options.userId, options.queueId, options.alertingTimeoutMs)
    this.conversations.set(conv.id, conv)
    this.onChange(conv)
    return { conversationId: conv.id, participantId: agent.id }
  }

  answer(conversationId: string): void {
    const conv = this.get(conversationId)
    const agent = this.alertingAgent(conv)
    const now = this.clock.now()
    agent.media.state = 'connected'
    agent.media.connectedTime = now
    agent.connectedTime = now
    for (const acd of conv.participants.filter((p) => p.purpose === 'acd' && isLive(p)))
      this.disconnect(acd, 'transfer', now)
    if (agent.userId) this.directory.setRoutingStatus(agent.userId, 'INTERACTING')
    if (conv.mediaType === 'callback') {
      const customer = conv.participants.find((p) => p.purpose === 'customer')
      agent.dial = {
        id: randomUUID(),
        state: 'contacting',
        initialState: 'contacting',
        direction: 'outbound',
        ...(customer ? { peerId: customer.media.id } : {}),
      }
      this.onChange(conv)
      agent.dial.state = 'connected'
      agent.dial.connectedTime = this.clock.now()
    }
    this.onChange(conv)
  }

  abandon(conversationId: string): void {
    const conv = this.get(conversationId)
    this.alertingAgent(conv)
    this.hangUp(conv)
  }

  end(conversationId: string): void {
    this.hangUp(this.get(conversationId))
  }

  transfer(conversationId: string, toUserId?: string): { participantId?: string } {
    const conv = this.get(conversationId)
    const from = this.activeAgent(conv)
    if (toUserId) this.directory.user(toUserId)
    this.disconnect(from, 'transfer', this.clock.now())
    this.releaseAgent(from, 'IDLE')
    const leg = toUserId ? this.addAgentLeg(conv, toUserId, from.queueId, from.alertingTimeoutMs) : undefined
    this.onChange(conv)
    return leg ? { participantId: leg.id } : {}
  }

  /** The alert timed out; with `nextUserId` the ACD then offers the interaction to that agent. */
  noAnswer(conversationId: string, nextUserId?: string): { participantId?: string } {
    const conv = this.get(conversationId)
    const agent = this.alertingAgent(conv)
    if (nextUserId) this.directory.user(nextUserId)
    this.disconnect(agent, 'transfer.noanswer', this.clock.now())
    this.releaseAgent(agent, 'NOT_RESPONDING')
    this.onChange(conv)
    if (!nextUserId) return {}
    const leg = this.addAgentLeg(conv, nextUserId, agent.queueId, agent.alertingTimeoutMs)
    this.onChange(conv)
    return { participantId: leg.id }
  }

  /** A connected agent consults `toUserId`: the agent's leg is held while the new leg alerts. */
  consult(conversationId: string, toUserId: string): { participantId: string } {
    const conv = this.get(conversationId)
    const from = conv.participants.find((p) => p.purpose === 'agent' && p.media.state === 'connected')
    if (!from)
      throw new HttpError(
        400,
        'bad.request',
        `Conversation ${conv.id} has no connected agent participant to consult from`,
      )
    this.directory.user(toUserId)
    from.media.held = true
    const leg = this.addAgentLeg(conv, toUserId, undefined, from.alertingTimeoutMs)
    this.onChange(conv)
    return { participantId: leg.id }
  }

  /** The consulting agent completes the transfer and leaves; the consulted agent keeps the customer. */
  completeConsult(conversationId: string): void {
    const conv = this.get(conversationId)
    const from = conv.participants.find(
      (p) => p.purpose === 'agent' && p.media.state === 'connected' && p.media.held === true,
    )
    if (!from) throw new HttpError(400, 'bad.request', `Conversation ${conv.id} has no consult under way`)
    from.media.held = false
    this.disconnect(from, 'transfer.consult', this.clock.now())
    this.releaseAgent(from, 'IDLE')
    this.onChange(conv)
  }

  decline(conversationId: string): void {
    const conv = this.get(conversationId)
    const agent = this.alertingAgent(conv)
    this.disconnect(agent, 'client', this.clock.now())
    this.releaseAgent(agent, 'IDLE')
    this.onChange(conv)
  }

  /** Routed back to the same agent: Genesys adds a new agent participant (new id) that alerts. */
  reoffer(conversationId: string): { participantId: string } {
    const conv = this.get(conversationId)
    if (conv.endTime !== undefined) throw new HttpError(400, 'bad.request', 'Conversation has ended')
    const last = [...conv.participants].reverse().find((p) => p.purpose === 'agent')
    if (!last?.userId) throw new HttpError(400, 'bad.request', 'Conversation has no agent participant')
    if (isLive(last)) {
      this.disconnect(last, 'transfer.noanswer', this.clock.now())
    }
    const leg = this.addAgentLeg(conv, last.userId, last.queueId, last.alertingTimeoutMs)
    this.onChange(conv)
    return { participantId: leg.id }
  }

  private addAgentLeg(
    conv: SimConversation,
    userId: string,
    queueId: string | undefined,
    alertingTimeoutMs: number | undefined,
  ): SimParticipant {
    const user = this.directory.user(userId)
    const now = this.clock.now()
    const customer = conv.participants.find((p) => p.purpose === 'customer')
    const leg: SimParticipant = {
      id: randomUUID(),
      purpose: 'agent',
      name: user.name,
      address: `sip:${user.id}@localhost`,
      userId: user.id,
      ...(queueId ? { queueId } : {}),
      ...(customer?.ani ? { ani: customer.ani } : {}),
      dnis: DNIS,
      // Queue media settings default: 8 s for calls, 30 s for digital media.
      alertingTimeoutMs: alertingTimeoutMs ?? (conv.mediaType === 'voice' ? 8_000 : 30_000),
      startTime: now,
      media: {
        id: randomUUID(),
        state: 'alerting',
        initialState: 'alerting',
        direction: 'inbound',
        startAlertingTime: now,
        ...(customer ? { peerId: customer.media.id } : {}),
      },
    }
    conv.participants.push(leg)
    this.directory.setRoutingStatus(user.id, 'INTERACTING')
    return leg
  }

  private hangUp(conv: SimConversation): void {
    if (conv.endTime !== undefined) throw new HttpError(400, 'bad.request', 'Conversation has already ended')
    const now = this.clock.now()
    for (const p of conv.participants) {
      if (!isLive(p)) continue
      this.disconnect(p, p.purpose === 'customer' ? 'endpoint' : 'peer', now)
      if (p.purpose === 'agent') this.releaseAgent(p, 'IDLE')
    }
    conv.endTime = now
    this.onChange(conv)
  }

  private disconnect(p: SimParticipant, disconnectType: string, now: number): void {
    for (const media of p.dial ? [p.media, p.dial] : [p.media]) {
      media.state = 'disconnected'
      media.disconnectType = disconnectType
      media.disconnectedTime = now
    }
    p.endTime = now
  }

  private releaseAgent(p: SimParticipant, status: 'IDLE' | 'NOT_RESPONDING'): void {
    if (p.userId) this.directory.setRoutingStatus(p.userId, status)
  }

  private alertingAgent(conv: SimConversation): SimParticipant {
    const agent = conv.participants.find((p) => p.purpose === 'agent' && p.media.state === 'alerting')
    if (!agent) throw new HttpError(400, 'bad.request', `Conversation ${conv.id} has no alerting agent participant`)
    return agent
  }

  private activeAgent(conv: SimConversation): SimParticipant {
    const agent = conv.participants.find((p) => p.purpose === 'agent' && isLive(p))
    if (!agent) throw new HttpError(400, 'bad.request', `Conversation ${conv.id} has no active agent participant`)
    return agent
  }
}

export const isLive = (p: SimParticipant): boolean => p.media.state === 'alerting' || p.media.state === 'connected'

function customerAddress(mediaType: SimMediaType): string {
  switch (mediaType) {
    case 'voice':
    case 'callback':
      return 'tel:+13175550123'
    case 'email':
      return 'customer@example.org'
    default:
      return 'Customer'
  }
}
