// One HTTP/2 client connection (RFC 9113) over TLS, written for the push hot path. node:http2 costs
// ~80 µs of CPU per push (a Duplex stream, an AsyncResource, header maps and listeners per request,
// measured in bench/ and BENCHMARKS.md); a push is one small request with a body and a small
// answer, so here a request is an entry in a map, its frames are appended to one write per tick,
// and the answer is parsed straight from the socket's buffers.
//
// What it does, as the RFC requires of a client: connection preface and SETTINGS (push disabled),
// SETTINGS ACK, PING answers, HPACK with the peer's dynamic table, CONTINUATION, send flow control
// (connection and stream windows, SETTINGS_INITIAL_WINDOW_SIZE changes), receive flow control
// (WINDOW_UPDATE as data is consumed), MAX_FRAME_SIZE, RST_STREAM, and GOAWAY (streams above the
// last processed id are reported as never processed). Protocol violations by the server end the
// connection with GOAWAY and the matching error code.
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { isIP } from 'node:net'
import { HpackDecoder, HpackError } from './hpack.js'

export type Field = readonly [name: string, value: string]

export type ExchangeOutcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; body: string }
  /** The server never processed the request (REFUSED_STREAM, above GOAWAY's last stream, never sent): safe to resend. */
  | { kind: 'refused'; reason: string }
  /** The request may or may not have reached the server. */
  | { kind: 'lost'; reason: string }

export interface ConnectionEvents {
  /** The server's SETTINGS changed what may be sent (concurrent streams). */
  onSettings(): void
  onGoaway(code: number, lastStreamId: number): void
  /** `reason`: why, when the connection did not end by our choice or the server's GOAWAY. */
  onClose(reason?: string): void
}

export interface ConnectOptions {
  ca?: string
  timeoutMs: number
  events: ConnectionEvents
}

const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const
export const H2_ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9 } as const
const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5 } as const

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const DEFAULT_WINDOW = 65_535
const MAX_WINDOW = 2 ** 31 - 1
const MIN_FRAME_SIZE = 16_384
const MAX_FRAME_SIZE = 16_777_215
// Receive side: a large connection window, topped up once half of it is used, so answers never
// wait on our WINDOW_UPDATEs; stream windows stay at the default (answers are a few hundred bytes).
const CONNECTION_RECEIVE_WINDOW = 16 * 1024 * 1024
// An answer larger than this is not a push service's: the stream is cancelled.
const MAX_BODY = 1024 * 1024
// Until the server's SETTINGS arrive, the HTTP/2 recommended minimum.
const DEFAULT_MAX_STREAMS = 100

/** One request in flight. */
class Exchange {
  status: number | undefined
  headers: Record<string, string> = {}
  chunks: Buffer[] | undefined
  bodyBytes = 0
  received = 0
  /** Body bytes not yet sent (flow control), and where they start. */
  body: Buffer
  bodyOffset = 0
  sendWindow: number
  /** Its HEADERS frame reached the socket: the server may have seen it. */
  written = false
  /** Waiting in `blocked` for send window. */
  queued = false
  constructor(
    readonly id: number,
    body: Buffer,
    sendWindow: number,
    readonly done: (o: ExchangeOutcome) => void,
  ) {
    this.body = body
    this.sendWindow = sendWindow
  }
  text(): string {
    const c = this.chunks
    return c === undefined ? '' : c.length === 1 ? (c[0] as Buffer).toString('utf8') : Buffer.concat(c).toString('utf8')
  }
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

export class H2Connection {
  maxConcurrentStreams = DEFAULT_MAX_STREAMS
  /** Set by GOAWAY (received or sent): no new requests here. */
  goingAway = false
  closed = false
  private readonly streams = new Map<number, Exchange>()
  private readonly decoder = new HpackDecoder()
  private nextStreamId = 1
  private peerInitialWindow = DEFAULT_WINDOW
  private peerMaxFrameSize = MIN_FRAME_SIZE
  private connectionSendWindow = DEFAULT_WINDOW
  private receivedUnacked = 0
  private lastProcessed = MAX_WINDOW
  // Streams waiting for send window, in order.
  private blocked: Exchange[] = []
  private out: Buffer[] = []
  private unwritten: Exchange[] = []
  private flushScheduled = false
  private inbox: Buffer | undefined
  // A header block split over HEADERS + CONTINUATION frames.
  private partial: { streamId: number; endStream: boolean; fragments: Buffer[] } | undefined
  private settled = false
  private closeReported = false
  private endedCleanly = false
  private onReady: ((err?: Error) => void) | undefined
  private onDrained: (() => void) | undefined

