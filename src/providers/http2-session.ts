// One HTTP/2 session of the push pool (http2-pool.ts) on node:http2, and the pushes in flight on it.
// What node:http2 does not decide for us is decided here:
// - liveness: a NAT or firewall can forget a flow without a word, and the socket then hangs until
//   the kernel gives up (~15 min). A push unanswered for `pingAfterMs` makes the session PING its
//   peer; no PING ack within `pingTimeoutMs` and the session is dead: destroyed, and its pushes go
//   back to the pool to be re-sent on a fresh one. A slow answer on a session that acks PINGs is
//   just slow. Idle sessions are PINGed too, so a dead one is found before a push needs it;
// - limits: a response body over MAX_BODY_BYTES, or any error node:http2 raises for a session
//   (header lists, session memory, CONTINUATION floods), ends the session; its pushes fail as
//   retryable, never as answers;
// - what a push's end means: a response counts only if the stream ended cleanly with END_STREAM.
//   A RST_STREAM before it, even after `:status`, is a failed attempt.
import { AsyncResource } from 'node:async_hooks'
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2'
import { performance } from 'node:perf_hooks'
import type { TLSSocket } from 'node:tls'

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants

/** APNs and FCM answer with a few hundred bytes of JSON at most; more is not a push service's answer. */
export const MAX_BODY_BYTES = 64 * 1024
// Until the server's SETTINGS arrive, the HTTP/2 recommended minimum.
const DEFAULT_MAX_STREAMS = 100

