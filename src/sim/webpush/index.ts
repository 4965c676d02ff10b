// A Web Push service look-alike for tests, the demo and benchmarks: HTTPS on loopback, strict as a
// real push service (Mozilla autopush, FCM web, Apple) is about the three RFCs:
// - RFC 8030: POST to the push resource, `TTL` required, `Urgency` and `Topic` checked, 201 Created
//   with a Location; 404 for an unknown resource, 410 for an unsubscribed one, 413 over 4096 bytes.
// - RFC 8292 (VAPID): `Authorization: vapid t=<JWT>, k=<public key>`; ES256, aud = origin of the push
//   resource, exp in the future and at most 24 h ahead, sub a mailto: or https: contact; k must be
//   the applicationServerKey the subscription was made with.
// - RFC 8291: `Content-Encoding: aes128gcm`; the body must decrypt with the subscription's keys.
// Never imported by the running gateway (only tests, benchmarks, demo).
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { Socket } from 'node:net'
import { listenOnLoopback } from '../listen.js'
import { performance } from 'node:perf_hooks'
import { importJWK, jwtVerify } from 'jose'
import { systemClock, type Clock } from '../../clock.js'
import { DecryptError, decryptAes128gcm, newSubscriptionKeys, type SubscriptionKeys } from './crypto.js'
import { readBoundedBody } from '../body.js'

export { decryptAes128gcm, encryptAes128gcm, newSubscriptionKeys } from './crypto.js'

export interface WebPushSandboxOptions {
  host?: string
  port?: number
  tls: { key: string; cert: string }
  clock?: Clock
  responseDelayMs?: number
}

export interface SandboxSubscription {
  endpoint: string
  keys: { p256dh: string; auth: string }
}

export interface AcceptedWebPush {
  endpoint: string
  ttl: number
  urgency: string
  topic?: string
  /** The decrypted body parsed as JSON (undefined when it is not JSON). */
  payload: Record<string, unknown> | undefined
  text: string
  vapid: { aud: string; sub: string; exp: number }
  receivedAt: number
  hrtime: number
}

export interface RejectedWebPush {
  endpoint: string
  status: number
  reason: string
}

export interface WebPushFailure {
  status: number
  times?: number
  retryAfterS?: number
}

interface Resource {
  keys: SubscriptionKeys
  applicationServerKey?: string
  gone: boolean
}

// RFC 8030 §7.2: a push service MUST support 4096 bytes of payload (the encrypted body).
const MAX_BODY = 4096
const MAX_VAPID_LIFETIME_S = 24 * 3600
const URGENCIES = new Set(['very-low', 'low', 'normal', 'high'])

class Reject extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason)
  }
}

export class WebPushSandbox extends EventEmitter {
  readonly accepted: AcceptedWebPush[] = []
  readonly rejected: RejectedWebPush[] = []
  private readonly resources = new Map<string, Resource>()
  private readonly failures = new Map<string, WebPushFailure>()
  private readonly nextFailures: WebPushFailure[] = []
  private readonly sockets = new Set<Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly clock: Clock
  // Verified JWTs, as real push services cache them: the signature is checked once per JWT, the
  // claims (exp above all) on every request.
  private readonly verified = new Map<string, { aud?: unknown; exp?: unknown; sub?: unknown }>()

  constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: WebPushSandboxOptions,
  ) {
    super()
    this.clock = options.clock ?? systemClock
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res))
  }

  /** What PushManager.subscribe({applicationServerKey}) gives a page. */
  subscribe(options: { applicationServerKey?: string } = {}): SandboxSubscription {
    const id = randomUUID()
    const keys = newSubscriptionKeys()
    this.resources.set(id, {
      keys,
      gone: false,
      ...(options.applicationServerKey ? { applicationServerKey: options.applicationServerKey } : {}),
    })
    return {
      endpoint: `${this.url}/push/${id}`,
      keys: { p256dh: keys.publicKey.toString('base64url'), auth: keys.authSecret.toString('base64url') },
    }
  }

  /** The user revoked the permission or the browser dropped the subscription: 410 from now on. */
  unsubscribe(endpoint: string): void {
    const r = this.resources.get(idOf(endpoint))
    if (r) r.gone = true
  }

  /** Answers requests to one subscription with `status` (404, 410, 413, 429, 5xx…) after validation. */
  failSubscription(endpoint: string, f: WebPushFailure): void {
    this.failures.set(idOf(endpoint), { ...f })
  }

  failNext(n: number, f: Omit<WebPushFailure, 'times'>): void {
    for (let i = 0; i < n; i++) this.nextFailures.push({ ...f })
  }

  resetStats(): void {
    this.accepted.length = 0
    this.rejected.length = 0
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const endpoint = `${this.url}${req.url ?? ''}`
    const body = await readBoundedBody(req, MAX_BODY)
    try {
      const accepted = await this.check(req, endpoint, body)
      this.respond(() => {
        this.accepted.push(accepted)
        this.emit('push', accepted)
        res.writeHead(201, { location: `${this.url}/message/${randomUUID()}`, 'content-length': '0' }).end()
      })
    } catch (err) {
      const r = err instanceof Reject ? err : new Reject(500, (err as Error).message)
      const failure = r as Reject & { retryAfterS?: number }
      this.respond(() => {
        this.rejected.push({ endpoint, status: r.status, reason: r.reason })
        this.emit('rejected', { endpoint, status: r.status, reason: r.reason })
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (failure.retryAfterS !== undefined) headers['retry-after'] = String(failure.retryAfterS)
        res.writeHead(r.status, headers).end(JSON.stringify({ code: r.status, errno: r.status, error: r.reason }))
      })
    }
  }

  private async check(req: IncomingMessage, endpoint: string, body: Buffer | undefined): Promise<AcceptedWebPush> {
    const match = /^\/push\/([\w-]+)$/.exec(req.url ?? '')
    const resource = match?.[1] ? this.resources.get(match[1]) : undefined
    if (!match?.[1] || !resource) throw new Reject(404, 'no such push subscription')
    if (resource.gone) throw new Reject(410, 'push subscription has been unsubscribed')
    if (req.method !== 'POST') throw new Reject(405, 'method not allowed')
    const vapid = await this.checkVapid(header(req, 'authorization'), resource)

    const ttlHeader = header(req, 'ttl')
    if (ttlHeader === undefined || !/^\d+$/.test(ttlHeader))
      throw new Reject(400, 'missing or malformed TTL header (RFC 8030 §5.2)')
    const urgency = header(req, 'urgency') ?? 'normal'
    if (!URGENCIES.has(urgency)) throw new Reject(400, `bad Urgency ${urgency} (RFC 8030 §5.3)`)
    const topic = header(req, 'topic')
    if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic))
      throw new Reject(400, 'Topic must be at most 32 URL-safe base64 characters (RFC 8030 §5.4)')

    if (body === undefined || body.length > MAX_BODY) throw new Reject(413, `payload over ${MAX_BODY} bytes`)
    if (body.length === 0) throw new Reject(400, 'a ring without payload is useless to the service worker')
    if (header(req, 'content-encoding') !== 'aes128gcm')
      throw new Reject(400, 'Content-Encoding must be aes128gcm (RFC 8291)')
    let text: string
    try {
      text = decryptAes128gcm(body, resource.keys).toString('utf8')
    } catch (err) {
      throw new Reject(400, `cannot decrypt: ${err instanceof DecryptError ? err.message : 'bad body'}`)
    }

    const injected = this.takeFailure(idOf(endpoint))
    if (injected)
      throw Object.assign(
        new Reject(injected.status, `injected ${injected.status}`),
        injected.retryAfterS !== undefined ? { retryAfterS: injected.retryAfterS } : {},
      )

    let payload: Record<string, unknown> | undefined
    try {
      const parsed: unknown = JSON.parse(text)
      payload = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined
    } catch {
      payload = undefined
    }
    return {
      endpoint,
      ttl: Number(ttlHeader),
      urgency,
      ...(topic ? { topic } : {}),
      payload,
      text,
      vapid,
      receivedAt: this.clock.now(),
      hrtime: performance.now(),
    }
  }

  private async checkVapid(authorization: string | undefined, resource: Resource): Promise<AcceptedWebPush['vapid']> {
    // RFC 8292 §3: Authorization: vapid t=<JWT>, k=<uncompressed P-256 key, base64url>.
    const m = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+),\s*k=([\w-]+)$/.exec(authorization ?? '')
    if (!m?.[1] || !m[2]) throw new Reject(401, 'missing or malformed VAPID Authorization (RFC 8292 §3)')
    const [jwt, k] = [m[1], m[2]]
    const raw = Buffer.from(k, 'base64url')
    if (raw.length !== 65 || raw[0] !== 4) throw new Reject(401, 'k is not an uncompressed P-256 public key')
    // A subscription made with an applicationServerKey only accepts pushes signed by that key.
    if (resource.applicationServerKey && resource.applicationServerKey !== k)
      throw new Reject(403, 'VAPID key does not match the subscription')
    let claims = this.verified.get(`${k}.${jwt}`)
    if (!claims) {
      const key = await importJWK(
        {
          kty: 'EC',
          crv: 'P-256',
          x: raw.subarray(1, 33).toString('base64url'),
          y: raw.subarray(33).toString('base64url'),
        },
        'ES256',
      )
      try {
        const verified = await jwtVerify(jwt, key, {
          algorithms: ['ES256'],
          audience: new URL(this.url).origin,
          currentDate: new Date(this.clock.now()),
        })
        claims = verified.payload
      } catch (err) {
        throw new Reject(401, `VAPID JWT refused: ${(err as Error).message}`)
      }
      if (this.verified.size > 1000) this.verified.clear()
      this.verified.set(`${k}.${jwt}`, claims)
    }
    const nowS = Math.floor(this.clock.now() / 1000)
    if (typeof claims.exp !== 'number') throw new Reject(401, 'VAPID JWT has no exp')
    if (claims.exp <= nowS) throw new Reject(401, 'VAPID JWT expired')
    if (claims.exp - nowS > MAX_VAPID_LIFETIME_S)
      throw new Reject(401, 'VAPID JWT exp more than 24 hours ahead (RFC 8292 §2)')
    if (typeof claims.sub !== 'string' || !/^(mailto:|https:\/\/)/.test(claims.sub))
      throw new Reject(401, 'VAPID JWT sub must be a mailto: or https: contact')
    return { aud: String(claims.aud), sub: claims.sub, exp: claims.exp }
  }

  private takeFailure(id: string): WebPushFailure | undefined {
    const f = this.failures.get(id)
    if (f) {
      if (f.times !== undefined && --f.times <= 0) this.failures.delete(id)
      return f
    }
    return this.nextFailures.shift()
  }

  private respond(send: () => void): void {
    const wait = this.options.responseDelayMs ?? 0
    if (wait <= 0) return send()
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      send()
    }, wait)
    this.timers.add(timer)
  }
}

function idOf(endpoint: string): string {
  return endpoint.split('/').pop() ?? ''
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

export async function startWebPushSandbox(options: WebPushSandboxOptions): Promise<WebPushSandbox> {
  const server = createServer({ key: options.tls.key, cert: options.tls.cert })
  server.keepAliveTimeout = 60_000
  const port = await listenOnLoopback(server, options)
  return new WebPushSandbox(server, `https://localhost:${port}`, options)
}
