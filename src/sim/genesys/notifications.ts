// The Notifications API: channels, topic subscriptions and the channel WebSocket.
// Rules (NotificationsApi docs in purecloud-platform-client-v2, Genesys developer center):
// - a channel lives 24 h; (re)subscribing extends it;
// - 20 channels per user/app: creating a 21st removes the one with the oldest last-used date,
//   channels without an active connection first;
// - at most 1000 topics per channel;
// - one WebSocket per channel: a new connection disconnects the previous one;
// - heartbeat frames every 30 s; {"message":"ping"} from the client is answered with a pong;
// - v2.system.socket_closing is sent before a maintenance close; nothing is replayed after a drop.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { WebSocketServer, type WebSocket, type RawData } from 'ws'
import type { Logger } from '../../observability/logger.js'
import type { Clock } from '../../clock.js'
import { HttpError, iso } from './http.js'

export const MAX_CHANNELS_PER_OWNER = 20
export const MAX_TOPICS_PER_CHANNEL = 1000

// Topic patterns the simulator serves (a subset of /api/v2/notifications/availabletopics).
const TOPIC_PATTERNS: RegExp[] = [
  /^v2\.users\.[^.\s]+\.conversations(\.(calls|callbacks|chats|messages|emails))?$/,
  /^v2\.routing\.queues\.[^.\s]+\.conversations(\.(calls|callbacks|chats|messages|emails))?$/,
  /^v2\.users\.[^.\s]+\.presence$/,
  /^v2\.users\.[^.\s]+\.routingStatus$/,
]

export interface Frame {
  topicName: string
  version?: string
  eventBody: unknown
  metadata?: { CorrelationId: string }
}

interface Channel {
  id: string
  clientId: string
  ownerKey: string
  topics: Set<string>
  expiresAt: number
  lastUsed: number
  socket?: WebSocket
  heartbeat?: NodeJS.Timeout
}

export interface NotificationHubOptions {
  clock: Clock
  logger: Logger
  heartbeatIntervalMs: number
  channelTtlMs: number
  upgradeDelayMs: number
  onFrame: (channelId: string, frame: Frame) => void
}

export class NotificationHub {
  private readonly channels = new Map<string, Channel>()
  private readonly byTopic = new Map<string, Set<Channel>>()
  private readonly inFlightUpgrades = new Map<string, number>()
  private readonly wss = new WebSocketServer({ noServer: true })
  private wsBase = ''
  readonly stats = { connectionAttempts: 0, openSockets: 0, maxConcurrentUpgradeAttemptsPerChannel: 0 }

  constructor(private readonly options: NotificationHubOptions) {}

  setWsBase(base: string): void {
    this.wsBase = base
  }

  create(owner: { clientId: string; userId?: string }): { id: string; connectUri: string; expires: string } {
    const ownerKey = `${owner.clientId}/${owner.userId ?? ''}`
    const mine = [...this.channels.values()].filter((c) => c.ownerKey === ownerKey)
    if (mine.length >= MAX_CHANNELS_PER_OWNER) {
      // Unconnected channels go first, then the least recently used.
      mine.sort((a, b) => Number(!!a.socket) - Number(!!b.socket) || a.lastUsed - b.lastUsed)
      const victim = mine[0]
      if (victim) this.remove(victim, 'channel evicted: more than 20 channels')
    }
    const now = this.options.clock.now()
    const ch: Channel = {
      id: randomUUID(),
      clientId: owner.clientId,
      ownerKey,
      topics: new Set(),
      expiresAt: now + this.options.channelTtlMs,
      lastUsed: now,
    }
    this.channels.set(ch.id, ch)
    return { id: ch.id, connectUri: `${this.wsBase}/channels/${ch.id}`, expires: iso(ch.expiresAt) }
  }

  /** The live channel, for the owner that made it (404 otherwise, as for an unknown id). */
  get(id: string, owner?: { clientId: string; userId?: string }): Channel {
    const ch = this.channels.get(id)
    if (ch && this.options.clock.now() >= ch.expiresAt) this.remove(ch, 'channel expired')
    const live = this.channels.get(id)
    if (!live || (owner && live.ownerKey !== `${owner.clientId}/${owner.userId ?? ''}`)) {
      throw new HttpError(404, 'not.found', `Channel not found: ${id}`)
    }
    return live
  }