export type StreamOutcome =
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; body: string }
  /** The server never processed the request (REFUSED_STREAM, above GOAWAY's last stream id, never sent): safe to resend. */
  | { kind: 'refused'; reason: string }
  /** The request may or may not have reached the server. */
  | { kind: 'lost'; reason: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  /** The request cannot be sent as given (a header value with CR, LF or NUL): sending it again cannot help. */
  | { kind: 'invalid'; reason: string }

export interface LivenessOptions {
  pingAfterMs: number
  pingTimeoutMs: number
  /** An idle session is PINGed this often, and before it is used again after this long without a sign of life. */
  idlePingMs: number
}

/** What a session reports to its pool. */
export interface SessionOwner {
  /** A stream slot freed, the stream limit changed, or the session can no longer take pushes. */
  changed(session: PooledSession): void
  /** The session is gone (closed, destroyed, dead). */
  gone(session: PooledSession): void
  /** A push did not end with an answer: the pool resends it or settles it with `outcome`. */
  unanswered(push: Push, outcome: StreamOutcome, resend: boolean): void
  /** An answer arrived: the pool may retire the session over it (APNs TooManyProviderTokenUpdates). */
  answered(session: PooledSession, status: number, body: string): void
  warn(message: string, fields: Record<string, unknown>): void
  info(message: string, fields: Record<string, unknown>): void
}

/** One push: its request, and the callbacks that end it. Lives across resends. */
export class Push {
  session: PooledSession | undefined
  stream: ClientHttp2Stream | undefined
  sentAt = 0
  status: number | undefined
  headers: IncomingHttpHeaders | undefined
  chunks: Buffer[] | undefined
  bodyBytes = 0
  resends = 0
  settled = false
  timer: NodeJS.Timeout | undefined
  constructor(
    readonly request: OutgoingHttpHeaders,
    readonly body: string,
    readonly signal: AbortSignal | undefined,
    readonly done: (outcome: StreamOutcome) => void,
  ) {}
  text(): string {
    const c = this.chunks
    return c === undefined ? '' : c.length === 1 ? (c[0] as Buffer).toString('utf8') : Buffer.concat(c).toString('utf8')
  }
}

// The stream's push, so the stream's listeners can be shared functions instead of closures per push.
const PUSH = Symbol('push')
type TaggedStream = ClientHttp2Stream & { [PUSH]?: Push }
// node:http2 copies the options of every request and fills in the priority fields it lacks
// (weight 16, parent 0, exclusive and silent false: its defaults, sent the same either way). Given
// here, the copy has every field from the start: filling them in grew a new property store per
// request, which lived as long as the stream and was copied by the young-generation collections
// (measured on Node.js 20: 7 % fewer bytes promoted per request).
const REQUEST_OPTIONS = { endStream: false, weight: 16, parent: 0, exclusive: false, silent: false } as const

export class PooledSession {
  active = 0
  maxStreams = DEFAULT_MAX_STREAMS
  /** Set by GOAWAY: streams above it were never processed. */
  lastStreamId = Number.POSITIVE_INFINITY
  /** No new pushes here (GOAWAY, retired, dead, closing). */
  goingAway = false
  /** Why the session was ended by us, when it was: its pushes' outcome depends on it. */
  private ended: { reason: string; resend: boolean } | undefined
  private readonly inFlight = new Set<Push>()
  private lastAlive = performance.now()
  private pinging = false
  private pingTimer: NodeJS.Timeout | undefined
  private watchTimer: NodeJS.Timeout | undefined
  private readonly idleTimer: NodeJS.Timeout
  private gone = false

  constructor(
    readonly session: ClientHttp2Session,
    /** The TLS socket under the session: its byte count is the cheapest sign of life. */
    private readonly socket: TLSSocket,
    private readonly owner: SessionOwner,
    private readonly liveness: LivenessOptions,
  ) {
    this.applySettings(session.remoteSettings)
    session.on('remoteSettings', (settings: http2.Settings) => this.applySettings(settings))
    session.on('goaway', (code: number, lastStreamId: number, debug?: Buffer) =>
      this.onGoaway(code, lastStreamId, debug),
    )
    session.on('error', (err: NodeJS.ErrnoException) => {
      // node:http2 ends the session itself (ERR_HTTP2_SESSION_ERROR, ENHANCE_YOUR_CALM, …).
      this.end(`session error: ${err.code ?? err.message}`, false)
    })
    session.on('frameError', (type: number, code: number) =>
      this.end(`frame error (type ${type}, code ${code})`, false),
    )
    session.on('close', () => this.onClose())
    this.idleTimer = setInterval(() => this.idleCheck(), liveness.idlePingMs)
    this.idleTimer.unref()
  }

  /** Can take one more push now. A session idle for long is PINGed first, and is not ready until the ack. */
  ready(now: number): boolean {
    if (this.goingAway || this.active >= this.maxStreams) return false
    if (now - this.lastAlive < this.liveness.idlePingMs) return true
    this.ping()
    return false
  }

  /** Being checked before reuse: the pool waits for it rather than connect another. */
  get checking(): boolean {
    return this.pinging && !this.goingAway
  }

  /** Sends the push on this session. Returns false when node:http2 refused the request before any frame went out. */
  start(push: Push): void {
    this.active++
    let stream: TaggedStream
    try {
      stream = requestWithPlainBind(this.session, push.request)
    } catch (err) {
      this.active--
      const code = (err as NodeJS.ErrnoException).code ?? ''
      if (
        code === 'ERR_INVALID_CHAR' ||
        code === 'ERR_HTTP2_INVALID_HEADER_VALUE' ||
        code === 'ERR_INVALID_HTTP_TOKEN'
      ) {
        const what =
          code === 'ERR_INVALID_HTTP_TOKEN'
            ? 'a header name that is not an HTTP token'
            : 'a header value with a forbidden character (CR, LF or NUL)'
        return push.done({ kind: 'invalid', reason: `${what}: ${(err as Error).message}` })
      }
      // ERR_HTTP2_GOAWAY_SESSION, ERR_HTTP2_INVALID_SESSION: nothing was sent.
      this.goingAway = true
      this.owner.changed(this)
      return this.owner.unanswered(push, { kind: 'refused', reason: code || (err as Error).message }, true)
    }
    push.session = this
    push.stream = stream
    push.status = undefined
    push.headers = undefined
    push.chunks = undefined
    push.bodyBytes = 0
    push.sentAt = performance.now()
    stream[PUSH] = push
    stream.on('response', onResponse)
    stream.on('data', onData)
    stream.on('error', ignore)
    stream.on('close', onStreamClose)
    stream.end(push.body)
    this.inFlight.add(push)
    if (this.watchTimer === undefined) this.watch(this.liveness.pingAfterMs)
  }

  /** Gives up on a push (timeout, deadline): the stream is cancelled and its slot freed now. */
  cancel(push: Push): void {
    const stream = push.stream as TaggedStream | undefined
    if (stream) {
      stream[PUSH] = undefined
      if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL)
    }
    this.release(push)
  }

  /** No new pushes; those in flight finish (APNs: a session whose provider token is refused). */
  retire(reason: string): void {
    if (this.goingAway) return
    this.goingAway = true
    this.owner.info('push connection retired', { reason })
    this.owner.changed(this)
    if (!this.session.closed && !this.session.destroyed) this.session.close()
  }

  /** Graceful close; a stuck stream is cut after `graceMs`. */
  close(graceMs: number): Promise<void> {
    this.goingAway = true
    return new Promise((resolve) => {
      if (this.session.destroyed) return resolve()
      const cut = setTimeout(() => this.session.destroy(), graceMs)
      this.session.once('close', () => {
        clearTimeout(cut)
        resolve()
      })
      if (!this.session.closed) this.session.close()
    })
  }

  /** Ends the session now. `resend`: its pushes may go out again on another session. */
  end(reason: string, resend: boolean): void {
    if (this.ended || this.session.destroyed) return
    this.ended = { reason, resend }
    this.goingAway = true
    this.owner.warn('push connection dropped', { reason, inFlight: this.inFlight.size })
    this.session.destroy()
  }

  // ---- one push's stream (called with `this` = the stream) ----

  onStreamResponse(push: Push, headers: IncomingHttpHeaders): void {
    const status = Number(headers[':status'])
    // 1xx is informational: the real answer follows.
    if (status >= 200) {
      push.status = status
      push.headers = headers
    }
  }

  onStreamData(push: Push, chunk: Buffer): void {
    push.bodyBytes += chunk.length
    if (push.bodyBytes > MAX_BODY_BYTES) return this.end(`a response body over ${MAX_BODY_BYTES} bytes`, false)
    ;(push.chunks ??= []).push(chunk)
  }

  onStreamClose(push: Push, stream: ClientHttp2Stream): void {
    this.release(push)
    this.lastAlive = performance.now()
    const ended = this.ended
    // Only END_STREAM completes an answer: 'end' was emitted and no RST_STREAM carried an error.
    if (!ended && push.status !== undefined && stream.readableEnded && stream.rstCode === NGHTTP2_NO_ERROR) {
      const body = push.text()
      this.owner.answered(this, push.status, body)
      return push.done({ kind: 'response', status: push.status, headers: push.headers as IncomingHttpHeaders, body })
    }
    const id = stream.id
    if (id === undefined || id > this.lastStreamId || stream.rstCode === NGHTTP2_REFUSED_STREAM) {
      return this.owner.unanswered(
        push,
        { kind: 'refused', reason: `stream ${id ?? '-'} not processed by the server (rst ${stream.rstCode})` },
        true,
      )
    }
    if (ended)
      return this.owner.unanswered(push, { kind: 'lost', reason: `stream ${id}: ${ended.reason}` }, ended.resend)
    // node:http2 resets a stream whose answer broke one of its limits (header list size or pairs,
    // session memory): a server that sends that is not to be trusted with more pushes.
    if (stream.rstCode === NGHTTP2_ENHANCE_YOUR_CALM)
      this.end(`stream ${id}: the answer broke a limit (ENHANCE_YOUR_CALM)`, false)
    const why =
      push.status === undefined ? 'before a response' : `after :status ${push.status}, before the end of the response`
    this.owner.unanswered(push, { kind: 'lost', reason: `stream ${id} reset (rst ${stream.rstCode}) ${why}` }, false)
  }

  // ---- liveness ----

  private release(push: Push): void {
    if (push.session !== this) return
    push.session = undefined
    push.stream = undefined
    this.inFlight.delete(push)
    this.active--
    this.owner.changed(this)
  }

  /** While pushes are in flight: PING when the oldest has waited `pingAfterMs` for its answer. */
  private watch(ms: number): void {
    this.watchTimer = setTimeout(() => {
      this.watchTimer = undefined
      const oldest = this.inFlight.values().next().value
      if (oldest === undefined || this.goingAway) return
      const waited = performance.now() - oldest.sentAt
      if (waited >= this.liveness.pingAfterMs) this.ping()
      this.watch(Math.max(1, this.liveness.pingAfterMs - (waited % this.liveness.pingAfterMs)))
    }, ms)
    this.watchTimer.unref()
  }

  private idleCheck(): void {
    if (!this.goingAway && performance.now() - this.lastAlive >= this.liveness.idlePingMs) this.ping()
  }

  private ping(): void {
    if (this.pinging || this.goingAway || this.session.destroyed) return
    let sent: boolean
    try {
      sent = this.session.ping((err) => {
        if (this.pingTimer) clearTimeout(this.pingTimer)
        this.pingTimer = undefined
        this.pinging = false
        if (err) return
        this.lastAlive = performance.now()
        this.owner.changed(this)
      })
    } catch {
      sent = false
    }
    // node:http2 refuses a PING only with too many unacknowledged: a peer that never acks cannot
    // be checked, and a session that cannot be checked is not trusted with pushes.
    if (!sent) return this.end('PINGs left unacknowledged', true)
    this.pinging = true
    this.armPingTimer(performance.now(), this.socket.bytesRead, false)
  }

  private armPingTimer(sentAt: number, bytesRead: number, extended: boolean): void {
    // setImmediate: after a stall of our own event loop, timers run before the socket is read, and
    // an ack already waiting there must count.
    this.pingTimer = setTimeout(
      () => setImmediate(() => this.pingOverdue(sentAt, bytesRead, extended)),
      this.liveness.pingTimeoutMs,
    )
  }

  /**
   * No ack yet. Dead only if nothing at all came either: any byte read proves the path works (the
   * ack may be queued behind answers). If our own process was starved of CPU for half the timeout
   * or more (the timer fired that late), the silence proves nothing: one more period.
   */
  private pingOverdue(sentAt: number, bytesRead: number, extended: boolean): void {
    this.pingTimer = undefined
    if (!this.pinging) return
    if (this.socket.bytesRead > bytesRead || this.lastAlive > sentAt) {
      this.pinging = false
      return
    }
    const late = performance.now() - sentAt - this.liveness.pingTimeoutMs
    if (!extended && late > this.liveness.pingTimeoutMs / 2)
      return this.armPingTimer(performance.now(), bytesRead, true)
    this.end(`no PING ack and nothing received within ${this.liveness.pingTimeoutMs} ms`, true)
  }

  // ---- session events ----

  private applySettings(settings: http2.Settings): void {
    this.maxStreams = settings.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS
    this.owner.changed(this)
  }

  private onGoaway(code: number, lastStreamId: number, debug: Buffer | undefined): void {
    // Streams at or below lastStreamId still complete here (NO_ERROR: node:http2 drains the session);
    // those above were never processed and go to a new session.
    this.goingAway = true
    this.lastStreamId = lastStreamId
    const fields: Record<string, unknown> = { code, lastStreamId, inFlight: this.inFlight.size }
    const reason = debugReason(debug)
    if (reason !== undefined) fields.reason = reason
    if (code === NGHTTP2_NO_ERROR)
      this.owner.info('push service sent GOAWAY; new pushes go to a new connection', fields)
    else this.owner.warn('push service sent GOAWAY with an error; new pushes go to a new connection', fields)
    this.owner.changed(this)
  }

  private onClose(): void {
    if (this.gone) return
    this.gone = true
    this.goingAway = true
    clearInterval(this.idleTimer)
    if (this.pingTimer) clearTimeout(this.pingTimer)
    if (this.watchTimer) clearTimeout(this.watchTimer)
    this.owner.gone(this)
  }
}

