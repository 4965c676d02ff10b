// One WebSocket to one Notifications API channel. Genesys allows one socket per channel (a second
// connection disconnects the first), sends {"topicName":"channel.metadata","eventBody":{"message":
// "WebSocket Heartbeat"}} about every 30 s, and answers a client {"message":"ping"} with a pong.
// Silence longer than the heartbeat timeout means a dead path (a NAT or proxy dropped it without a
// FIN): the socket is terminated so the owner reconnects. Waiting for missed heartbeats alone takes
// that long (75 s by default), and every offer in that time goes unheard; with `probe`, a socket
// silent for `afterMs` is pinged, and one that then stays silent for `timeoutMs` is taken for dead.
// A live socket answers within a round trip, so a dead one is found in seconds.
import { performance } from 'node:perf_hooks'
import WebSocket, { type RawData } from 'ws'
import type { Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import type { NotificationChannel } from '../genesys/rest.js'
import type { IntakeGate } from './intake-gate.js'

export type CloseCause = 'remote' | 'heartbeat-timeout' | 'ping-timeout' | 'error' | 'local'

/** Ping a silent socket, and give up on it when the ping gets no answer (see above). */
export interface SilenceProbe {
  afterMs: number
  timeoutMs: number
}

export interface ChannelSocketOptions {
  channel: NotificationChannel
  ca?: string
  heartbeatTimeoutMs: number
  /** Absent: only the heartbeat timeout finds a dead socket. */
  probe?: SilenceProbe
  handshakeTimeoutMs?: number
  clock: Clock
  logger: Logger
  /** Called for every frame with the receive time taken before anything else. */
  onFrame: (socket: ChannelSocket, text: string, receivedAt: number, receivedAtHr: number) => void
  /** Called once, when a socket that had opened is closed for any reason. */
  onClose: (socket: ChannelSocket, cause: CloseCause) => void
  /** When given, the socket is not read while the gate is full (intake-gate.ts). */
  intake?: IntakeGate
}

export class ChannelSocket {
  private lastFrameHr = performance.now()
  /** When the probe's ping left; it is answered once a frame arrives after it. */
  private probeSentHr: number | undefined
  private watchdog: NodeJS.Timeout | undefined
  private cause: CloseCause = 'remote'
  private closed: Promise<void>

  private constructor(
    readonly channel: NotificationChannel,
    private readonly ws: WebSocket,
    private readonly options: ChannelSocketOptions,
  ) {
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()))
  }

  /** Connects; resolves when the socket is open, rejects if it cannot be opened. */
  static open(options: ChannelSocketOptions): Promise<ChannelSocket> {
    const ws = new WebSocket(options.channel.connectUri, {
      ...(options.ca !== undefined && { ca: options.ca }),
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      perMessageDeflate: false,
    })
    const socket = new ChannelSocket(options.channel, ws, options)
    return new Promise((resolve, reject) => {
      const onUnexpected = (_req: unknown, res: { statusCode?: number }): void =>
        fail(new Error(`channel socket refused: HTTP ${res.statusCode ?? 0}`))
      const onEarlyClose = (): void => fail(new Error('channel socket closed before it opened'))
      const detach = (): void => {
        ws.off('error', fail)
        ws.off('unexpected-response', onUnexpected)
        ws.off('close', onEarlyClose)
      }
      function fail(err: Error): void {
        detach()
        ws.on('error', () => undefined) // a late error after terminate() must not be unhandled
        ws.terminate()
        reject(err)
      }
      ws.once('error', fail)
      ws.once('unexpected-response', onUnexpected)
      ws.once('close', onEarlyClose)
      ws.once('open', () => {
        detach()
        socket.attach()
        resolve(socket)
      })
    })
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** Closes the socket (terminating it if the close handshake stalls) and waits until it is gone. */
  async close(): Promise<void> {
    this.cause = 'local'
    if (this.ws.readyState === WebSocket.CLOSED) return this.closed
    this.ws.close(1000, 'gateway closing channel')
    const force = setTimeout(() => this.ws.terminate(), 2_000)
    await this.closed
    clearTimeout(force)
  }

  private attach(): void {
    const { ws, options } = this
    this.lastFrameHr = performance.now()
    ws.on('message', (data: RawData) => {
      const receivedAtHr = performance.now()
      const receivedAt = options.clock.now()
      this.lastFrameHr = receivedAtHr
      options.onFrame(this, rawText(data), receivedAt, receivedAtHr)
      if (options.intake?.full && !ws.isPaused) this.pauseUntilRoom(options.intake)
    })
    ws.on('error', (err) => {
      this.cause = 'error'
      options.logger.warn({ err: err.message, channelId: this.channel.id }, 'genesys channel socket error')
    })
    ws.once('close', (code, reason) => {
      this.stopTimers()
      options.logger.info(
        { channelId: this.channel.id, code, reason: reason.toString(), cause: this.cause },
        'genesys channel socket closed',
      )
      options.onClose(this, this.cause)
    })
    // Checking a timestamp on an interval avoids re-arming a timer on every frame of a busy channel.
    const { probe } = options
    const shortest = Math.min(options.heartbeatTimeoutMs, probe?.afterMs ?? Infinity, probe?.timeoutMs ?? Infinity)
    const every = Math.max(20, Math.min(1_000, Math.floor(shortest / 4)))
    this.watchdog = setInterval(() => {
      // A socket we stopped reading hears nothing: its silence is ours, not the path's.
      if (ws.isPaused) return
      const now = performance.now()
      const silentMs = now - this.lastFrameHr
      if (silentMs > options.heartbeatTimeoutMs) return this.giveUp('heartbeat-timeout', silentMs)
      if (!probe) return
      const sent = this.probeSentHr
      const pending = sent !== undefined && sent >= this.lastFrameHr
      if (pending && now - sent > probe.timeoutMs) return this.giveUp('ping-timeout', silentMs)
      if (!pending && silentMs >= probe.afterMs && ws.readyState === WebSocket.OPEN) {
        ws.send('{"message":"ping"}')
        this.probeSentHr = now
      }
    }, every)
  }

  private giveUp(cause: 'heartbeat-timeout' | 'ping-timeout', silentMs: number): void {
    this.options.logger.warn(
      { channelId: this.channel.id, silentMs: Math.round(silentMs), cause },
      'genesys channel silent: reconnecting',
    )
    this.cause = cause
    this.stopTimers()
    this.ws.terminate()
  }

  private pauseUntilRoom(intake: IntakeGate): void {
    const { ws } = this
    ws.pause()
    intake.whenRoom(() => {
      // Silence is timed from here: the frames that waited in the socket arrive now.
      this.lastFrameHr = performance.now()
      this.probeSentHr = undefined
      ws.resume()
    })
  }

  private stopTimers(): void {
    if (this.watchdog) clearInterval(this.watchdog)
    this.watchdog = undefined
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}
