// A small pool of HTTP/2 sessions (node:http2) to one push-service origin (APNs production, APNs
// sandbox, FCM). Apple asks providers to keep connections open and reuse them, and treats rapid
// connect/disconnect as a denial-of-service attack; so:
// - at most one connect attempt per origin at a time. After a failure the next attempt waits an
//   exponential back-off with full jitter (100 ms doubling to 5 s); pushes that need a session
//   queue for the attempt, each until its own deadline or timeout;
// - both services multiplex many streams per connection and advertise how many
//   (SETTINGS_MAX_CONCURRENT_STREAMS): pushes beyond that queue here, in order;
// - a push the server never processed (REFUSED_STREAM, above a GOAWAY's last stream id), or that
//   was in flight on a session found dead (no PING ack), is re-sent on another session within its
//   timeout and deadline; APNs's apns-collapse-id and FCM's collapse_key make a stray duplicate
//   replace, not add.
// Liveness, limits and what ends a stream: http2-session.ts.
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import { isIP } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { performance } from 'node:perf_hooks'
import type { Logger } from '../observability/logger.js'
import { PooledSession, Push, type LivenessOptions, type SessionOwner, type StreamOutcome } from './http2-session.js'

export { type StreamOutcome } from './http2-session.js'

/** Request headers, pseudo-headers included (`:method`, `:path`); names lowercase. */
export type RequestHeaders = OutgoingHttpHeaders

export const PUSH_TRANSPORT_DEFAULTS = {
  pingAfterMs: 1_000,
  pingTimeoutMs: 2_000,
  idlePingMs: 60_000,
  connectTimeoutMs: 5_000,
  backoffBaseMs: 100,
  backoffMaxMs: 5_000,
} as const

// Resends of one push (never processed, or on a dead session) before the dispatcher decides.
const MAX_RESENDS = 3
// Session memory (MB, node:http2's accounting: header tables, buffered frames); past it node:http2
// refuses new streams and the session ends. 1,000 pushes in flight need a few MB.
const MAX_SESSION_MEMORY_MB = 32
// Response header lists: APNs and FCM send a handful of short headers.
const MAX_HEADER_LIST_SIZE = 16 * 1024
const MAX_HEADER_PAIRS = 64
// TCP keepalive probes after this much silence: the kernel finds a dead peer even with no push.
const TCP_KEEPALIVE_MS = 30_000

/** Liveness and connect pacing; every field defaults to PUSH_TRANSPORT_DEFAULTS. */
export interface PushTransportOptions {
  /** A push unanswered this long makes its session PING the server. */
  pingAfterMs?: number
  /** No PING ack within this: the session is dead. */
  pingTimeoutMs?: number
  /** Idle sessions are PINGed this often, and before reuse after this long without a sign of life. */
  idlePingMs?: number
  connectTimeoutMs?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
}

export interface SessionPoolOptions extends PushTransportOptions {
  /** Extra CA to trust (tests' sandboxes); certificate checks stay on. */
  ca?: string
  /** Sessions per origin; more open only when every session is at its stream limit. */
  size: number
  logger: Logger
  /** An answer that makes the session unusable for new pushes (APNs TooManyProviderTokenUpdates). */
  retireOn?: (status: number, body: string) => string | undefined
}

export class Http2SessionPool implements SessionOwner {
  private sessions: PooledSession[] = []
  private readonly queue: Push[] = []
  /** Pushes in flight by the caller's abort signal (giveUpOnAbort). */
  private readonly abortable = new WeakMap<AbortSignal, Set<Push>>()
  private connecting = false
  private failures = 0
  private nextAttemptAt = 0
  private backoffTimer: NodeJS.Timeout | undefined
  // Told when the next connect attempt ends, either way (warm()).
  private attemptWatchers: Array<() => void> = []
  private closed = false
  private readonly liveness: LivenessOptions
  private readonly host: string
  private readonly port: number
  /** Connect attempts started since the pool was made (for tests and operators' eyes). */
  connectAttempts = 0

  constructor(
    readonly origin: string,
    private readonly options: SessionPoolOptions,
  ) {
    const url = new URL(origin)
    this.host = url.hostname.replace(/^\[|\]$/g, '')
    this.port = Number(url.port || 443)
    this.liveness = {
      pingAfterMs: options.pingAfterMs ?? PUSH_TRANSPORT_DEFAULTS.pingAfterMs,
      pingTimeoutMs: options.pingTimeoutMs ?? PUSH_TRANSPORT_DEFAULTS.pingTimeoutMs,
      idlePingMs: options.idlePingMs ?? PUSH_TRANSPORT_DEFAULTS.idlePingMs,
    }
  }

