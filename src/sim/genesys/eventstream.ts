// The simulator half of the event-stream protocol (the source half is src/sources/eventstream/): the
// analytics "Event Streams" WebSocket API as the design guide this project started from describes it,
// served so the eventstream source and relays built on it can be tested. GENESYS CLOUD DOES NOT OFFER
// THIS API (docs/PLATFORMS.md). POST /api/v2/analytics/eventstreams/subscriptions {name, streamType:
// "WEBSOCKET", events, filters: [{type: "conversation", field: "mediaType", operator: "EQ", value}]}
// → {id, connectUri, …}; the socket carries {eventId, eventType, timestamp, data: {queueId, memberId,
// memberType, conversationId, mediaType}}. Extensions the protocol leaves open, chosen here:
// data.participantId (so a re-offer to the same agent is a new ring), data.status ("connected" on
// updated), data.reason on member.removed (the agent leg's disconnectType), heartbeats {eventType:
// "system.heartbeat"}. Filters are applied here, at the subscription, as the design guide insists.
// Same socket rules as the Notifications hub: one socket per subscription, a newcomer replaces the
// previous one.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Clock } from '../../clock.js'
import type { Logger } from '../../observability/logger.js'
import type { SimConversation } from './conversations.js'
import { HttpError, iso, isRecord } from './http.js'

export const EVENTSTREAM_EVENT_TYPES = [
  'routing.queue.member.added',
  'routing.queue.member.removed',
  'routing.conversation.created',
  'routing.conversation.updated',
  'routing.conversation.deleted',
] as const
const MEDIA = ['voice', 'callback', 'chat', 'message', 'email']

interface Subscription {
  id: string
  name: string
  events: Set<string>
  mediaTypes: Set<string>
  socket?: WebSocket
  heartbeat?: NodeJS.Timeout
}

export interface EventStreamEvent {
  eventId: string
  eventType: string
  timestamp: string
  data: Record<string, unknown>
}

export class EventStreamHub {
  private readonly subs = new Map<string, Subscription>()
  /** Per conversation: each agent participant's last media state, and whether it was announced. */
  private readonly seen = new Map<string, { ended: boolean; legs: Map<string, string> }>()
  private readonly inFlight = new Map<string, number>()
  private readonly wss = new WebSocketServer({ noServer: true })
  private wsBase = ''
  readonly stats = { connectionAttempts: 0, openSockets: 0, maxConcurrentUpgradeAttemptsPerChannel: 0 }

  constructor(
    private readonly options: { clock: Clock; logger: Logger; heartbeatIntervalMs: number; upgradeDelayMs: number },
  ) {}

  setWsBase(base: string): void {
    this.wsBase = base
  }

  create(body: unknown): Record<string, unknown> {
    if (!isRecord(body)) throw new HttpError(400, 'bad.request', 'Body must be a subscription object')
    if (body.streamType !== 'WEBSOCKET') throw new HttpError(400, 'bad.request', 'streamType must be WEBSOCKET')
    const events = Array.isArray(body.events) ? (body.events as unknown[]) : []
    if (
      events.length === 0 ||
      events.some((e) => typeof e !== 'string' || !(EVENTSTREAM_EVENT_TYPES as readonly string[]).includes(e))
    ) {
      throw new HttpError(
        400,
        'bad.request',
        `events must be a non-empty list of ${EVENTSTREAM_EVENT_TYPES.join(', ')}`,
      )
    }
    const mediaTypes = new Set<string>()
    for (const f of Array.isArray(body.filters) ? (body.filters as unknown[]) : []) {
      if (
        !isRecord(f) ||
        f.type !== 'conversation' ||
        f.field !== 'mediaType' ||
        f.operator !== 'EQ' ||
        typeof f.value !== 'string' ||
        !MEDIA.includes(f.value)
      ) {
        throw new HttpError(
          400,
          'bad.request',
          'filters must be {type: "conversation", field: "mediaType", operator: "EQ", value: <media type>}',
        )
      }
      mediaTypes.add(f.value)
    }
    const sub: Subscription = {
      id: randomUUID(),
      name: typeof body.name === 'string' ? body.name : '',
      events: new Set(events as string[]),
      mediaTypes,
    }
    this.subs.set(sub.id, sub)
    return this.body(sub)
  }

  get(id: string): Record<string, unknown> {
    const sub = this.subs.get(id)
    if (!sub) throw new HttpError(404, 'not.found', `Event stream subscription not found: ${id}`)
    return this.body(sub)
  }

  remove(id: string): void {
    const sub = this.subs.get(id)
    if (!sub) throw new HttpError(404, 'not.found', `Event stream subscription not found: ${id}`)
    this.detach(sub)
    this.subs.delete(id)
  }

  list(): Array<{ id: string; connected: boolean; events: string[]; mediaTypes: string[] }> {
    return [...this.subs.values()].map((s) => ({
      id: s.id,
      connected: !!s.socket,
      events: [...s.events],
      mediaTypes: [...s.mediaTypes],
    }))
  }