  listFor(owner: { clientId: string; userId?: string }): Array<{ id: string; connectUri: string; expires: string }> {
    this.sweep()
    const key = `${owner.clientId}/${owner.userId ?? ''}`
    return [...this.channels.values()]
      .filter((c) => c.ownerKey === key)
      .map((c) => ({ id: c.id, connectUri: `${this.wsBase}/channels/${c.id}`, expires: iso(c.expiresAt) }))
  }

  subscriptions(ch: Channel): Array<{ id: string; state: string; selfUri: string }> {
    return [...ch.topics].map((id) => ({
      id,
      state: 'Permitted',
      selfUri: `/api/v2/notifications/channels/${ch.id}/subscriptions`,
    }))
  }

  /** POST adds, PUT replaces, DELETE clears. Validates the whole list before changing anything. */
  setTopics(ch: Channel, body: unknown, mode: 'add' | 'replace'): void {
    if (!Array.isArray(body)) throw new HttpError(400, 'bad.request', 'Body must be a list of topics: [{"id": "..."}]')
    const ids: string[] = []
    for (const item of body as unknown[]) {
      const id = typeof item === 'object' && item !== null ? (item as { id?: unknown }).id : undefined
      if (typeof id !== 'string' || id === '')
        throw new HttpError(400, 'bad.request', 'Every topic must be an object with a string id')
      if (!TOPIC_PATTERNS.some((re) => re.test(id)))
        throw new HttpError(400, 'notification.topic.invalid', `Invalid topic: ${id}`)
      ids.push(id)
    }
    const next = new Set(mode === 'add' ? [...ch.topics, ...ids] : ids)
    if (next.size > MAX_TOPICS_PER_CHANNEL) {
      throw new HttpError(
        400,
        'bad.request',
        `A channel may subscribe to at most ${MAX_TOPICS_PER_CHANNEL} topics; this request would make ${next.size}`,
      )
    }
    for (const t of ch.topics) if (!next.has(t)) this.byTopic.get(t)?.delete(ch)
    for (const t of next) {
      let set = this.byTopic.get(t)
      if (!set) this.byTopic.set(t, (set = new Set()))
      set.add(ch)
    }
    ch.topics = next
    this.touch(ch, true)
  }

  clearTopics(ch: Channel): void {
    this.setTopics(ch, [], 'replace')
  }

