// The Notifications API event source: one channel, every agent's v2.users.{id}.conversations topic,
// one WebSocket. Rules (Genesys Notifications API, see ERRATA.md): a channel lives 24 h and
// re-subscribing extends it; one socket per channel; 1000 topics per channel; heartbeats about
// every 30 s; v2.system.socket_closing about a minute before a maintenance close; nothing is
// replayed after a drop.
import { systemClock, type Clock } from '../clock.js'
import { GenesysApiError } from '../genesys/errors.js'
import type { GenesysRest, NotificationChannel } from '../genesys/rest.js'
import type { Logger } from '../observability/logger.js'
import { ChannelSocket, type CloseCause } from './channel-socket.js'
import { isRecord } from './genesys-wire.js'
import { ConversationNormaliser } from './normalise.js'
import type { EventSource, RoutingEventHandler, SourceStatus } from './source.js'

export interface NotificationsSourceOptions {
  rest: GenesysRest
  listUserIds: () => Promise<string[]>
  onEvent: RoutingEventHandler
  logger: Logger
  clock?: Clock
  wsOptions?: { ca?: string }
  /** No frame (heartbeat included) for this long: the socket is presumed dead. */
  heartbeatTimeoutMs?: number
  pingIntervalMs?: number
  normaliser?: ConversationNormaliser
  /** Reconnect back-off: full jitter between 0 and min(maxMs, initialMs · 2^failures). */
  backoff?: { initialMs?: number; maxMs?: number }
}

const HEALTHY_AFTER_MS = 60_000

export const userTopic = (userId: string): string => `v2.users.${userId}.conversations`

export class NotificationsSource implements EventSource {
  readonly name = 'notifications' as const
  private readonly users = new Set<string>()
  private readonly clock: Clock
  private readonly normaliser: ConversationNormaliser
  private readonly heartbeatTimeoutMs: number
  private readonly backoffInitialMs: number
  private readonly backoffMaxMs: number
  private channel: NotificationChannel | undefined
  private socket: ChannelSocket | undefined
  private running = false
  // Channel and subscription changes run one at a time: concurrent registrations must not race a
  // PUT that replaces the topic set, and at most one connection attempt is ever in flight.
  private chain: Promise<unknown> = Promise.resolve()
  private reconnectTimer: NodeJS.Timeout | undefined
  private healthyTimer: NodeJS.Timeout | undefined
  private reconnectPending = false
  private failures = 0
  private reconnects = 0
  private rejectedFrames = 0
  private readonly loggedRejects = new Set<string>()

