// A hostile HTTP/2 server over TLS, written with raw frames because no well-behaved HTTP/2 stack
// will misbehave on purpose: it answers every request with a header flood, an endless run of
// CONTINUATION frames, or a body that never ends. It speaks
// just enough HTTP/2 for a client to get that far (SETTINGS, SETTINGS ACK, PING ACK, windows).
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { listenOnLoopback } from '../../src/sim/listen.js'

export type Hostility =
  /** One header block of 20,000 headers (about 2 MB) over CONTINUATION frames, then the end. */
  | 'header-flood'
  /** HEADERS without END_HEADERS, then CONTINUATION frames for as long as the connection lasts. */
  | 'endless-continuation'
  /** `:status 200`, then DATA frames within the flow-control windows, never END_STREAM. */
  | 'endless-body'

const FRAME = { DATA: 0, HEADERS: 1, SETTINGS: 4, PING: 6, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
const PREFACE_LENGTH = 24
// The most a hostile server sends on one connection, so a test ends even if the client never gives up.
const MAX_SENT_BYTES = 256 * 1024 * 1024

export interface HostileServer {
  url: string
  /** Connections accepted, and how many the client has closed. */
  connections: number
  closedByClient: number
  /** Bytes the server sent before the client hung up, per connection. */
  sentPerConnection: number[]
  close(): Promise<void>
}

export async function startHostileH2(tls: { key: string; cert: string }, hostility: Hostility): Promise<HostileServer> {
  const sockets = new Set<TLSSocket>()
  const server = createTlsServer({ key: tls.key, cert: tls.cert, ALPNProtocols: ['h2'] })
  const state: HostileServer = {
    url: '',
    connections: 0,
    closedByClient: 0,
    sentPerConnection: [],
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket)
    state.connections++
    const index = state.sentPerConnection.push(0) - 1
    socket.on('error', () => undefined)
    socket.once('close', () => {
      sockets.delete(socket)
      state.closedByClient++
    })
    new HostileConnection(
      socket,
      hostility,
      (n) => (state.sentPerConnection[index] = (state.sentPerConnection[index] ?? 0) + n),
    )
  })
  const port = await listenOnLoopback(server, {})
  state.url = `https://localhost:${port}`
  return state
}

class HostileConnection {
  private inbox = Buffer.alloc(0)
  private prefaceSeen = false
  private connectionWindow = 65_535
  private readonly streamWindows = new Map<number, number>()
  private sent = 0

  constructor(
    private readonly socket: TLSSocket,
    private readonly hostility: Hostility,
    private readonly count: (bytes: number) => void,
  ) {
    // SETTINGS: MAX_CONCURRENT_STREAMS 100.
    this.frame(FRAME.SETTINGS, 0, 0, setting(3, 100))
    socket.on('data', (chunk: Buffer) => this.receive(chunk))
  }

  private receive(chunk: Buffer): void {
    this.inbox = Buffer.concat([this.inbox, chunk])
    if (!this.prefaceSeen) {
      if (this.inbox.length < PREFACE_LENGTH) return
      this.inbox = this.inbox.subarray(PREFACE_LENGTH)
      this.prefaceSeen = true
    }
    while (this.inbox.length >= 9) {
      const length = this.inbox.readUIntBE(0, 3)
      if (this.inbox.length < 9 + length) return
      const type = this.inbox[3] as number
      const flags = this.inbox[4] as number
      const streamId = this.inbox.readUInt32BE(5) & 0x7fffffff
      const payload = this.inbox.subarray(9, 9 + length)
      this.inbox = this.inbox.subarray(9 + length)
      this.onFrame(type, flags, streamId, payload)
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (type === FRAME.SETTINGS && !(flags & 1)) return this.frame(FRAME.SETTINGS, 1, 0, Buffer.alloc(0))
    if (type === FRAME.PING && !(flags & 1)) return this.frame(FRAME.PING, 1, 0, Buffer.from(payload))
    if (type === FRAME.WINDOW_UPDATE) {
      const increment = payload.readUInt32BE(0) & 0x7fffffff
      if (streamId === 0) this.connectionWindow += increment
      else this.streamWindows.set(streamId, (this.streamWindows.get(streamId) ?? 65_535) + increment)
      return
    }
    // A request: HEADERS opens the stream (the body that follows is not read).
    if (type === FRAME.HEADERS) this.answer(streamId)
  }

  private answer(streamId: number): void {
    switch (this.hostility) {
      case 'header-flood': {
        const block = Buffer.concat([
          Buffer.from([0x88]),
          ...Array.from({ length: 20_000 }, (_, i) => literal(`x-flood-${i}`, 'v'.repeat(80))),
        ])
        return this.headerBlock(streamId, block, true)
      }
      case 'endless-continuation': {
        this.frame(FRAME.HEADERS, 0, streamId, Buffer.concat([Buffer.from([0x88]), literal('x-start', 'yes')]))
        const fragment = Buffer.concat(Array.from({ length: 150 }, (_, i) => literal(`x-more-${i}`, 'c'.repeat(100))))
        const more = (): void => {
          if (this.socket.destroyed || this.sent > MAX_SENT_BYTES) return
          this.frame(FRAME.CONTINUATION, 0, streamId, fragment)
          setImmediate(more)
        }
        return more()
      }
      case 'endless-body': {
        this.frame(FRAME.HEADERS, 4, streamId, Buffer.from([0x88]))
        const chunk = Buffer.alloc(16_384, 0x61)
        const more = (): void => {
          if (this.socket.destroyed || this.sent > MAX_SENT_BYTES) return
          const streamWindow = this.streamWindows.get(streamId) ?? 65_535
          const room = Math.min(this.connectionWindow, streamWindow) >= chunk.length
          if (room) {
            this.frame(FRAME.DATA, 0, streamId, chunk)
            this.connectionWindow -= chunk.length
            this.streamWindows.set(streamId, streamWindow - chunk.length)
          }
          setTimeout(more, room ? 0 : 5)
        }
        return more()
      }
    }
  }

  private headerBlock(streamId: number, block: Buffer, endStream: boolean): void {
    const max = 16_384
    this.frame(FRAME.HEADERS, (block.length <= max ? 4 : 0) | (endStream ? 1 : 0), streamId, block.subarray(0, max))
    for (let offset = max; offset < block.length; offset += max) {
      this.frame(
        FRAME.CONTINUATION,
        offset + max >= block.length ? 4 : 0,
        streamId,
        block.subarray(offset, offset + max),
      )
    }
  }

  private frame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.socket.destroyed) return
    const head = Buffer.alloc(9)
    head.writeUIntBE(payload.length, 0, 3)
    head[3] = type
    head[4] = flags
    head.writeUInt32BE(streamId, 5)
    this.sent += 9 + payload.length
    this.count(9 + payload.length)
    this.socket.write(Buffer.concat([head, payload]))
  }
}

function setting(id: number, value: number): Buffer {
  const b = Buffer.alloc(6)
  b.writeUInt16BE(id, 0)
  b.writeUInt32BE(value, 2)
  return b
}

/** HPACK literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)])
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1')
  return Buffer.concat([hpackInteger(bytes.length), bytes])
}

/** An integer with a 7-bit prefix (RFC 7541 §5.1), the H bit clear. */
function hpackInteger(value: number): Buffer {
  if (value < 127) return Buffer.from([value])
  const out = [127]
  let rest = value - 127
  while (rest >= 128) {
    out.push((rest % 128) + 128)
    rest = Math.floor(rest / 128)
  }
  out.push(rest)
  return Buffer.from(out)
}
