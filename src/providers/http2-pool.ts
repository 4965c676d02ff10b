// A small pool of HTTP/2 sessions to one push-service origin (APNs, FCM). Apple asks providers to
// keep connections open and reuse them (rapid reconnects look like a denial-of-service attack);
// both services multiplex many streams per connection and advertise how many
// (SETTINGS_MAX_CONCURRENT_STREAMS): requests beyond that wait here, in order, instead of piling
// up inside nghttp2 where no deadline can reach them. Written on node:http2 directly because the
// push path is the product's hot path: one stream per push, no per-request dispatcher machinery.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import type { Logger } from '../observability/logger.js'

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants
// Until the server's SETTINGS arrive, assume the HTTP/2 recommended minimum.
const DEFAULT_MAX_STREAMS = 100

export type StreamOutcome =
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; body: string }
  /** The server never processed the request (REFUSED_STREAM, above GOAWAY's last stream, never sent): safe to resend. */
  | { kind: 'refused'; reason: string }
  /** The request may or may not have reached APNs. */
  | { kind: 'lost'; reason: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' }

class PooledSession {
  active = 0
  maxStreams = DEFAULT_MAX_STREAMS
  /** Set by GOAWAY: streams above it were not processed. */
  lastStreamId = Number.POSITIVE_INFINITY
  goingAway = false
  constructor(readonly session: ClientHttp2Session) {}
  usable(): boolean {
    return !this.goingAway && !this.session.closed && !this.session.destroyed
  }
}

export interface SessionPoolOptions {
  ca?: string
  size: number
  connectTimeoutMs: number
  logger: Logger
}

export class Http2SessionPool {
  private sessions: PooledSession[] = []
  private connecting: Promise<PooledSession> | undefined
  private readonly waiters: Array<() => void> = []
  private closed = false

  constructor(
    readonly origin: string,
    private readonly o: SessionPoolOptions,
  ) {}

  /** One request/response exchange on some pooled session. */
  async exchange(headers: OutgoingHttpHeaders, body: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamOutcome> {
    let ps: PooledSession
    try {
      const acquired = await this.acquire(signal)
      if (!acquired) return this.closed ? { kind: 'refused', reason: 'provider closed' } : { kind: 'aborted' }
      ps = acquired
    } catch (err) {
      return { kind: 'lost', reason: `connect ${this.origin}: ${(err as Error).message}` }
    }
    let req: ClientHttp2Stream
    try {
      req = ps.session.request(headers, { endStream: false })
    } catch (err) {
      // ERR_HTTP2_GOAWAY_SESSION / ERR_HTTP2_INVALID_SESSION: nothing was sent.
      this.release(ps)
      return { kind: 'refused', reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message }
    }
    return this.await(ps, req, body, timeoutMs, signal)
  }

  /** Opens a session now (TLS and HTTP/2 handshakes) so the first push does not pay for them. */
  async warm(): Promise<void> {
    const ps = await this.acquire()
    if (ps) this.release(ps)
  }

  async close(): Promise<void> {
    this.closed = true
    for (const wake of this.waiters.splice(0)) wake()
    const all = this.sessions.splice(0)
    await Promise.all(
      all.map(
        (ps) =>
          new Promise<void>((resolve) => {
            if (ps.session.closed || ps.session.destroyed) return resolve()
            // Graceful: in-flight pushes finish; a stuck one is cut after a second.
            const cut = setTimeout(() => ps.session.destroy(), 1000)
            ps.session.close(() => {
              clearTimeout(cut)
              resolve()
            })
          }),
      ),
    )
  }

  // Runs once per push: listeners and allocations here are the provider's per-push cost. A 200
  // from APNs has no body, so chunks are kept as buffers and decoded only when there are some.
  private await(ps: PooledSession, req: ClientHttp2Stream, body: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamOutcome> {
    return new Promise((resolve) => {
      let status: number | undefined
      let resHeaders: IncomingHttpHeaders = {}
      let chunks: Buffer[] | undefined
      let settled = false
      const finish = (o: StreamOutcome): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.release(ps)
        resolve(o)
      }
      const text = (): string => (chunks === undefined ? '' : chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'))
      const timer = setTimeout(() => {
        req.close(NGHTTP2_CANCEL)
        finish({ kind: 'timeout' })
      }, timeoutMs)
      const onAbort = (): void => {
        req.close(NGHTTP2_CANCEL)
        finish({ kind: 'aborted' })
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      req.on('response', (h) => {
        status = Number(h[':status'])
        resHeaders = h
      })
      req.on('data', (chunk: Buffer) => (chunks ??= []).push(chunk))
      // The outcome is decided on 'close', which always follows 'end' or an error.
      req.on('error', () => undefined)
      req.on('close', () => {
        if (status !== undefined) return finish({ kind: 'response', status, headers: resHeaders, body: text() })
        const id = req.id
        const refused = req.rstCode === NGHTTP2_REFUSED_STREAM || id === undefined || id > ps.lastStreamId
        finish(refused ? { kind: 'refused', reason: `stream ${id ?? '-'} refused (rst ${req.rstCode})` } : { kind: 'lost', reason: `stream ${id} reset (rst ${req.rstCode}) before a response` })
      })
      req.end(body)
    })
  }

  /** A session with a free stream slot (its count already taken), or undefined when aborted. */
  private async acquire(signal?: AbortSignal): Promise<PooledSession | undefined> {
    for (;;) {
      if (signal?.aborted || this.closed) return undefined
      let best: PooledSession | undefined
      let stale = false
      for (const s of this.sessions) {
        if (!s.usable()) stale = true
        else if (s.active < s.maxStreams && (!best || s.active < best.active)) best = s
      }
      // Rebuilt only when a session went away: acquire runs once per push.
      if (stale) this.sessions = this.sessions.filter((s) => s.usable())
      if (best) {
        best.active++
        return best
      }
      if (this.connecting) {
        await this.connecting.catch(() => undefined)
        continue
      }
      if (this.sessions.length < this.o.size) {
        this.connecting = this.connect().finally(() => {
          this.connecting = undefined
        })
        await this.connecting
        continue
      }
      await this.waitForSlot(signal)
    }
  }

  private waitForSlot(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const i = this.waiters.indexOf(wake)
        if (i >= 0) this.waiters.splice(i, 1)
        resolve()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(wake)
    })
  }

  private release(ps: PooledSession): void {
    ps.active--
    this.waiters.shift()?.()
  }

  private wakeAll(): void {
    for (const wake of this.waiters.splice(0)) wake()
  }

  private connect(): Promise<PooledSession> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(this.origin, this.o.ca !== undefined ? { ca: this.o.ca } : {})
      const ps = new PooledSession(session)
      const fail = (err: Error): void => {
        clearTimeout(timer)
        session.destroy()
        reject(err)
      }
      const timer = setTimeout(() => fail(new Error('connect timeout')), this.o.connectTimeoutMs)
      const onEarlyError = (err: Error): void => fail(err)
      const onEarlyClose = (): void => fail(new Error('closed while connecting'))
      session.once('error', onEarlyError)
      session.once('close', onEarlyClose)
      // The server's first frame is its SETTINGS: only then is maxConcurrentStreams known.
      session.once('remoteSettings', () => {
        clearTimeout(timer)
        session.off('error', onEarlyError)
        session.off('close', onEarlyClose)
        this.watch(ps)
        this.sessions.push(ps)
        resolve(ps)
      })
    })
  }

  private watch(ps: PooledSession): void {
    const { session } = ps
    const apply = (s: http2.Settings): void => {
      ps.maxStreams = s.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS
      this.wakeAll()
    }
    apply(session.remoteSettings)
    session.on('remoteSettings', apply)
    session.on('goaway', (code: number, lastStreamId: number) => {
      // New requests go to a new session; streams at or below lastStreamId still complete here.
      ps.goingAway = true
      ps.lastStreamId = lastStreamId
      this.o.logger.info({ origin: this.origin, code, lastStreamId }, 'apns: GOAWAY, reconnecting')
      this.wakeAll()
    })
    session.on('error', (err: Error) => this.o.logger.warn({ origin: this.origin, err: err.message }, 'apns: session error'))
    session.on('close', () => {
      this.sessions = this.sessions.filter((s) => s !== ps)
      this.wakeAll()
    })
  }
}