  publish(topicName: string, eventBody: unknown): void {
    const subs = this.byTopic.get(topicName)
    if (!subs || subs.size === 0) return
    const frame: Frame = { topicName, version: '2', eventBody, metadata: { CorrelationId: randomUUID() } }
    const text = JSON.stringify(frame)
    for (const ch of subs) this.send(ch, frame, text)
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, down: boolean): void {
    this.stats.connectionAttempts++
    const refuse = (status: number, reason: string): void => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (down) return refuse(503, 'Service Unavailable')
    const id = /^\/channels\/([^/?]+)/.exec(req.url ?? '')?.[1]
    let ch: Channel | undefined
    try {
      ch = id ? this.get(id) : undefined
    } catch {
      ch = undefined
    }
    // Unknown or expired channel: refused before the upgrade (status not documented by Genesys; 404 here).
    if (!id || !ch) return refuse(404, 'Not Found')
    const inFlight = (this.inFlightUpgrades.get(id) ?? 0) + 1
    this.inFlightUpgrades.set(id, inFlight)
    this.stats.maxConcurrentUpgradeAttemptsPerChannel = Math.max(
      this.stats.maxConcurrentUpgradeAttemptsPerChannel,
      inFlight,
    )
    const finish = (): void => {
      const left = (this.inFlightUpgrades.get(id) ?? 1) - 1
      if (left <= 0) this.inFlightUpgrades.delete(id)
      else this.inFlightUpgrades.set(id, left)
      if (socket.destroyed) return
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(id, ws))
    }
    if (this.options.upgradeDelayMs > 0) setTimeout(finish, this.options.upgradeDelayMs)
    else finish()
  }

  private attach(id: string, ws: WebSocket): void {
    const ch = this.channels.get(id)
    if (!ch) return ws.close(1000, 'channel not found')
    if (ch.socket) {
      // One socket per channel: the newcomer wins and the previous socket is disconnected.
      this.detach(ch, 1000, 'replaced by a new connection to this channel')
    }
    ch.socket = ws
    this.stats.openSockets++
    this.touch(ch, false)
    ws.on('message', (data: RawData) => this.onClientMessage(ch, ws, data))
    ws.on('close', () => {
      if (ch.socket === ws) {
        ch.socket = undefined
        if (ch.heartbeat) clearInterval(ch.heartbeat)
        ch.heartbeat = undefined
      }
      this.stats.openSockets--
    })
    ws.on('error', (err) => this.options.logger.debug({ err, channelId: id }, 'genesys sim: socket error'))
    ch.heartbeat = setInterval(() => {
      if (this.options.clock.now() >= ch.expiresAt) return void this.remove(ch, 'channel expired')
      this.send(ch, { topicName: 'channel.metadata', eventBody: { message: 'WebSocket Heartbeat' } })
    }, this.options.heartbeatIntervalMs)
    ch.heartbeat.unref()
  }

  private onClientMessage(ch: Channel, ws: WebSocket, data: RawData): void {
    let msg: unknown
    try {
      msg = JSON.parse(data.toString())
    } catch {
      return
    }
    if (
      ch.socket === ws &&
      typeof msg === 'object' &&
      msg !== null &&
      (msg as { message?: unknown }).message === 'ping'
    ) {
      this.send(ch, { topicName: 'channel.metadata', eventBody: { message: 'pong' } })
    }
  }

  private send(ch: Channel, frame: Frame, text?: string): void {
    const ws = ch.socket
    if (!ws || ws.readyState !== ws.OPEN) return
    ws.send(text ?? JSON.stringify(frame))
    this.options.onFrame(ch.id, frame)
  }

  private touch(ch: Channel, extend: boolean): void {
    const now = this.options.clock.now()
    ch.lastUsed = now
    if (extend) ch.expiresAt = now + this.options.channelTtlMs
  }

  private detach(ch: Channel, code: number, reason: string): void {
    if (ch.heartbeat) clearInterval(ch.heartbeat)
    ch.heartbeat = undefined
    const ws = ch.socket
    ch.socket = undefined
    ws?.close(code, reason)
  }

  private remove(ch: Channel, reason: string): void {
    this.detach(ch, 1000, reason)
    for (const t of ch.topics) this.byTopic.get(t)?.delete(ch)
    this.channels.delete(ch.id)
  }

  /** Removes expired channels (closing their sockets). */
  sweep(): void {
    const now = this.options.clock.now()
    for (const ch of [...this.channels.values()]) if (now >= ch.expiresAt) this.remove(ch, 'channel expired')
  }

  dropSockets(): void {
    for (const ch of this.channels.values()) {
      if (ch.heartbeat) clearInterval(ch.heartbeat)
      ch.heartbeat = undefined
      ch.socket?.terminate()
      ch.socket = undefined
    }
  }

  /** Sends `data` as it is (text, or binary for a Buffer) on every open socket: malformed-frame tests. */
  sendRaw(data: string | Buffer): void {
    for (const ch of this.channels.values()) if (ch.socket?.readyState === ch.socket?.OPEN) ch.socket?.send(data)
  }

  sendSocketClosing(channelId?: string): void {
    for (const ch of this.channels.values()) {
      if (channelId && ch.id !== channelId) continue
      this.send(ch, {
        topicName: 'v2.system.socket_closing',
        eventBody: { message: 'The socket will be closed for maintenance in one minute' },
        metadata: { CorrelationId: randomUUID() },
      })
    }
  }

  list(): Array<{ id: string; clientId: string; topics: string[]; connected: boolean; expires: string }> {
    return [...this.channels.values()].map((c) => ({
      id: c.id,
      clientId: c.clientId,
      topics: [...c.topics],
      connected: !!c.socket,
      expires: iso(c.expiresAt),
    }))
  }

  close(): void {
    for (const ch of [...this.channels.values()]) this.remove(ch, 'server shutting down')
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  }
}