  /**
   * The feed hook: every conversation change becomes event-stream events. With no subscription the
   * hub only updates what it knows (a subscription made later hears the next change of a
   * conversation under way, not its creation): events built for nobody cost the load generator 4 %
   * of its time in the latency benchmark.
   */
  onConversation(conv: Readonly<SimConversation>): void {
    const listening = this.subs.size > 0
    let state = this.seen.get(conv.id)
    const out: Array<[string, Record<string, unknown>]> = []
    const common = { conversationId: conv.id, mediaType: conv.mediaType }
    const ani = listening ? conv.participants.find((p) => p.purpose === 'customer')?.ani : undefined
    if (!state) {
      this.seen.set(conv.id, (state = { ended: false, legs: new Map() }))
      const queueId = listening ? conv.participants.find((p) => p.queueId)?.queueId : undefined
      if (listening)
        out.push(['routing.conversation.created', { ...common, ...(queueId && { queueId }), ...(ani && { ani }) }])
    }
    for (const p of conv.participants) {
      if (p.purpose !== 'agent' || !p.userId) continue
      const prev = state.legs.get(p.id)
      const cur = p.media.state
      state.legs.set(p.id, cur)
      if (prev === cur || !listening) continue
      const member = {
        ...common,
        memberId: p.userId,
        memberType: 'user',
        participantId: p.id,
        ...(p.queueId && { queueId: p.queueId }),
        ...(ani && { ani }),
      }
      if (prev === undefined && cur === 'alerting') out.push(['routing.queue.member.added', member])
      else if (prev === 'alerting' && cur === 'connected')
        out.push(['routing.conversation.updated', { ...member, status: 'connected' }])
      else if (prev === 'alerting' && cur === 'disconnected' && conv.endTime === undefined) {
        out.push(['routing.queue.member.removed', { ...member, reason: p.media.disconnectType ?? 'transfer' }])
      }
    }
    if (conv.endTime !== undefined && !state.ended) {
      state.ended = true
      if (listening) out.push(['routing.conversation.deleted', { ...common }])
    }
    if (out.length === 0) return
    const now = this.options.clock.now()
    for (const [eventType, data] of out)
      this.publish(conv.mediaType, { eventId: randomUUID(), eventType, timestamp: iso(now), data })
  }

  /** Conversations whose state the hub keeps; forget() drops them, so long runs do not grow the heap. */
  get trackedConversations(): number {
    return this.seen.size
  }

  /** The simulator forgot the conversation (archived): nothing more will be published for it. */
  forget(conversationId: string): void {
    this.seen.delete(conversationId)
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, down: boolean): void {
    this.stats.connectionAttempts++
    const refuse = (status: number, reason: string): void => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (down) return refuse(503, 'Service Unavailable')
    const id = /^\/eventstreams\/([^/?]+)/.exec(req.url ?? '')?.[1]
    if (!id || !this.subs.has(id)) return refuse(404, 'Not Found')
    const n = (this.inFlight.get(id) ?? 0) + 1
    this.inFlight.set(id, n)
    this.stats.maxConcurrentUpgradeAttemptsPerChannel = Math.max(this.stats.maxConcurrentUpgradeAttemptsPerChannel, n)
    const finish = (): void => {
      this.inFlight.set(id, (this.inFlight.get(id) ?? 1) - 1)
      if (socket.destroyed) return
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(id, ws))
    }
    if (this.options.upgradeDelayMs > 0) setTimeout(finish, this.options.upgradeDelayMs)
    else finish()
  }

  dropSockets(): void {
    for (const sub of this.subs.values()) {
      if (sub.heartbeat) clearInterval(sub.heartbeat)
      sub.heartbeat = undefined
      sub.socket?.terminate()
      sub.socket = undefined
    }
  }

  close(): void {
    for (const sub of this.subs.values()) this.detach(sub)
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  }

  private body(sub: Subscription): Record<string, unknown> {
    return {
      id: sub.id,
      name: sub.name,
      streamType: 'WEBSOCKET',
      events: [...sub.events],
      filters: [...sub.mediaTypes].map((value) => ({
        type: 'conversation',
        field: 'mediaType',
        operator: 'EQ',
        value,
      })),
      connectUri: `${this.wsBase}/eventstreams/${sub.id}`,
      selfUri: `/api/v2/analytics/eventstreams/subscriptions/${sub.id}`,
    }
  }

  private attach(id: string, ws: WebSocket): void {
    const sub = this.subs.get(id)
    if (!sub) return ws.close(1000, 'subscription not found')
    if (sub.socket) this.detach(sub) // one socket per subscription: the newcomer wins
    sub.socket = ws
    this.stats.openSockets++
    ws.on('close', () => {
      if (sub.socket === ws) {
        sub.socket = undefined
        if (sub.heartbeat) clearInterval(sub.heartbeat)
        sub.heartbeat = undefined
      }
      this.stats.openSockets--
    })
    ws.on('error', (err) =>
      this.options.logger.debug({ err, subscriptionId: id }, 'genesys sim: event stream socket error'),
    )
    sub.heartbeat = setInterval(() => {
      if (ws.readyState === ws.OPEN)
        ws.send(JSON.stringify({ eventType: 'system.heartbeat', timestamp: iso(this.options.clock.now()) }))
    }, this.options.heartbeatIntervalMs)
    sub.heartbeat.unref()
  }

  private detach(sub: Subscription): void {
    if (sub.heartbeat) clearInterval(sub.heartbeat)
    sub.heartbeat = undefined
    const ws = sub.socket
    sub.socket = undefined
    ws?.close(1000, 'replaced or removed')
  }

  private publish(mediaType: string, event: EventStreamEvent): void {
    let text: string | undefined // serialised once, and only when someone listens
    for (const sub of this.subs.values()) {
      if (!sub.events.has(event.eventType)) continue
      if (sub.mediaTypes.size > 0 && !sub.mediaTypes.has(mediaType)) continue
      const ws = sub.socket
      if (ws && ws.readyState === ws.OPEN) ws.send((text ??= JSON.stringify(event)))
    }
  }
}