function onResponse(this: TaggedStream, headers: IncomingHttpHeaders): void {
  const push = this[PUSH]
  push?.session?.onStreamResponse(push, headers)
}

function onData(this: TaggedStream, chunk: Buffer): void {
  const push = this[PUSH]
  push?.session?.onStreamData(push, chunk)
}

function onStreamClose(this: TaggedStream): void {
  const push = this[PUSH]
  if (!push) return
  this[PUSH] = undefined
  push.session?.onStreamClose(push, this)
}

/**
 * `session.request()` with AsyncResource#bind swapped, for the duration of the call only, for one
 * that binds the same way without Node.js's deprecation wrappers.
 *
 * Why: node:http2 binds every request to an AsyncResource, and AsyncResource#bind (while its
 * `asyncResource` property is deprecated, DEP0172: Node.js 20 to 24) hangs two deprecate()
 * wrappers on the bound function, each given a fresh function as its prototype. Measured on
 * Node.js 20: nearly all of those survive V8's young-generation collections, and through the bound
 * function's closure they keep the request's stream alive with them, so every push's stream was
 * copied by two scavenges and promoted to the old generation. That was the largest share of what
 * each scavenge copied, and a scavenge stops every event in flight (BENCHMARKS.md, benchmark 1).
 *
 * request() binds synchronously, before it returns, so no other code ever sees the swap, and the
 * bound function runs in the resource's async scope exactly as before
 * (test/providers/http2-request-bind.test.ts).
 */
