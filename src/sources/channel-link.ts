// One Notifications API channel and its single WebSocket, kept alive for the life of the source.
// Rules (Genesys Notifications API, see docs/PLATFORMS.md): one socket per channel (a second connection
// disconnects the first), a channel lives 24 h, nothing is replayed after a drop, and the channel's
// own frames (channel.metadata heartbeats and pongs, v2.system.socket_closing about a minute before
// a maintenance close) concern the channel alone: the link answers them and hands its owner only
// the frames that carry events. Everything that touches the channel (subscription changes,
// reconnects, hand-overs) runs on one chain per link, so at most one connection attempt per
// channel is ever in flight.
import type { Clock } from '../clock.js'
import { GenesysApiError } from '../genesys/errors.js'
import type { NotificationChannel } from '../genesys/rest.js'
import type { Logger } from '../observability/logger.js'
import { Backoff, type BackoffOptions } from './backoff.js'
import { ChannelSocket, type CloseCause, type SilenceProbe } from './channel-socket.js'
import { isRecord } from './genesys-wire.js'
import type { IntakeGate } from './intake-gate.js'

/**
 * What a link needs from Genesys: GenesysRest for the Notifications API; the event-stream source
 * (eventstream/) adapts its subscription calls to the same shape.
 */
export interface ChannelApi {
  createChannel(): Promise<NotificationChannel>
  /** 'replace' on an existing channel must fail with a 404 GenesysApiError when the channel is gone. */
  subscribe(channelId: string, topics: string[], mode: 'add' | 'replace'): Promise<void>
}

export interface ChannelLinkOptions {
  index: number
  rest: ChannelApi
  clock: Clock
  logger: Logger
  backoff?: BackoffOptions
  /** The topics this link must carry right now (read at every (re)subscription). */
  topics: () => string[]
  socket: {
    ca?: string
    heartbeatTimeoutMs: number
    probe?: SilenceProbe
    intake?: IntakeGate
  }
  /** Hand over to a fresh channel this long before the current one expires. */
  renewBeforeMs: number
  /**
   * Runs a hand-over under the source's lock: hand-overs go one at a time, so the source never
   * holds more than one spare channel (a 21st channel would evict one of its own).
   */
  handOverLock: (fn: () => Promise<void>) => Promise<void>
  /** Every frame but the channel's own, parsed, with the receive time taken before anything else. */
  onFrame: (frame: unknown, receivedAt: number, receivedAtHr: number) => void
  /** A frame that was not JSON. */
  onNotJson: () => void
  /** The socket is back after a loss (not after a hand-over, which has no gap). */
  onRecovered: (link: ChannelLink, downMs: number) => void
}

export class ChannelLink {
  private channel: NotificationChannel | undefined
  private socket: ChannelSocket | undefined
  private running = false
  private chain: Promise<unknown> = Promise.resolve()
  private readonly backoff: Backoff
  private reconnectTimer: NodeJS.Timeout | undefined
  private renewTimer: NodeJS.Timeout | undefined
  private downSince: number | undefined
  reconnects = 0
  handOvers = 0

  constructor(private readonly options: ChannelLinkOptions) {
    this.backoff = new Backoff(options.backoff)
  }

  get index(): number {
    return this.options.index
  }
  get channelId(): string | undefined {
    return this.channel?.id
  }
  get connected(): boolean {
    return this.socket?.isOpen === true
  }
  /** Epoch ms when the link lost its socket, while it is down. */
  get downAt(): number | undefined {
    return this.downSince
  }

  /** Creates the channel, subscribes it and opens its socket; a transient failure keeps retrying. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.downSince = this.options.clock.now()
    try {
      await this.serial(() => this.establish(false))
      this.downSince = undefined
    } catch (err) {
      if (err instanceof GenesysApiError && !err.transient && err.status !== 404) {
        // Bad credentials or a refused topic list: retrying will not help, the operator must act.
        this.running = false
        throw err
      }
      this.options.logger.error(
        { link: this.index, err: errorText(err) },
        'genesys notifications: first connection failed, retrying',
      )
      this.scheduleReconnect()
    }
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.renewTimer) clearTimeout(this.renewTimer)
    this.reconnectTimer = undefined
    this.renewTimer = undefined
    this.backoff.stop()
    await this.chain
    const socket = this.socket
    this.socket = undefined
    await socket?.close()
  }

  /** Adds topics to the live channel (POST); without a channel the next establish() carries them. */
  add(topics: string[]): Promise<void> {
    return this.serial(async () => {
      if (this.channel && topics.length > 0) await this.options.rest.subscribe(this.channel.id, topics, 'add')
    })
  }

  /** Genesys has no "remove one topic": the channel's set is replaced by the current one (PUT). */
  resubscribe(): Promise<void> {
    return this.serial(async () => {
      if (this.channel) await this.options.rest.subscribe(this.channel.id, this.options.topics(), 'replace')
    })
  }