  /** One request/response exchange on some pooled session; `timeoutMs` covers waiting for a session too. */
  exchange(headers: RequestHeaders, body: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamOutcome> {
    if (signal?.aborted) return Promise.resolve({ kind: 'aborted' })
    if (this.closed) return Promise.resolve({ kind: 'refused', reason: 'provider closed' })
    const bad = forbiddenHeader(headers)
    if (bad !== undefined)
      return Promise.resolve({ kind: 'invalid', reason: `header ${bad} has a forbidden character (CR, LF or NUL)` })
    return new Promise((resolve) => {
      const push: Push = new Push(headers, body, signal, (outcome) => {
        if (push.settled) return
        push.settled = true
        clearTimeout(push.timer)
        if (signal) this.abortable.get(signal)?.delete(push)
        resolve(outcome)
      })
      push.timer = setTimeout(() => this.giveUp(push, { kind: 'timeout' }), timeoutMs)
      if (signal) this.giveUpOnAbort(signal, push)
      this.dispatch(push)
    })
  }

  /**
   * Gives `push` up when `signal` aborts. One listener per signal, not one per push: callers share
   * a signal among many pushes (the dispatcher's deadline slices: a fan-out puts hundreds in one),
   * and node's EventTarget walks its listener list on every addEventListener (to refuse a
   * duplicate) and removeEventListener (to find the listener), so a listener per push made a burst
   * cost time quadratic in its size (BENCHMARKS.md, benchmark 4). A Set adds and forgets a push at
   * once.
   */
  private giveUpOnAbort(signal: AbortSignal, push: Push): void {
    let pushes = this.abortable.get(signal)
    if (pushes === undefined) {
      const waiting = new Set<Push>()
      pushes = waiting
      this.abortable.set(signal, waiting)
      signal.addEventListener(
        'abort',
        () => {
          this.abortable.delete(signal)
          for (const p of [...waiting]) this.giveUp(p, { kind: 'aborted' })
        },
        { once: true },
      )
    }
    pushes.add(push)
  }

  /** Opens a session now (TLS and HTTP/2 handshakes) so the first push does not pay for them. */
  async warm(): Promise<void> {
    if (this.sessions.length > 0 || this.closed) return
    const attempted = new Promise<void>((resolve) => this.attemptWatchers.push(resolve))
    this.startConnect()
    await attempted
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.backoffTimer) clearTimeout(this.backoffTimer)
    for (const tell of this.attemptWatchers.splice(0)) tell()
    for (const push of this.queue.splice(0)) push.done({ kind: 'refused', reason: 'provider closed' })
    const all = this.sessions.splice(0)
    // Graceful: in-flight pushes finish; a stuck one is cut after a second.
    await Promise.all(all.map((s) => s.close(1000)))
  }

  // ---- SessionOwner: what the sessions report ----

  changed(session: PooledSession): void {
    if (session.goingAway) this.forget(session)
    this.drain()
  }

  gone(session: PooledSession): void {
    this.forget(session)
    this.drain()
  }

  unanswered(push: Push, outcome: StreamOutcome, resend: boolean): void {
    if (push.settled) return
    if (resend && push.resends < MAX_RESENDS && !this.closed && !push.signal?.aborted) {
      push.resends++
      return this.dispatch(push)
    }
    push.done(outcome)
  }

  answered(session: PooledSession, status: number, body: string): void {
    if (status < 400 || !this.options.retireOn) return
    const reason = this.options.retireOn(status, body)
    if (reason !== undefined) session.retire(reason)
  }

  warn(message: string, fields: Record<string, unknown>): void {
    this.options.logger.warn({ origin: this.origin, ...fields }, message)
  }

  info(message: string, fields: Record<string, unknown>): void {
    this.options.logger.info({ origin: this.origin, ...fields }, message)
  }

  // ---- pushes ----

  private dispatch(push: Push): void {
    const session = this.queue.length === 0 ? this.pick() : undefined
    if (session) return session.start(push)
    this.queue.push(push)
    this.drain()
  }

  /** Starts queued pushes while a session has room; asks for a new session when none has. */
  private drain(): void {
    while (this.queue.length > 0) {
      const session = this.pick()
      if (!session) break
      session.start(this.queue.shift() as Push)
    }
    if (
      this.queue.length > 0 &&
      !this.closed &&
      this.sessions.length < this.options.size &&
      !this.sessions.some((s) => s.checking)
    )
      this.startConnect()
  }

