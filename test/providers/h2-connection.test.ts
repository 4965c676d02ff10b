// Our HTTP/2 client (src/providers/h2) against real peers: node:http2's server (nghttp2, the same
// library many production HTTP/2 servers use) configured to exercise flow control, CONTINUATION,
// PING, RST_STREAM and GOAWAY, and a raw TLS server that breaks the protocol on purpose.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http2, { type Http2SecureServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import type { AddressInfo } from 'node:net'
import { H2Connection, type ExchangeOutcome } from '../../src/providers/h2/connection.js'
import { encodeHeaders, HpackDecoder, HpackError, huffmanDecode } from '../../src/providers/h2/hpack.js'
import { createTestPki, type TestPki } from '../../src/sim/tls.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

describe('HPACK', () => {
  test('decodes the RFC 7541 C.4 requests (Huffman strings, dynamic table carried between blocks)', () => {
    const d = new HpackDecoder()
    assert.deepEqual(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ])
    assert.deepEqual(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')).slice(3), [
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ])
    assert.deepEqual(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')).slice(2), [
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ])
  })

  test('a table size update of 0 empties the dynamic table; a later reference to it is an error', () => {
    const d = new HpackDecoder()
    d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))
    assert.deepEqual(d.decode(hex('20 82')), [[':method', 'GET']])
    assert.throws(() => d.decode(hex('be')), HpackError)
    // Larger than our SETTINGS_HEADER_TABLE_SIZE (4096): refused.
    assert.throws(() => new HpackDecoder().decode(hex('3fe1 3f')), /over the advertised/)
  })

  test('rejects Huffman strings with bad padding or EOS, and truncated blocks', () => {
    assert.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'), 0, 12), 'www.example.com')
    // Padding of zero bits instead of the EOS prefix.
    assert.throws(() => huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f400'), 0, 12), /padding/)
    // Thirty one-bits: EOS itself.
    assert.throws(() => huffmanDecode(hex('ffff fffc'), 0, 4), /EOS/)
    assert.throws(() => new HpackDecoder().decode(hex('41 8c f1e3')), /truncated/)
  })

  test('what the encoder writes decodes to the same headers; CR, LF and NUL in a value are refused', () => {
    const headers = [
      [':method', 'POST'],
      [':path', `/3/device/${'ab'.repeat(32)}`],
      ['authorization', `bearer ${'x'.repeat(300)}`],
      ['apns-topic', 'com.example.agent'],
    ] as const
    assert.deepEqual(new HpackDecoder().decode(encodeHeaders(headers)), headers)
    assert.throws(() => encodeHeaders([['apns-collapse-id', 'a\r\nx-injected: 1']]), /forbidden character/)
    assert.throws(() => encodeHeaders([['Bad Name', 'v']]), /invalid header name/)
  })
})