  constructor(private readonly o: NotificationsSourceOptions) {
    this.clock = o.clock ?? systemClock
    this.normaliser = o.normaliser ?? new ConversationNormaliser({ clock: this.clock, logger: o.logger })
    this.heartbeatTimeoutMs = o.heartbeatTimeoutMs ?? 75_000
    this.backoffInitialMs = o.backoff?.initialMs ?? 1_000
    this.backoffMaxMs = o.backoff?.maxMs ?? 30_000
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    for (const id of await this.o.listUserIds()) this.users.add(id)
    try {
      await this.serial(() => this.establish(false))
    } catch (err) {
      if (err instanceof GenesysApiError && !err.transient && err.status !== 404) {
        // Bad credentials or a refused topic list: retrying will not help, the operator must act.
        this.running = false
        throw err
      }
      this.o.logger.error({ err: describe(err) }, 'genesys notifications: first connection failed, retrying')
      this.scheduleReconnect()
    }
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.healthyTimer) clearTimeout(this.healthyTimer)
    this.reconnectTimer = undefined
    this.healthyTimer = undefined
    await this.chain
    const socket = this.socket
    this.socket = undefined
    await socket?.close()
  }

  async addUser(userId: string): Promise<void> {
    if (this.users.has(userId)) return
    this.users.add(userId)
    // Without a channel the next establish() subscribes every user anyway.
    await this.serial(async () => {
      if (this.channel && this.users.has(userId)) await this.o.rest.subscribe(this.channel.id, [userTopic(userId)], 'add')
    })
  }

  async removeUser(userId: string): Promise<void> {
    if (!this.users.delete(userId)) return
    // Genesys has no "remove one topic": the channel's set is replaced by the remaining ones.
    await this.serial(async () => {
      if (this.channel) await this.o.rest.subscribe(this.channel.id, this.topics(), 'replace')
    })
  }

  status(): SourceStatus {
    return {
      name: this.name,
      connected: this.socket?.isOpen === true,
      channels: this.channel ? 1 : 0,
      topics: this.users.size,
      reconnects: this.reconnects,
      rejectedFrames: this.rejectedFrames,
    }
  }

  /** The channel currently in use (for diagnostics and tests). */
  get channelId(): string | undefined {
    return this.channel?.id
  }

  private topics(): string[] {
    return [...this.users].map(userTopic)
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn)
    this.chain = run.catch(() => undefined)
    return run
  }

  /** Subscribes (reusing the channel when it still exists) and opens its socket. Runs inside serial(). */
  private async establish(reuse: boolean): Promise<void> {
    let channel = reuse ? this.channel : undefined
    if (channel) {
      try {
        // One PUT both proves the channel still exists and applies changes made while disconnected.
        await this.o.rest.subscribe(channel.id, this.topics(), 'replace')
      } catch (err) {
        if (!(err instanceof GenesysApiError && err.status === 404)) throw err
        this.o.logger.info({ channelId: channel.id }, 'genesys channel gone: creating a new one')
        channel = undefined
      }
    }
    if (!channel) {
      channel = await this.o.rest.createChannel()
      this.channel = channel
      await this.o.rest.subscribe(channel.id, this.topics(), 'replace')
    }
    const socket = await this.openSocket(channel)
    if (!this.running) return void (await socket.close())
    this.socket = socket
    this.o.logger.info({ channelId: channel.id, topics: this.users.size }, 'genesys notifications connected')
    if (this.healthyTimer) clearTimeout(this.healthyTimer)
    this.healthyTimer = setTimeout(() => {
      this.failures = 0
    }, HEALTHY_AFTER_MS)
  }

  private openSocket(channel: NotificationChannel): Promise<ChannelSocket> {
    return ChannelSocket.open({
      channel,
      ...(this.o.wsOptions?.ca !== undefined && { ca: this.o.wsOptions.ca }),
      heartbeatTimeoutMs: this.heartbeatTimeoutMs,
      ...(this.o.pingIntervalMs !== undefined && { pingIntervalMs: this.o.pingIntervalMs }),
      clock: this.clock,
      logger: this.o.logger,
      onFrame: (s, text, at, hr) => this.onFrame(s, text, at, hr),
      onClose: (s, cause) => this.onSocketClose(s, cause),
    })
  }

  private onSocketClose(socket: ChannelSocket, cause: CloseCause): void {
    // A socket we replaced (socket_closing hand-over) or closed on stop() needs nothing.
    if (socket !== this.socket || !this.running) return
    this.socket = undefined
    if (this.healthyTimer) clearTimeout(this.healthyTimer)
    this.o.logger.warn({ channelId: socket.channel.id, cause }, 'genesys notifications disconnected')
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectPending) return
    this.reconnectPending = true
    // Full jitter: many gateways cut off by the same outage must not come back in lock-step.
    const delay = Math.random() * Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** this.failures)
    this.failures++
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      void this.serial(() => this.reconnect())
    }, delay)
  }

  private async reconnect(): Promise<void> {
    this.reconnectPending = false
    if (!this.running || this.socket?.isOpen === true) return
    try {
      await this.establish(true)
      this.reconnects++
    } catch (err) {
      this.o.logger.warn({ err: describe(err), failures: this.failures }, 'genesys notifications reconnect failed')
      this.scheduleReconnect()
    }
  }

  /** Genesys will close this socket soon: move to a fresh channel first, then let the old one go. */
  private handOver(from: ChannelSocket): void {
    void this.serial(async () => {
      if (!this.running || this.socket !== from) return
      const channel = await this.o.rest.createChannel()
      await this.o.rest.subscribe(channel.id, this.topics(), 'replace')
      const socket = await this.openSocket(channel)
      if (!this.running) return void (await socket.close())
      // Both sockets delivered the same snapshots meanwhile; the normaliser keeps only transitions.
      this.socket = socket
      this.channel = channel
      this.o.logger.info({ from: from.channel.id, to: channel.id }, 'genesys channel handed over before maintenance close')
      await from.close()
    }).catch((err: unknown) => {
      // The old socket keeps working until Genesys closes it; its close then takes the reconnect path.
      this.o.logger.warn({ err: describe(err) }, 'genesys channel hand-over failed')
    })
  }

  private onFrame(socket: ChannelSocket, text: string, receivedAt: number, receivedAtHr: number): void {
    let frame: unknown
    try {
      frame = JSON.parse(text)
    } catch {
      return this.reject('not-json')
    }
    if (!isRecord(frame) || typeof frame.topicName !== 'string') return this.reject('no-topic')
    const topic = frame.topicName
    if (topic === 'channel.metadata') return // heartbeat or pong: it already fed the watchdog
    if (topic === 'v2.system.socket_closing') return this.handOver(socket)
    const before = this.normaliser.rejectedTotal
    const events = this.normaliser.fromSnapshot(topic, frame.eventBody, receivedAt, 'notifications')
    this.rejectedFrames += this.normaliser.rejectedTotal - before
    for (const event of events) {
      event.receivedAtHr = receivedAtHr
      try {
        this.o.onEvent(event)
      } catch (err) {
        this.o.logger.error({ err: describe(err), conversationId: event.conversationId }, 'routing event handler failed')
      }
    }
  }

  private reject(kind: string): void {
    this.rejectedFrames++
    if (this.loggedRejects.has(kind)) return
    this.loggedRejects.add(kind)
    this.o.logger.warn({ kind }, 'genesys frame not understood (logged once per kind)')
  }
}

function describe(err: unknown): string {
  if (err instanceof GenesysApiError) return `${err.code}: ${err.message}`
  return err instanceof Error ? err.message : String(err)
}