  /** The least busy session with a free stream slot. */
  private pick(): PooledSession | undefined {
    const now = performance.now()
    let best: PooledSession | undefined
    for (const s of this.sessions) if (s.ready(now) && (!best || s.active < best.active)) best = s
    return best
  }

  private giveUp(push: Push, outcome: StreamOutcome): void {
    if (push.settled) return
    if (push.session) push.session.cancel(push)
    else {
      const i = this.queue.indexOf(push)
      if (i >= 0) this.queue.splice(i, 1)
    }
    push.done(outcome)
  }

  private forget(session: PooledSession): void {
    const i = this.sessions.indexOf(session)
    if (i >= 0) this.sessions.splice(i, 1)
  }

  // ---- connecting ----

  /** One attempt at a time, not before the back-off allows it. */
  private startConnect(): void {
    if (this.connecting || this.closed) return
    this.connecting = true
    const wait = this.nextAttemptAt - performance.now()
    if (wait > 0) {
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined
        this.attempt()
      }, wait)
      return
    }
    this.attempt()
  }

  private attempt(): void {
    if (this.closed) return
    this.connectAttempts++
    this.connect().then(
      (session) => {
        this.connecting = false
        if (this.failures > 0)
          this.options.logger.info({ origin: this.origin, failures: this.failures }, 'push service reachable again')
        this.failures = 0
        this.nextAttemptAt = 0
        this.attemptEnded()
        if (this.closed) return void session.close(0)
        this.sessions.push(session)
        this.drain()
      },
      (err: Error) => {
        this.connecting = false
        this.failures++
        // Full jitter: attempts from many gateways spread out instead of arriving together.
        const cap = Math.min(
          this.options.backoffMaxMs ?? PUSH_TRANSPORT_DEFAULTS.backoffMaxMs,
          (this.options.backoffBaseMs ?? PUSH_TRANSPORT_DEFAULTS.backoffBaseMs) * 2 ** (this.failures - 1),
        )
        const delay = Math.random() * cap
        this.nextAttemptAt = performance.now() + delay
        const level = this.failures === 1 ? 'warn' : 'debug'
        this.options.logger[level](
          { origin: this.origin, err: err.message, failures: this.failures, nextAttemptInMs: Math.round(delay) },
          'cannot connect to the push service',
        )
        this.attemptEnded()
        if (this.queue.length > 0) this.drain()
      },
    )
  }

  private attemptEnded(): void {
    for (const tell of this.attemptWatchers.splice(0)) tell()
  }

  private connect(): Promise<PooledSession> {
    return new Promise((resolve, reject) => {
      const socket: TLSSocket = tlsConnect({
        host: this.host,
        port: this.port,
        ALPNProtocols: ['h2'],
        ...(isIP(this.host) ? {} : { servername: this.host }),
        ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
      })
      socket.setNoDelay(true)
      socket.setKeepAlive(true, TCP_KEEPALIVE_MS)
      const session = http2.connect(this.origin, {
        createConnection: () => socket,
        maxSessionMemory: MAX_SESSION_MEMORY_MB,
        maxHeaderListPairs: MAX_HEADER_PAIRS,
        settings: { enablePush: false, maxHeaderListSize: MAX_HEADER_LIST_SIZE },
      })
      let settled = false
      const fail = (err: Error): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        session.destroy()
        socket.destroy()
        reject(err)
      }
      const timer = setTimeout(
        () => fail(new Error('connect timeout')),
        this.options.connectTimeoutMs ?? PUSH_TRANSPORT_DEFAULTS.connectTimeoutMs,
      )
      socket.once('secureConnect', () => {
        if (socket.alpnProtocol !== 'h2')
          fail(new Error(`the server did not agree to HTTP/2 (ALPN: ${socket.alpnProtocol || 'none'})`))
      })
      session.once('error', fail)
      session.once('close', () => fail(new Error('closed while connecting')))
      // The server's first frame is its SETTINGS: only then is its stream limit known.
      session.once('remoteSettings', () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        session.off('error', fail)
        resolve(new PooledSession(session, socket, this, this.liveness))
      })
    })
  }
}

// RFC 9113 §8.2.1: field values must not contain CR, LF or NUL. node:http2 sends them as given, and
// a value copied from an event (apns-collapse-id) could otherwise smuggle a header into an HTTP/1
// hop behind the push service.
const FORBIDDEN_IN_VALUE = /[\r\n\0]/

function forbiddenHeader(headers: RequestHeaders): string | undefined {
  for (const name in headers) {
    const value = headers[name]
    if (typeof value === 'string' && FORBIDDEN_IN_VALUE.test(value)) return name
  }
  return undefined
}

export type { IncomingHttpHeaders }
