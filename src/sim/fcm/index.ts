// FCM HTTP v1 sandbox: a local stand-in for fcm.googleapis.com and oauth2.googleapis.com/token,
// strict the way Google is, so the provider is tested against the real rules and never against
// Google. Serves HTTP/2 and HTTP/1.1 (ALPN) over TLS, like the real front end.
// Source: Firebase "Migrate from legacy FCM APIs to HTTP v1", REST reference projects.messages,
// "FCM error codes". Never imported by the running gateway (only tests, benchmarks, demo).
import { EventEmitter } from 'node:events'
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2'
import { listenOnLoopback } from '../listen.js'
import type { TLSSocket } from 'node:tls'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { systemClock, type Clock } from '../../clock.js'
import { defaultMessage, fcmError, permissionDenied, unauthenticated } from './errors.js'
import { TokenIssuer, type SandboxAccount } from './oauth.js'
import { validateSendRequest } from './validate.js'
import { readBoundedBody } from '../body.js'

export { generateServiceAccount, FCM_SCOPE, type ServiceAccountJson, type SandboxAccount } from './oauth.js'

export interface FcmSandboxOptions {
  host?: string
  port?: number
  tls: { key: string; cert: string }
  accounts: SandboxAccount[]
  clock?: Clock
  accessTokenTtlS?: number
  responseDelayMs?: number
}

export interface AcceptedMessage {
  projectId: string
  message: Record<string, unknown>
  name: string
  receivedAt: number
  hrtime: number
}

export interface RejectedMessage {
  token?: string
  status: number
  errorCode?: string
  message: string
}

export interface FcmFailure {
  status: number
  /** UNREGISTERED, INVALID_ARGUMENT, SENDER_ID_MISMATCH, QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, THIRD_PARTY_AUTH_ERROR;
   *  or UNAUTHENTICATED (with status 401) for Google's plain 401 of revoked credentials. */
  errorCode: string
  retryAfterS?: number
}

const MAX_BODY_BYTES = 256 * 1024
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/