function requestWithPlainBind(session: ClientHttp2Session, headers: OutgoingHttpHeaders): ClientHttp2Stream {
  const prototype = AsyncResource.prototype as { bind: unknown }
  const bind = prototype.bind
  prototype.bind = plainBind
  try {
    return session.request(headers, REQUEST_OPTIONS)
  } finally {
    prototype.bind = bind
  }
}

/** AsyncResource#bind as Node.js has it, without the `asyncResource` property and its wrappers. */
function plainBind<A extends unknown[], R>(
  this: AsyncResource,
  fn: (...args: A) => R,
  thisArg?: unknown,
): (...args: A) => R {
  return bindToScope(this, fn, thisArg)
}

/** `fn` bound to run in `resource`'s async scope (with `thisArg`, or the caller's `this`). */
export function bindToScope<A extends unknown[], R>(
  resource: AsyncResource,
  fn: (...args: A) => R,
  thisArg: unknown,
): (...args: A) => R {
  if (thisArg !== undefined) return (...args: A) => resource.runInAsyncScope(fn, thisArg, ...args)
  return function (this: unknown, ...args: A): R {
    return resource.runInAsyncScope(fn, this, ...args)
  }
}

// The outcome is decided on 'close', which follows every error.
function ignore(): void {}

/**
 * GOAWAY's debug data, for the log: Apple sends JSON with a `reason` ("Shutdown",
 * "TooManyProviderTokenUpdates"…); anything else is shown as text, shortened.
 */
export function debugReason(debug: Buffer | undefined): string | undefined {
  if (!debug || debug.length === 0) return undefined
  const text = debug.subarray(0, 512).toString('utf8')
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { reason?: unknown }).reason === 'string')
      return (parsed as { reason: string }).reason.slice(0, 200)
  } catch {
    // not JSON: the text itself
  }
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)
}