describe('HTTP/2 client connection', () => {
  let pki: TestPki
  let server: Http2SecureServer
  let origin: string
  let handler: (stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void = () => undefined
  let lastSession: ServerHttp2Session | undefined
  const sessions = new Set<ServerHttp2Session>()

  before(async () => {
    pki = await createTestPki()
    // Tiny windows and frames force the client to split and to wait for WINDOW_UPDATEs.
    server = http2.createSecureServer({ key: pki.key, cert: pki.cert, settings: { initialWindowSize: 1000, maxConcurrentStreams: 50 } })
    server.on('session', (s) => {
      lastSession = s
      sessions.add(s)
    })
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => handler(stream, headers, Buffer.concat(chunks)))
      stream.on('error', () => undefined)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    origin = `https://localhost:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    // server.close() waits for every session, including any a test left half-closed.
    for (const s of sessions) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })

  const events = { onSettings: () => undefined, onGoaway: () => undefined, onClose: () => undefined }
  const open = (): Promise<H2Connection> => H2Connection.connect(origin, { ca: pki.caCert, timeoutMs: 5000, events })
  const send = (conn: H2Connection, path: string, body: Buffer): Promise<ExchangeOutcome> =>
    new Promise((resolve) => conn.request(encodeHeaders([[':method', 'POST'], [':scheme', 'https'], [':authority', 'localhost'], [':path', path]]), body, resolve))

  test('bodies larger than the server\'s windows arrive whole, and 40 exchanges share one connection', async () => {
    handler = (stream, headers, body) => {
      stream.respond({ ':status': 200, 'x-path': String(headers[':path']) })
      stream.end(body.subarray(0, 16).toString('hex') + `:${body.length}`)
    }
    const conn = await open()
    assert.equal(conn.maxConcurrentStreams, 50)
    const bodies = Array.from({ length: 40 }, (_, i) => Buffer.alloc(5000 + i, i))
    const answers = await Promise.all(bodies.map((b, i) => send(conn, `/echo/${i}`, b)))
    for (const [i, a] of answers.entries()) {
      assert.equal(a.kind, 'response')
      if (a.kind !== 'response') continue
      assert.equal(a.status, 200)
      assert.equal(a.headers['x-path'], `/echo/${i}`)
      assert.equal(a.body, `${(bodies[i] as Buffer).subarray(0, 16).toString('hex')}:${5000 + i}`)
    }
    await conn.close()
  })

  test('long answers: a 20 KB header (CONTINUATION) and a 300 KB body (our WINDOW_UPDATEs)', async () => {
    const big = 'v'.repeat(20_000)
    handler = (stream) => {
      stream.respond({ ':status': 400, 'x-big': big })
      stream.end('y'.repeat(300_000))
    }
    const conn = await open()
    const a = await send(conn, '/big', Buffer.from('{}'))
    assert.equal(a.kind, 'response')
    if (a.kind === 'response') {
      assert.equal(a.status, 400)
      assert.equal(a.headers['x-big'], big)
      assert.equal(a.body.length, 300_000)
    }
    await conn.close()
  })

  test('answers the server\'s PING', async () => {
    handler = (stream) => stream.respond({ ':status': 200 }, { endStream: true })
    const conn = await open()
    await send(conn, '/', Buffer.from('x'))
    const session = lastSession as ServerHttp2Session
    const rtt = await new Promise<number>((resolve, reject) => session.ping((err, ms) => (err ? reject(err) : resolve(ms))))
    assert.ok(rtt >= 0)
    await conn.close()
  })

  test('REFUSED_STREAM is "refused" (safe to resend), another reset is "lost"', async () => {
    handler = (stream, headers) => stream.close(headers[':path'] === '/refuse' ? http2.constants.NGHTTP2_REFUSED_STREAM : http2.constants.NGHTTP2_INTERNAL_ERROR)
    const conn = await open()
    assert.equal((await send(conn, '/refuse', Buffer.from('x'))).kind, 'refused')
    assert.equal((await send(conn, '/reset', Buffer.from('x'))).kind, 'lost')
    await conn.close()
  })

  test('GOAWAY: streams above the last processed one are refused, the rest complete, no new requests', async () => {
    const held: ServerHttp2Stream[] = []
    handler = (stream) => held.push(stream)
    let goaway: number | undefined
    const conn = await H2Connection.connect(origin, { ca: pki.caCert, timeoutMs: 5000, events: { ...events, onGoaway: (_code, last) => (goaway = last) } })
    const pending = [send(conn, '/1', Buffer.from('a')), send(conn, '/3', Buffer.from('b')), send(conn, '/5', Buffer.from('c'))]
    while (held.length < 3) await new Promise((r) => setTimeout(r, 5))
    ;(lastSession as ServerHttp2Session).goaway(http2.constants.NGHTTP2_NO_ERROR, 3)
    while (goaway === undefined) await new Promise((r) => setTimeout(r, 5))
    for (const s of held) if ((s.id ?? 0) <= 3) s.respond({ ':status': 200 }, { endStream: true })
    const [a, b, c] = await Promise.all(pending)
    assert.deepEqual([a?.kind, b?.kind, c?.kind], ['response', 'response', 'refused'])
    assert.equal(conn.goingAway, true)
    assert.equal((await send(conn, '/7', Buffer.from('d'))).kind, 'refused')
  })

  test('a server that does not speak HTTP/2 is a clear connect error', async () => {
    // A TLS server without ALPN, as an HTTP/1.1-only proxy in the way would be.
    const h1 = createTlsServer({ key: pki.key, cert: pki.cert }, (s) => s.on('error', () => undefined))
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r))
    try {
      await assert.rejects(H2Connection.connect(`https://localhost:${(h1.address() as AddressInfo).port}`, { ca: pki.caCert, timeoutMs: 5000, events }), /did not agree to HTTP\/2/)
    } finally {
      await closeTls(h1)
    }
  })

  test('a server that breaks HPACK ends the connection: the request is lost, the process lives on', async () => {
    // SETTINGS, then a HEADERS frame on stream 1 pointing at a table index that does not exist.
    const raw = createTlsServer({ key: pki.key, cert: pki.cert, ALPNProtocols: ['h2'] }, (s) => {
      s.on('error', () => undefined)
      s.write(frame(4, 0, 0, Buffer.alloc(0)))
      s.once('data', () => setTimeout(() => s.write(frame(1, 0x5, 1, hex('ff7f'))), 20))
    })
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r))
    let closed = false
    try {
      const conn = await H2Connection.connect(`https://localhost:${(raw.address() as AddressInfo).port}`, { ca: pki.caCert, timeoutMs: 5000, events: { ...events, onClose: () => (closed = true) } })
      const a = await send(conn, '/', Buffer.from('x'))
      assert.equal(a.kind, 'lost')
      assert.match(a.kind === 'lost' ? a.reason : '', /HPACK/)
      assert.equal(closed, true)
      assert.equal((await send(conn, '/', Buffer.from('x'))).kind, 'refused')
    } finally {
      await closeTls(raw)
    }
  })
})

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(stream, 5)
  return Buffer.concat([head, payload])
}

function closeTls(server: TlsServer): Promise<void> {
  return new Promise((r) => server.close(() => r()))
}