export class FcmSandbox extends EventEmitter {
  readonly url: string
  readonly tokenUri: string
  readonly accepted: AcceptedMessage[] = []
  readonly rejected: RejectedMessage[] = []
  private readonly tokenFailures = new Map<string, FcmFailure & { times: number }>()
  private readonly nextFailures: FcmFailure[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  // Message ids as FCM shapes them (0:<time>%<16 hex digits>), unique per sandbox: a random half
  // drawn once and a counter, not random bytes per message (a system call per push, 4 % of the
  // load generator's time in the latency benchmark).
  private readonly messageIdPrefix = randomBytes(4).toString('hex')
  private messageSeq = 0
  private readonly sockets = new Set<TLSSocket>()

  constructor(
    private readonly server: Http2SecureServer,
    private readonly issuer: TokenIssuer,
    private readonly clock: Clock,
    private readonly responseDelayMs: number,
    port: number,
  ) {
    super()
    this.url = `https://localhost:${port}`
    this.tokenUri = `${this.url}/token`
    issuer.tokenUri = this.tokenUri
    server.on('secureConnection', (s: TLSSocket) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        this.reply(res, 500, fcmError(500, 'INTERNAL', `sandbox error: ${String(err)}`))
      })
    })
  }

  get tokensIssued(): number {
    return this.issuer.issued
  }

  /** Token endpoint requests, granted or refused. */
  get tokenRequests(): number {
    return this.issuer.requests
  }

  /** Answer sends to this registration token with an error, `times` times (default: always). */
  failToken(token: string, f: FcmFailure & { times?: number }): void {
    this.tokenFailures.set(token, { ...f, times: f.times ?? Infinity })
  }

  /** Every access token issued so far stops working (401), as when Google revokes them. */
  revokeAccessTokens(): void {
    this.issuer.revokeAll()
  }

  /** Answer the next `n` authenticated sends with an error, whatever they carry. */
  failNext(n: number, f: FcmFailure): void {
    for (let i = 0; i < n; i++) this.nextFailures.push(f)
  }

  close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      // Keep-alive connections (HTTP/1.1 and HTTP/2 sessions) hold the server open until they end.
      for (const s of this.sockets) s.destroy()
    })
  }

  private async handle(req: Http2ServerRequest, res: Http2ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0] ?? ''
    const raw = await readBoundedBody(req, MAX_BODY_BYTES)
    // Google's front end refuses an oversized request itself, before any FCM validation.
    if (raw === undefined)
      return this.reply(res, 413, {
        error: { code: 413, message: 'Request Entity Too Large', status: 'INVALID_ARGUMENT' },
      })
    const body = raw.length === 0 ? undefined : raw.toString('utf8')
    if (req.method === 'POST' && path === '/token') {
      const answer = await this.issuer.exchange(new URLSearchParams(body ?? ''))
      return this.reply(res, answer.status, answer.body)
    }
    const send = SEND_PATH.exec(path)
    if (!send || req.method !== 'POST') {
      return this.reply(res, 404, { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } })
    }
    const project = decodeURIComponent(send[1] ?? '')

    const auth = req.headers.authorization
    if (typeof auth !== 'string' || !auth.startsWith('Bearer '))
      return this.reject(res, 401, unauthenticated('CREDENTIALS_MISSING'))
    const account = this.issuer.lookup(auth.slice('Bearer '.length))
    if (account === undefined) return this.reject(res, 401, unauthenticated('ACCESS_TOKEN_TYPE_UNSUPPORTED'))
    if (account === 'expired') return this.reject(res, 401, unauthenticated('ACCESS_TOKEN_EXPIRED'))
    // A service account may send only for its own project; IAM says so before FCM reads the body.
    if (account.projectId !== project) return this.reject(res, 403, permissionDenied(project))

    const next = this.nextFailures.shift()
    if (next) return this.fail(res, next, undefined)

    let parsed: unknown
    try {
      parsed = body === undefined ? undefined : JSON.parse(body)
    } catch {
      return this.reject(
        res,
        400,
        fcmError(400, undefined, 'Invalid JSON payload received. Unexpected token.', [
          { description: 'Invalid JSON payload received. Unexpected token.' },
        ]),
      )
    }
    const v = validateSendRequest(parsed)
    if (!v.ok) return this.reject(res, 400, fcmError(400, v.errorCode, v.message, v.violations), tokenOf(parsed))

    if (v.token !== undefined) {
      const f = this.tokenFailures.get(v.token)
      if (f && f.times > 0) {
        f.times--
        return this.fail(res, f, v.token)
      }
    }
    if (v.validateOnly) return this.reply(res, 200, { name: `projects/${project}/messages/fake_message_id` })

    const seq = (this.messageSeq = (this.messageSeq + 1) >>> 0)
    const name = `projects/${project}/messages/0:${this.clock.now()}%${this.messageIdPrefix}${seq.toString(16).padStart(8, '0')}`
    const accepted: AcceptedMessage = {
      projectId: project,
      message: v.message,
      name,
      receivedAt: this.clock.now(),
      hrtime: performance.now(),
    }
    this.accepted.push(accepted)
    this.emit('message', accepted)
    return this.reply(res, 200, { name })
  }

  private fail(res: Http2ServerResponse, f: FcmFailure, token: string | undefined): void {
    const headers: Record<string, string> = {}
    if (f.retryAfterS !== undefined) headers['retry-after'] = String(f.retryAfterS)
    // UNAUTHENTICATED is not an FcmError code: it stands for revoked credentials, answered by
    // Google's front end in its own shape.
    const body =
      f.errorCode === 'UNAUTHENTICATED'
        ? unauthenticated('ACCESS_TOKEN_EXPIRED')
        : fcmError(f.status, f.errorCode, defaultMessage(f.errorCode))
    this.reject(res, f.status, body, token, headers)
  }

  private reject(
    res: Http2ServerResponse,
    status: number,
    body: ReturnType<typeof fcmError>,
    token?: string,
    headers: Record<string, string> = {},
  ): void {
    const errorCode = body.error.details?.find((d) => typeof d.errorCode === 'string')?.errorCode
    const r: RejectedMessage = { status, message: body.error.message }
    if (token !== undefined) r.token = token
    if (typeof errorCode === 'string') r.errorCode = errorCode
    this.rejected.push(r)
    this.emit('rejected', r)
    this.reply(res, status, body, headers)
  }

  private reply(res: Http2ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const payload = JSON.stringify(body)
    const write = (): void => {
      if (res.destroyed || res.writableEnded) return
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers })
      res.end(payload)
    }
    if (this.responseDelayMs <= 0) return write()
    const t = setTimeout(() => {
      this.timers.delete(t)
      write()
    }, this.responseDelayMs)
    this.timers.add(t)
  }
}

function tokenOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const message = (body as { message?: unknown }).message
  if (typeof message !== 'object' || message === null) return undefined
  const token = (message as { token?: unknown }).token
  return typeof token === 'string' ? token : undefined
}

export async function startFcmSandbox(options: FcmSandboxOptions): Promise<FcmSandbox> {
  const clock = options.clock ?? systemClock
  const issuer = new TokenIssuer(options.accounts, clock, options.accessTokenTtlS ?? 3600)
  const server = createSecureServer({
    key: options.tls.key,
    cert: options.tls.cert,
    allowHTTP1: true,
    // Google does not document its stream limit; 100 is HTTP/2's recommended minimum, so a client
    // must queue beyond it rather than open thousands of streams at once (Node's default is no limit).
    settings: { maxConcurrentStreams: 100 },
    // Node's default (10 MB per session) resets a full window with ENHANCE_YOUR_CALM; FCM does not.
    maxSessionMemory: 128,
  })
  const port = await listenOnLoopback(server, options)
  // No client can connect between listen() resolving and the constructor attaching its listeners.
  return new FcmSandbox(server, issuer, clock, options.responseDelayMs ?? 0, port)
}
