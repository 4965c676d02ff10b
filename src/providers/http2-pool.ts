// A small pool of HTTP/2 sessions to one push-service origin (APNs, FCM). Apple asks providers to
// keep connections open and reuse them (rapid reconnects look like a denial-of-service attack);
// both services multiplex many streams per connection and advertise how many
// (SETTINGS_MAX_CONCURRENT_STREAMS): requests beyond that wait here, in order, instead of piling
// up where no deadline can reach them. The connections are our own HTTP/2 client (h2/connection.ts):
// the push path is the product's hot path, and node:http2's per-stream machinery was most of it.
import type { Logger } from '../observability/logger.js'
import { H2Connection, type ExchangeOutcome, type Field } from './h2/connection.js'
import { encodeHeaders } from './h2/hpack.js'

/** Request headers, pseudo-headers first (`:method`, `:path`); names lowercase. */
export type RequestHeaders = Record<string, string>

export type StreamOutcome =
  | ExchangeOutcome
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  /** The request cannot be sent as given (a header value with CR, LF or NUL): nothing went out, and sending it again cannot help. */
  | { kind: 'invalid'; reason: string }

class PooledSession {
  active = 0
  constructor(readonly conn: H2Connection) {}
  get maxStreams(): number {
    return this.conn.maxConcurrentStreams
  }
  usable(): boolean {
    return !this.conn.goingAway && !this.conn.closed
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

  private readonly authority: string

  constructor(
    readonly origin: string,
    private readonly o: SessionPoolOptions,
  ) {
    this.authority = new URL(origin).host
  }

  /** One request/response exchange on some pooled session. */
  async exchange(headers: RequestHeaders, body: string, timeoutMs: number, signal?: AbortSignal): Promise<StreamOutcome> {
    let headerBlock: Buffer
    try {
      headerBlock = encodeHeaders(this.fields(headers))
    } catch (err) {
      return { kind: 'invalid', reason: (err as Error).message }
    }
    let ps: PooledSession
    try {
      const acquired = await this.acquire(signal)
      if (!acquired) return this.closed ? { kind: 'refused', reason: 'provider closed' } : { kind: 'aborted' }
      ps = acquired
    } catch (err) {
      return { kind: 'lost', reason: `connect ${this.origin}: ${(err as Error).message}` }
    }
    return this.await(ps, headerBlock, Buffer.from(body, 'utf8'), timeoutMs, signal)
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
    // Graceful: in-flight pushes finish; a stuck one is cut after a second.
    await Promise.all(all.map((ps) => ps.conn.close(1000)))
  }

  // Runs once per push: what is allocated here is the pool's per-push cost.
  private await(ps: PooledSession, headerBlock: Buffer, body: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<StreamOutcome> {
    return new Promise((resolve) => {
      let settled = false
      const finish = (o: StreamOutcome): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.release(ps)
        resolve(o)
      }
      const timer = setTimeout(() => {
        ps.conn.cancel(ex)
        finish({ kind: 'timeout' })
      }, timeoutMs)
      const onAbort = (): void => {
        ps.conn.cancel(ex)
        finish({ kind: 'aborted' })
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const ex = ps.conn.request(headerBlock, body, finish)
    })
  }

  /** Header map to HPACK fields, pseudo-headers first as HTTP/2 requires, :scheme and :authority added. */
  private fields(headers: RequestHeaders): Field[] {
    const fields: Field[] = [
      [':scheme', 'https'],
      [':authority', this.authority],
    ]
    for (const name in headers) {
      const value = headers[name] as string
      if (name[0] === ':') fields.unshift([name, value])
      else fields.push([name.toLowerCase(), value])
    }
    return fields
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

  private async connect(): Promise<PooledSession> {
    const conn = await H2Connection.connect(this.origin, {
      ...(this.o.ca !== undefined ? { ca: this.o.ca } : {}),
      timeoutMs: this.o.connectTimeoutMs,
      events: {
        onSettings: () => this.wakeAll(),
        onGoaway: (code, lastStreamId) => {
          // New requests go to a new session; streams at or below lastStreamId still complete there.
          this.o.logger.info({ origin: this.origin, code, lastStreamId }, 'push service sent GOAWAY; reconnecting')
          this.wakeAll()
        },
        onClose: (reason) => {
          if (reason) this.o.logger.warn({ origin: this.origin, err: reason }, 'push service connection lost')
          this.sessions = this.sessions.filter((s) => !s.conn.closed)
          this.wakeAll()
        },
      },
    })
    const ps = new PooledSession(conn)
    this.sessions.push(ps)
    return ps
  }
}
