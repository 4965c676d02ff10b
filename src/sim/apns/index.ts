// An APNs look-alike for tests, the demo and benchmarks: HTTP/2 over TLS, token auth, and the
// status codes and `{"reason": ...}` bodies of Apple's "Handling notification responses from APNs".
// It rejects what Apple rejects (see validate.ts and provider-token.ts) and records what it accepts.
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import http2, {
  type Http2SecureServer,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2'
import type { Socket } from 'node:net'
import { listenOnLoopback } from '../listen.js'
import { systemClock, type Clock } from '../../clock.js'
import { ProviderTokenVerifier, type ConnectionTokenState, type SandboxKey } from './provider-token.js'
import { readBoundedBody } from '../body.js'
import { checkHeaders, checkPayload, checkRoute, type Rejection } from './validate.js'

export { generateApnsKey, type ApnsKeyMaterial } from './keys.js'

export interface ApnsSandboxOptions {
  host?: string
  port?: number
  /** From createTestPki(). */
  tls: { key: string; cert: string }
  keys: SandboxKey[]
  /** Bundle ids the keys may push to; `<bundle>.voip` is allowed for VoIP. */
  topics: string[]
  clock?: Clock
  /** SETTINGS_MAX_CONCURRENT_STREAMS; Apple advertises about 1000. */
  maxConcurrentStreams?: number
  responseDelayMs?: number
  /**
   * Keep every accepted push in `accepted` (default). Off, they are only counted (`acceptedCount`)
   * and emitted to 'push' listeners, as Apple keeps nothing of yours: the throughput benchmarks turn
   * it off so the sandbox's heap does not grow with the pushes and slow it down.
   */
  keepAccepted?: boolean
}

export interface AcceptedPush {
  token: string
  headers: Record<string, string>
  payload: Record<string, unknown>
  apnsId: string
  receivedAt: number
  /** performance.now() when the request was accepted. */
  hrtime: number
}

export interface RejectedPush {
  token: string
  status: number
  reason: string
}

export interface InjectedFailure {
  status: number
  reason: string
  /** 410 only: when APNs learnt the token was dead (epoch ms); defaults to now. */
  timestamp?: number
  times?: number
  retryAfterS?: number
}

export type ApnsChaos =
  'refuse' | 'reset' | 'reset-after-status' | { status: number; reason: string; retryAfterS?: number }

// Bodies larger than this are not read to the end: they are too large for any push type.
const MAX_BODY_READ = 64 * 1024

export class ApnsSandbox extends EventEmitter {
  readonly accepted: AcceptedPush[] = []
  /** Pushes accepted since start or the last resetStats(), kept or not. */
  acceptedCount = 0
  /** Requests received (streams opened), answered or not, since start or the last resetStats(). */
  received = 0
  readonly rejected: RejectedPush[] = []
  private readonly open = new Map<
    ServerHttp2Session,
    { tokens: ConnectionTokenState; streams: number; ids: Set<number>; lastStreamId: number }
  >()
  private readonly tokenFailures = new Map<string, InjectedFailure>()
  private readonly nextFailures: InjectedFailure[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly sockets = new Set<Socket>()
  private readonly topics: ReadonlySet<string>
  private readonly verifier: ProviderTokenVerifier
  private readonly clock: Clock
  private stallUntil = 0
  private chaos: ((token: string) => ApnsChaos | undefined) | undefined
  private peak = 0
  private opened = 0

  constructor(
    private readonly server: Http2SecureServer,
    readonly url: string,
    private readonly options: ApnsSandboxOptions,
  ) {
    super()
    this.clock = options.clock ?? systemClock
    this.topics = new Set(options.topics)
    this.verifier = new ProviderTokenVerifier(options.keys, this.clock)
    server.on('session', (session) => this.track(session))
    // Every TLS socket, HTTP/2 or not (a refused HTTP/1.1 client keeps its socket open), so close() is prompt.
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
    server.on('stream', (stream, headers) => void this.handle(stream, headers))
  }

  /** Fails requests for one token (after they pass validation), e.g. 410 Unregistered. */
  failToken(token: string, f: InjectedFailure): void {
    this.tokenFailures.set(token, { ...f })
  }

  /** Fails the next `n` requests that pass validation. */
  failNext(n: number, f: { status: number; reason: string; retryAfterS?: number }): void {
    for (let i = 0; i < n; i++) this.nextFailures.push({ ...f })
  }

  /**
   * GOAWAY on every session, with Apple's JSON debug data (`{"reason": …}`), then close them once
   * their streams finish. `processed`: how many of the streams in flight (the oldest) the server
   * keeps and answers; the last stream id says so, and the others are dropped unanswered (default
   * 0: none). `code`: an HTTP/2 error code (default NO_ERROR).
   */
  goAway(options: { reason?: string; processed?: number; code?: number } = {}): void {
    for (const [session, conn] of this.open) {
      if (session.closed || session.destroyed) continue
      const ids = [...conn.ids].sort((a, b) => a - b)
      const lastStreamId = options.processed ? (ids[Math.min(options.processed, ids.length) - 1] ?? 0) : 0
      conn.lastStreamId = lastStreamId
      session.goaway(
        options.code ?? http2.constants.NGHTTP2_NO_ERROR,
        lastStreamId,
        Buffer.from(JSON.stringify({ reason: options.reason ?? 'Shutdown' })),
      )
      // Closed once its last stream ends: node:http2's close() here would reset the streams it keeps.
      if (conn.streams === 0) session.close()
    }
  }

  /**
   * Decides per request (after validation) to answer normally (undefined), fail it, or reset its
   * stream: 'refuse' (REFUSED_STREAM: not processed, safe to resend), 'reset' (INTERNAL_ERROR) or
   * 'reset-after-status' (`:status 200`, then INTERNAL_ERROR before the end of the answer).
   * Fault-injection tests; undefined turns it off.
   */
  setChaos(decide: ((token: string) => ApnsChaos | undefined) | undefined): void {
    this.chaos = decide
  }

  /** Holds every response until `ms` from now. */
  stall(ms: number): void {
    this.stallUntil = performance.now() + ms
  }

  /** Open HTTP/2 sessions (connections) right now. */
  sessions(): number {
    return this.open.size
  }

  /** Sessions opened since start or the last resetStats(). */
  connections(): number {
    return this.opened
  }

  /** The most streams ever open at once on a single session. */
  peakConcurrentStreams(): number {
    return this.peak
  }

  resetStats(): void {
    this.accepted.length = 0
    this.acceptedCount = 0
    this.received = 0
    this.rejected.length = 0
    this.peak = 0
    this.opened = 0
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const session of this.open.keys()) session.destroy()
    for (const socket of this.sockets) socket.destroy()
    await closed
  }

  private track(session: ServerHttp2Session): void {
    this.opened++
    this.open.set(session, { tokens: new Map(), streams: 0, ids: new Set(), lastStreamId: Number.POSITIVE_INFINITY })
    session.on('close', () => this.open.delete(session))
    // A client that vanishes mid-request is normal in tests of resets; nothing to report.
    session.on('error', () => undefined)
  }

  private async handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    this.received++
    const conn = this.open.get(stream.session as ServerHttp2Session)
    if (conn) {
      conn.streams++
      this.peak = Math.max(this.peak, conn.streams)
      const id = stream.id ?? 0
      conn.ids.add(id)
      stream.once('close', () => {
        conn.streams--
        conn.ids.delete(id)
        const session = stream.session as ServerHttp2Session
        if (conn.streams === 0 && conn.lastStreamId !== Number.POSITIVE_INFINITY && session && !session.closed)
          session.close()
      })
    }
    stream.on('error', () => undefined)
    const apnsId = typeof headers['apns-id'] === 'string' ? headers['apns-id'] : randomUUID()
    const route = checkRoute(headers[':method'], headers[':path'])
    const token = 'token' in route ? route.token : ''
    const body = await readBoundedBody(stream, MAX_BODY_READ)
    if ('status' in route) return this.reject(stream, apnsId, token, route)
    if (body === undefined) return this.reject(stream, apnsId, token, { status: 413, reason: 'PayloadTooLarge' })

    const auth = await this.verifier.check(single(headers.authorization), conn?.tokens ?? new Map())
    if (!auth.ok) return this.reject(stream, apnsId, token, auth)
    const h = checkHeaders(headers, this.topics)
    if ('reason' in h) return this.reject(stream, apnsId, token, h)
    const p = checkPayload(body, h.pushType)
    if ('reason' in p) return this.reject(stream, apnsId, token, p)

    const chaos = this.chaos?.(token)
    if (chaos === 'reset-after-status') {
      // The answer starts (:status 200) and is then reset: not a delivery, whatever the status said.
      this.rejected.push({ token, status: 0, reason: chaos })
      stream.respond({ ':status': 200, 'apns-id': apnsId }, { endStream: false })
      stream.write('{')
      // destroy(), not close(): close() ends the stream first (END_STREAM), which would complete the answer.
      return void setImmediate(() => stream.destroy(new Error('chaos: reset after :status')))
    }
    if (chaos === 'refuse' || chaos === 'reset') {
      this.rejected.push({ token, status: 0, reason: chaos })
      return void stream.close(
        chaos === 'refuse' ? http2.constants.NGHTTP2_REFUSED_STREAM : http2.constants.NGHTTP2_INTERNAL_ERROR,
      )
    }
    if (chaos) return this.reject(stream, apnsId, token, chaos)
    const injected = this.takeFailure(token)
    if (injected) return this.reject(stream, apnsId, token, injected)

    const keep = this.options.keepAccepted !== false
    const push: AcceptedPush | undefined =
      keep || this.listenerCount('push') > 0
        ? {
            token,
            headers: flatHeaders(headers),
            payload: p.payload,
            apnsId,
            receivedAt: this.clock.now(),
            hrtime: performance.now(),
          }
        : undefined
    this.respond(stream, () => {
      this.acceptedCount++
      if (push) {
        if (keep) this.accepted.push(push)
        this.emit('push', push)
      }
      stream.respond({ ':status': 200, 'apns-id': apnsId }, { endStream: true })
    })
  }

  private takeFailure(token: string): InjectedFailure | undefined {
    const forToken = this.tokenFailures.get(token)
    if (forToken) {
      if (forToken.times !== undefined && --forToken.times <= 0) this.tokenFailures.delete(token)
      return forToken
    }
    return this.nextFailures.shift()
  }

  private reject(
    stream: ServerHttp2Stream,
    apnsId: string,
    token: string,
    r: Rejection & { timestamp?: number; retryAfterS?: number },
  ): void {
    const body: Record<string, unknown> = { reason: r.reason }
    // Apple's 410 body carries when the token stopped being valid, in epoch milliseconds.
    if (r.status === 410) body.timestamp = r.timestamp ?? this.clock.now()
    const headers: http2.OutgoingHttpHeaders = {
      ':status': r.status,
      'apns-id': apnsId,
      'content-type': 'application/json',
    }
    if (r.retryAfterS !== undefined) headers['retry-after'] = String(r.retryAfterS)
    this.respond(stream, () => {
      const rejected = { token, status: r.status, reason: r.reason }
      this.rejected.push(rejected)
      this.emit('rejected', rejected)
      stream.respond(headers)
      stream.end(JSON.stringify(body))
    })
  }

  private respond(stream: ServerHttp2Stream, send: () => void): void {
    const wait = Math.max(this.options.responseDelayMs ?? 0, this.stallUntil - performance.now())
    const go = (): void => {
      if (stream.destroyed || stream.closed) return
      // Above the last stream id of our GOAWAY: never processed, as the GOAWAY told the client.
      if (
        (stream.id ?? 0) >
        (this.open.get(stream.session as ServerHttp2Session)?.lastStreamId ?? Number.POSITIVE_INFINITY)
      )
        return void stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
      send()
    }
    if (wait <= 0) return go()
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      go()
    }, wait)
    this.timers.add(timer)
  }
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v)
  return out
}

export async function startApnsSandbox(options: ApnsSandboxOptions): Promise<ApnsSandbox> {
  const server = http2.createSecureServer({
    key: options.tls.key,
    cert: options.tls.cert,
    // HTTP/2 only, as Apple: an HTTP/1.1 client fails ALPN and is disconnected.
    allowHTTP1: false,
    settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 },
    // Node's default (10 MB per session) answers a full window of 1000 streams with
    // ENHANCE_YOUR_CALM; Apple's servers take them, so the sandbox must too.
    maxSessionMemory: 128,
  })
  const port = await listenOnLoopback(server, options)
  return new ApnsSandbox(server, `https://localhost:${port}`, options)
}