  private constructor(
    private readonly socket: TLSSocket,
    private readonly events: ConnectionEvents,
  ) {}

  /** Opens the TLS connection and resolves once the server's SETTINGS arrived. */
  static connect(origin: string, o: ConnectOptions): Promise<H2Connection> {
    const url = new URL(origin)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const socket = tlsConnect({
      host,
      port: Number(url.port || 443),
      ALPNProtocols: ['h2'],
      ...(isIP(host) ? {} : { servername: host }),
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
    })
    const conn = new H2Connection(socket, o.events)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => conn.fail(new Error('connect timeout')), o.timeoutMs)
      conn.onReady = (err) => {
        clearTimeout(timer)
        conn.onReady = undefined
        if (err) reject(err)
        else resolve(conn)
      }
      socket.setNoDelay(true)
      socket.once('secureConnect', () => {
        if (socket.alpnProtocol !== 'h2') return conn.fail(new Error(`the server did not agree to HTTP/2 (ALPN: ${socket.alpnProtocol || 'none'})`))
        conn.start()
      })
      socket.on('data', (chunk: Buffer) => conn.receive(chunk))
      socket.on('error', (err) => conn.fail(err))
      socket.on('close', () => conn.fail(new Error('connection closed')))
    })
  }

  get active(): number {
    return this.streams.size
  }

  /**
   * Sends one request; `done` is called exactly once, unless the request is cancelled first.
   * `headerBlock` is from encodeHeaders(): literals never indexed, so it does not depend on the
   * connection, and a header that cannot be encoded is refused before any stream is taken.
   */
  request(headerBlock: Buffer, body: Buffer, done: (o: ExchangeOutcome) => void): Exchange {
    if (this.closed || this.goingAway) {
      const ex = new Exchange(0, body, 0, done)
      done({ kind: 'refused', reason: this.closed ? 'connection closed' : 'connection going away' })
      return ex
    }
    const id = this.nextStreamId
    this.nextStreamId += 2
    // Stream ids are 31 bits: a long-lived connection ends and the pool opens a new one.
    if (this.nextStreamId > MAX_WINDOW) this.goingAway = true
    const ex = new Exchange(id, body, this.peerInitialWindow, done)
    this.streams.set(id, ex)
    this.writeHeaders(id, headerBlock, body.length === 0)
    this.unwritten.push(ex)
    if (body.length > 0) this.sendBody(ex)
    return ex
  }

  /** Gives up on a request (deadline, timeout): RST_STREAM CANCEL if the server may have it. */
  cancel(ex: Exchange): void {
    if (this.streams.get(ex.id) !== ex) return
    this.streams.delete(ex.id)
    if (!this.closed) {
      this.frame(FRAME.RST_STREAM, 0, ex.id, u32(H2_ERROR.CANCEL))
      this.closeIfDone()
    }
  }

  /** Graceful: in-flight requests finish, then GOAWAY and the socket closes; cut after `graceMs`. */
  close(graceMs = 1000): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.goingAway = true
    return new Promise((resolve) => {
      const cut = setTimeout(() => this.destroy(), graceMs)
      this.onDrained = () => {
        clearTimeout(cut)
        resolve()
      }
      this.socket.once('close', () => {
        clearTimeout(cut)
        resolve()
      })
      this.closeIfDone()
    })
  }

  destroy(): void {
    this.fail(new Error('connection closed by the client'))
  }

  private start(): void {
    const settings = Buffer.alloc(6)
    settings.writeUInt16BE(SETTING.ENABLE_PUSH, 0)
    settings.writeUInt32BE(0, 2)
    this.out.push(PREFACE)
    this.frame(FRAME.SETTINGS, 0, 0, settings)
    this.frame(FRAME.WINDOW_UPDATE, 0, 0, u32(CONNECTION_RECEIVE_WINDOW - DEFAULT_WINDOW))
  }

  private closeIfDone(): void {
    if (!this.goingAway || this.streams.size > 0 || this.closed) return
    this.endedCleanly = true
    this.frame(FRAME.GOAWAY, 0, 0, goawayPayload(0, H2_ERROR.NO_ERROR))
    this.flush()
    this.closed = true
    // Servers need not close after a client's GOAWAY: once it is written, the socket goes.
    this.socket.end(() => this.socket.destroy())
    this.drained()
  }

  private drained(): void {
    const d = this.onDrained
    this.onDrained = undefined
    d?.()
  }

  // ---- writing ----

  private frame(type: number, flags: number, streamId: number, payload?: Buffer): void {
    const head = Buffer.allocUnsafe(9)
    const len = payload?.length ?? 0
    head[0] = len >>> 16
    head[1] = (len >>> 8) & 0xff
    head[2] = len & 0xff
    head[3] = type
    head[4] = flags
    head.writeUInt32BE(streamId, 5)
    this.out.push(head)
    if (payload && len > 0) this.out.push(payload)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      process.nextTick(() => this.flush())
    }
  }

  private writeHeaders(id: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrameSize
    const endFlag = endStream ? FLAG.END_STREAM : 0
    if (block.length <= max) return this.frame(FRAME.HEADERS, FLAG.END_HEADERS | endFlag, id, block)
    this.frame(FRAME.HEADERS, endFlag, id, block.subarray(0, max))
    for (let p = max; p < block.length; p += max) {
      const last = p + max >= block.length
      this.frame(FRAME.CONTINUATION, last ? FLAG.END_HEADERS : 0, id, block.subarray(p, p + max))
    }
  }

  /** Sends as much of the body as the windows allow; the rest waits in `blocked`. */
  private sendBody(ex: Exchange): void {
    while (ex.bodyOffset < ex.body.length) {
      const n = Math.min(ex.body.length - ex.bodyOffset, ex.sendWindow, this.connectionSendWindow, this.peerMaxFrameSize)
      if (n <= 0) {
        if (!ex.queued) {
          ex.queued = true
          this.blocked.push(ex)
        }
        return
      }
      const end = ex.bodyOffset + n
      this.frame(FRAME.DATA, end === ex.body.length ? FLAG.END_STREAM : 0, ex.id, ex.body.subarray(ex.bodyOffset, end))
      ex.bodyOffset = end
      ex.sendWindow -= n
      this.connectionSendWindow -= n
    }
  }

  private unblock(): void {
    if (this.blocked.length === 0) return
    // In order: whoever waited longest goes first; a stream still short of window queues again.
    const waiting = this.blocked
    this.blocked = []
    for (const ex of waiting) {
      ex.queued = false
      if (this.streams.get(ex.id) === ex) this.sendBody(ex)
    }
  }

  private flush(): void {
    this.flushScheduled = false
    if (this.out.length === 0 || this.socket.destroyed) return
    const data = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out)
    this.out = []
    for (const ex of this.unwritten) ex.written = true
    this.unwritten = []
    this.socket.write(data)
  }

  // ---- reading ----

  private receive(chunk: Buffer): void {
    const buf = this.inbox === undefined ? chunk : Buffer.concat([this.inbox, chunk])
    this.inbox = undefined
    try {
      let p = 0
      while (buf.length - p >= 9) {
        const len = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!
        if (len > MIN_FRAME_SIZE) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, `frame of ${len} bytes, over our SETTINGS_MAX_FRAME_SIZE`)
        if (buf.length - p < 9 + len) break
        const type = buf[p + 3]!
        const flags = buf[p + 4]!
        const streamId = buf.readUInt32BE(p + 5) & MAX_WINDOW
        this.onFrame(type, flags, streamId, buf.subarray(p + 9, p + 9 + len))
        p += 9 + len
        if (this.socket.destroyed) return
      }
      if (p < buf.length) this.inbox = Buffer.from(buf.subarray(p))
    } catch (err) {
      // Never thrown out of a socket handler: whatever went wrong ends this connection only.
      if (err instanceof ConnectionError) return this.protocolError(err)
      if (err instanceof HpackError) return this.protocolError(new ConnectionError(H2_ERROR.COMPRESSION_ERROR, `HPACK: ${err.message}`))
      this.protocolError(new ConnectionError(H2_ERROR.INTERNAL_ERROR, `internal error: ${(err as Error).message}`))
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.partial && type !== FRAME.CONTINUATION) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'expected CONTINUATION')
    switch (type) {
      case FRAME.DATA:
        return this.onData(flags, streamId, payload)
      case FRAME.HEADERS:
        return this.onHeaders(flags, streamId, payload)
      case FRAME.CONTINUATION: {
        const part = this.partial
        if (!part || part.streamId !== streamId) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'unexpected CONTINUATION')
        part.fragments.push(Buffer.from(payload))
        if (flags & FLAG.END_HEADERS) {
          this.partial = undefined
          this.onHeaderBlock(streamId, Buffer.concat(part.fragments), part.endStream)
        }
        return
      }
      case FRAME.RST_STREAM: {
        if (payload.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'RST_STREAM must be 4 bytes')
        if (streamId === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0')
        const ex = this.streams.get(streamId)
        if (ex) this.end(ex, payload.readUInt32BE(0))
        return
      }
      case FRAME.SETTINGS:
        return this.onSettings(flags, streamId, payload)
      case FRAME.PUSH_PROMISE:
        throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PUSH_PROMISE although push is disabled')
      case FRAME.PING:
        if (payload.length !== 8) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'PING must be 8 bytes')
        if (streamId !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PING on a stream')
        if (!(flags & FLAG.ACK)) this.frame(FRAME.PING, FLAG.ACK, 0, Buffer.from(payload))
        return
      case FRAME.GOAWAY:
        return this.onGoaway(streamId, payload)
      case FRAME.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload)
      default:
        // PRIORITY and unknown frame types are ignored (RFC 9113 §5.5).
        return
    }
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on stream 0')
    // Flow control counts the whole frame, padding included, whoever the stream belongs to.
    this.consumed(payload.length)
    const data = flags & FLAG.PADDED ? unpad(payload) : payload
    const ex = this.streams.get(streamId)
    if (!ex) return
    if (ex.status === undefined) {
      this.rst(ex, H2_ERROR.PROTOCOL_ERROR)
      return this.settle(ex, { kind: 'lost', reason: `stream ${ex.id}: DATA before the response headers` })
    }
    ex.received += payload.length
    if (data.length > 0) {
      ex.bodyBytes += data.length
      if (ex.bodyBytes > MAX_BODY) {
        this.rst(ex, H2_ERROR.CANCEL)
        return this.settle(ex, { kind: 'lost', reason: `stream ${ex.id}: answer over ${MAX_BODY} bytes` })
      }
      ;(ex.chunks ??= []).push(Buffer.from(data))
    }
    if (flags & FLAG.END_STREAM) return this.complete(ex)
    // Long answers: give the stream its window back as it is consumed.
    if (ex.received >= DEFAULT_WINDOW / 2) {
      this.frame(FRAME.WINDOW_UPDATE, 0, ex.id, u32(ex.received))
      ex.received = 0
    }
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'HEADERS on stream 0')
    let block = flags & FLAG.PADDED ? unpad(payload) : payload
    if (flags & FLAG.PRIORITY) {
      if (block.length < 5) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'HEADERS priority fields missing')
      block = block.subarray(5)
    }
    const endStream = (flags & FLAG.END_STREAM) !== 0
    if (!(flags & FLAG.END_HEADERS)) {
      this.partial = { streamId, endStream, fragments: [Buffer.from(block)] }
      return
    }
    this.onHeaderBlock(streamId, block, endStream)
  }

  private onHeaderBlock(streamId: number, block: Buffer, endStream: boolean): void {
    // Decoded even for a stream we gave up on: the peer's table changes with every block.
    const fields = this.decoder.decode(block)
    const ex = this.streams.get(streamId)
    if (!ex) return
    if (ex.status === undefined) {
      let status = Number.NaN
      for (const [name, value] of fields) {
        if (name === ':status') status = Number(value)
        else if (name[0] !== ':') ex.headers[name] = ex.headers[name] === undefined ? value : `${ex.headers[name]}, ${value}`
      }
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        this.rst(ex, H2_ERROR.PROTOCOL_ERROR)
        return this.settle(ex, { kind: 'lost', reason: `stream ${ex.id}: response without a valid :status` })
      }
      // 1xx: informational, the real answer follows.
      if (status < 200) {
        ex.headers = {}
        return
      }
      ex.status = status
    }
    // A second block is trailers: nothing a push service sends that we need.
    if (endStream) this.complete(ex)
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'SETTINGS on a stream')
    if (flags & FLAG.ACK) {
      if (payload.length !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload')
      return
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6')
    for (let p = 0; p < payload.length; p += 6) {
      const id = payload.readUInt16BE(p)
      const value = payload.readUInt32BE(p + 2)
      if (id === SETTING.MAX_CONCURRENT_STREAMS) this.maxConcurrentStreams = value
      else if (id === SETTING.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1')
        const delta = value - this.peerInitialWindow
        this.peerInitialWindow = value
        for (const ex of this.streams.values()) ex.sendWindow += delta
      } else if (id === SETTING.MAX_FRAME_SIZE) {
        if (value < MIN_FRAME_SIZE || value > MAX_FRAME_SIZE) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`)
        this.peerMaxFrameSize = value
      }
      // HEADER_TABLE_SIZE: our encoder never indexes, so any size suits it. Others: not for clients.
    }
    this.frame(FRAME.SETTINGS, FLAG.ACK, 0)
    this.unblock()
    if (!this.settled) {
      this.settled = true
      this.onReady?.()
    } else this.events.onSettings()
  }

  private onGoaway(streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'GOAWAY on a stream')
    if (payload.length < 8) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes')
    const lastStreamId = payload.readUInt32BE(0) & MAX_WINDOW
    const code = payload.readUInt32BE(4)
    this.goingAway = true
    this.lastProcessed = Math.min(this.lastProcessed, lastStreamId)
    // Streams above the last id were never processed: safe to send elsewhere, now.
    for (const ex of [...this.streams.values()]) {
      if (ex.id > lastStreamId) this.settle(ex, { kind: 'refused', reason: `stream ${ex.id} above GOAWAY's last stream ${lastStreamId}` })
    }
    this.events.onGoaway(code, lastStreamId)
    this.closeIfDone()
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'WINDOW_UPDATE must be 4 bytes')
    const inc = payload.readUInt32BE(0) & MAX_WINDOW
    if (streamId === 0) {
      if (inc === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0')
      this.connectionSendWindow += inc
      if (this.connectionSendWindow > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'connection window over 2^31-1')
    } else {
      const ex = this.streams.get(streamId)
      if (!ex) return
      if (inc === 0 || ex.sendWindow + inc > MAX_WINDOW) {
        this.rst(ex, inc === 0 ? H2_ERROR.PROTOCOL_ERROR : H2_ERROR.FLOW_CONTROL_ERROR)
        return this.settle(ex, { kind: 'lost', reason: `stream ${ex.id}: bad WINDOW_UPDATE` })
      }
      ex.sendWindow += inc
    }
    this.unblock()
  }

  private consumed(n: number): void {
    this.receivedUnacked += n
    if (this.receivedUnacked >= CONNECTION_RECEIVE_WINDOW / 2) {
      this.frame(FRAME.WINDOW_UPDATE, 0, 0, u32(this.receivedUnacked))
      this.receivedUnacked = 0
    }
  }

  // ---- ending streams and the connection ----

  private complete(ex: Exchange): void {
    this.settle(ex, { kind: 'response', status: ex.status as number, headers: ex.headers, body: ex.text() })
  }

  /** RST_STREAM from the server. */
  private end(ex: Exchange, code: number): void {
    if (ex.status !== undefined) return this.complete(ex)
    this.settle(
      ex,
      code === H2_ERROR.REFUSED_STREAM ? { kind: 'refused', reason: `stream ${ex.id} refused (rst ${code})` } : { kind: 'lost', reason: `stream ${ex.id} reset (rst ${code}) before a response` },
    )
  }

  private rst(ex: Exchange, code: number): void {
    this.frame(FRAME.RST_STREAM, 0, ex.id, u32(code))
  }

  private settle(ex: Exchange, o: ExchangeOutcome): void {
    if (this.streams.get(ex.id) !== ex) return
    this.streams.delete(ex.id)
    ex.done(o)
    if (this.goingAway) this.closeIfDone()
  }

  private protocolError(err: ConnectionError): void {
    if (!this.closed) {
      this.frame(FRAME.GOAWAY, 0, 0, goawayPayload(0, err.code))
      this.flush()
    }
    this.fail(err)
  }

  /** The connection is gone: every open request learns whether the server could have seen it. */
  private fail(err: Error): void {
    this.closed = true
    this.goingAway = true
    if (!this.socket.destroyed) this.socket.destroy()
    if (!this.settled) {
      this.settled = true
      this.onReady?.(err)
      return
    }
    for (const ex of [...this.streams.values()]) {
      const neverSeen = !ex.written || ex.id > this.lastProcessed
      this.settle(ex, neverSeen ? { kind: 'refused', reason: `stream ${ex.id} not sent: ${err.message}` } : { kind: 'lost', reason: `stream ${ex.id}: ${err.message}` })
    }
    this.blocked = []
    if (!this.closeReported) {
      this.closeReported = true
      this.events.onClose(this.endedCleanly ? undefined : err.message)
    }
    this.drained()
  }
}

function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(v >>> 0, 0)
  return b
}

function goawayPayload(lastStreamId: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeUInt32BE(lastStreamId, 0)
  b.writeUInt32BE(code, 4)
  return b
}

function unpad(payload: Buffer): Buffer {
  if (payload.length < 1) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'padded frame without a pad length')
  const pad = payload[0] as number
  if (pad >= payload.length) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'padding longer than the frame')
  return payload.subarray(1, payload.length - pad)
}