  /** Make-before-break: a fresh channel, subscribed and connected, then the old socket closes. */
  handOver(why: 'socket_closing' | 'expiry'): void {
    void this.serial(() =>
      this.options.handOverLock(async () => {
        const from = this.socket
        if (!this.running || !from?.isOpen) return
        const channel = await this.options.rest.createChannel()
        await this.options.rest.subscribe(channel.id, this.options.topics(), 'replace')
        const socket = await this.openSocket(channel)
        if (!this.running) return void (await socket.close())
        // Both sockets delivered the same snapshots meanwhile; the normaliser keeps only transitions.
        this.socket = socket
        this.channel = channel
        this.handOvers++
        this.armRenewal(channel)
        this.options.logger.info(
          { link: this.index, from: from.channel.id, to: channel.id, why },
          'genesys channel handed over (make-before-break)',
        )
        await from.close()
      }),
    ).catch((err: unknown) => {
      // The old socket keeps working until Genesys closes it; its close then takes the reconnect path.
      this.options.logger.warn({ link: this.index, why, err: errorText(err) }, 'genesys channel hand-over failed')
      if (why === 'expiry' && this.running) this.armRetryRenewal()
    })
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
        await this.options.rest.subscribe(channel.id, this.options.topics(), 'replace')
      } catch (err) {
        if (!(err instanceof GenesysApiError && err.status === 404)) throw err
        this.options.logger.info(
          { link: this.index, channelId: channel.id },
          'genesys channel gone: creating a new one',
        )
        channel = undefined
      }
    }
    if (!channel) {
      channel = await this.options.rest.createChannel()
      this.channel = channel
      this.armRenewal(channel)
      await this.options.rest.subscribe(channel.id, this.options.topics(), 'replace')
    }
    const socket = await this.openSocket(channel)
    if (!this.running) return void (await socket.close())
    this.socket = socket
    this.backoff.connected()
    this.options.logger.info(
      { link: this.index, channelId: channel.id, topics: this.options.topics().length },
      'genesys notifications connected',
    )
  }

  private openSocket(channel: NotificationChannel): Promise<ChannelSocket> {
    const s = this.options.socket
    return ChannelSocket.open({
      channel,
      ...(s.ca !== undefined && { ca: s.ca }),
      heartbeatTimeoutMs: s.heartbeatTimeoutMs,
      ...(s.probe !== undefined && { probe: s.probe }),
      ...(s.intake !== undefined && { intake: s.intake }),
      clock: this.options.clock,
      logger: this.options.logger,
      onFrame: (_socket, text, at, hr) => this.onSocketFrame(text, at, hr),
      onClose: (sock, cause) => this.onSocketClose(sock, cause),
    })
  }

  private onSocketFrame(text: string, receivedAt: number, receivedAtHr: number): void {
    let frame: unknown
    try {
      frame = JSON.parse(text)
    } catch {
      return this.options.onNotJson()
    }
    if (isRecord(frame)) {
      if (frame.topicName === 'channel.metadata') return // heartbeat or pong: it already fed the socket's watchdog
      if (frame.topicName === 'v2.system.socket_closing') return this.handOver('socket_closing')
    }
    this.options.onFrame(frame, receivedAt, receivedAtHr)
  }

  private onSocketClose(socket: ChannelSocket, cause: CloseCause): void {
    // A socket we replaced (hand-over) or closed on stop() needs nothing.
    if (socket !== this.socket || !this.running) return
    this.socket = undefined
    this.downSince = this.options.clock.now()
    this.backoff.disconnected()
    this.options.logger.warn(
      { link: this.index, channelId: socket.channel.id, cause },
      'genesys notifications disconnected',
    )
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return
    const delay = this.backoff.next()
    this.options.logger.debug(
      { link: this.index, delayMs: Math.round(delay), attempt: this.backoff.failureCount },
      'genesys reconnect scheduled',
    )
    this.reconnectTimer = setTimeout(() => {
      void this.serial(() => this.reconnect())
    }, delay)
  }

  private async reconnect(): Promise<void> {
    this.reconnectTimer = undefined
    if (!this.running || this.socket?.isOpen === true) return
    try {
      await this.establish(true)
    } catch (err) {
      this.options.logger.warn(
        { link: this.index, err: errorText(err), failures: this.backoff.failureCount },
        'genesys notifications reconnect failed',
      )
      return this.scheduleReconnect()
    }
    if (!this.running) return
    const downMs = this.options.clock.now() - (this.downSince ?? this.options.clock.now())
    this.downSince = undefined
    this.reconnects++
    this.options.onRecovered(this, downMs)
  }

  private armRenewal(channel: NotificationChannel): void {
    if (this.renewTimer) clearTimeout(this.renewTimer)
    // Channels live 24 h; a channel that states no expiry (the event stream's) is never renewed.
    if (channel.expires === '') return
    const expires = Date.parse(channel.expires)
    const now = this.options.clock.now()
    const at = (Number.isFinite(expires) ? expires : now + 24 * 3600_000) - this.options.renewBeforeMs
    this.renewTimer = setTimeout(
      () => {
        this.renewTimer = undefined
        this.handOver('expiry')
      },
      Math.min(Math.max(0, at - now), 2 ** 31 - 1),
    )
    this.renewTimer.unref()
  }

  private armRetryRenewal(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer)
    this.renewTimer = setTimeout(
      () => {
        this.renewTimer = undefined
        this.handOver('expiry')
      },
      Math.max(1_000, this.backoff.maxMs),
    )
    this.renewTimer.unref()
  }
}

/** A Genesys or other error as one line for a log field (its code first when Genesys gave one). */
export function errorText(err: unknown): string {
  if (err instanceof GenesysApiError) return `${err.code}: ${err.message}`
  return err instanceof Error ? err.message : String(err)
}
