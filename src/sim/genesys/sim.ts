// The Genesys Cloud simulator: one HTTP(S) server that serves the login service (/oauth/token),
// the public API (/api/v2/...), the Notifications API WebSockets (/channels/{id}) and, for the
// demo and benchmarks, the control endpoints (/sim/v1/...).
import { EventEmitter } from 'node:events'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { listenOnLoopback } from '../listen.js'
import { randomUUID } from 'node:crypto'
import { systemClock, type Clock } from '../../clock.js'
import { silentLogger, type Logger } from '../../observability/logger.js'
import { AGENT_APP_CLIENT_ID, OAuthService } from './oauth.js'
import { Directory, newSimUser, topicPresenceName, type DirectoryListener, type SimOrganization } from './directory.js'
import { ConversationBook, type OfferInput, type SimConversation } from './conversations.js'
import { NotificationHub, type Frame } from './notifications.js'
import { ApiRouter, type FailRule, type ForeignOrg } from './rest.js'
import { handleControl } from './control.js'
import { ConversationFeed } from './feed.js'
import { EventStreamHub } from './eventstream.js'
import { EventBridgeBus } from './eventbridge.js'
import { MEDIA_ARRAY, topicConversation } from './snapshots.js'
import { HttpError, iso, sendError } from './http.js'

export interface GenesysSimOptions {
  host?: string
  port?: number
  tls?: { key: string; cert: string }
  clock?: Clock
  heartbeatIntervalMs?: number
  channelTtlMs?: number
  requestsPerMinute?: number
  /** Delay before a WebSocket upgrade completes, so concurrent attempts on one channel are observable. */
  upgradeDelayMs?: number
  logger?: Logger
}

export interface GenesysSimStats {
  connectionAttempts: number
  openSockets: number
  maxConcurrentUpgradeAttemptsPerChannel: number
  /** Most REST requests about one channel (its subscriptions) in flight at once, down or not. */
  maxConcurrentChannelRequests: number
  /** Every request about a channel's subscriptions: when it arrived (sim clock) and its answer. */
  channelRequests: Array<{ at: number; channelId: string; method: string; status: number }>
  /** Requests per route, e.g. "POST /api/v2/notifications/channels". */
  requests: Map<string, number>
}

const AGENT_TOKEN_TTL_S = 86_400

export class GenesysSim extends EventEmitter {
  readonly orgId = randomUUID()
  readonly org: SimOrganization = { id: this.orgId, name: 'Simulated Contact Center' }
  /** Other organisations of the same region, whose user tokens this API host also accepts. */
  private readonly foreignOrgs = new Map<string, ForeignOrg>()
  /** Every conversation change, for the future Event Streams compatibility source. */
  readonly feed = new ConversationFeed()
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly oauth: OAuthService
  private readonly directory: Directory
  private readonly book: ConversationBook
  private readonly hub: NotificationHub
  /** The event-stream protocol's API (not offered by Genesys Cloud; see eventstream.ts). */
  readonly eventStreams: EventStreamHub
  /** What the Amazon EventBridge integration would carry: conversation topics and detail events. */
  readonly eventBridge: EventBridgeBus
  private readonly api: ApiRouter
  private readonly server: Server
  private readonly requests = new Map<string, number>()
  private readonly failRules: FailRule[] = []
  private readonly sweeper: NodeJS.Timeout
  private down = false
  private readonly channelInFlight = new Map<string, number>()
  private maxChannelInFlight = 0
  private readonly channelRequestLog: Array<{ at: number; channelId: string; method: string; status: number }> = []
  private baseUrl = ''

  constructor(private readonly opts: GenesysSimOptions = {}) {
    super()
    this.clock = opts.clock ?? systemClock
    this.logger = opts.logger ?? silentLogger()
    this.oauth = new OAuthService(this.clock)
    this.directory = new Directory(this.clock, (c) => this.publishDirectoryChange(c))
    this.book = new ConversationBook(this.clock, this.directory, (c) => this.publishConversation(c))
    this.hub = new NotificationHub({
      clock: this.clock,
      logger: this.logger,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 30_000,
      channelTtlMs: opts.channelTtlMs ?? 24 * 3600_000,
      upgradeDelayMs: opts.upgradeDelayMs ?? 0,
      onFrame: (channelId, frame) => this.emit('frame', channelId, frame),
    })
    this.eventStreams = new EventStreamHub({
      clock: this.clock,
      logger: this.logger,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 30_000,
      upgradeDelayMs: opts.upgradeDelayMs ?? 0,
    })
    this.feed.subscribe((conv) => this.eventStreams.onConversation(conv))
    this.eventBridge = new EventBridgeBus({ clock: this.clock, logger: this.logger, orgId: this.orgId })
    this.feed.subscribe((conv, snapshot) => this.eventBridge.onConversation(conv, snapshot))
    this.api = new ApiRouter({
      clock: this.clock,
      orgId: this.orgId,
      org: this.org,
      foreignOrgs: this.foreignOrgs,
      oauth: this.oauth,
      directory: this.directory,
      book: this.book,
      hub: this.hub,
      streams: this.eventStreams,
      requestsPerMinute: opts.requestsPerMinute ?? 300,
      requests: this.requests,
      failRules: this.failRules,
    })
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => void this.route(req, res)
    this.server = opts.tls
      ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest)
      : createHttpServer(onRequest)
    this.server.on('upgrade', (req, socket, head: Buffer) =>
      req.url?.startsWith('/eventstreams/') === true
        ? this.eventStreams.handleUpgrade(req, socket, head, this.down)
        : this.hub.handleUpgrade(req, socket, head, this.down),
    )
    this.sweeper = setInterval(() => this.hub.sweep(), 1000)
    this.sweeper.unref()
  }

  get url(): string {
    return this.baseUrl
  }

  async listen(): Promise<this> {
    const host = this.opts.host ?? '127.0.0.1'
    const port = await listenOnLoopback(this.server, {
      host,
      ...(this.opts.port !== undefined && { port: this.opts.port }),
    })
    const h = host.includes(':') ? `[${host}]` : host
    this.baseUrl = `${this.opts.tls ? 'https' : 'http'}://${h}:${port}`
    this.hub.setWsBase(`${this.opts.tls ? 'wss' : 'ws'}://${h}:${port}`)
    this.eventStreams.setWsBase(`${this.opts.tls ? 'wss' : 'ws'}://${h}:${port}`)
    return this
  }

  /**
   * Channels created from now on name this port in their connectUri (same host and scheme): a test
   * puts a loopback proxy (net-proxy.ts) there to break the sockets' path, as networks do.
   */
  routeSocketsVia(port: number): void {
    const base = new URL(this.baseUrl)
    const ws = `${this.opts.tls ? 'wss' : 'ws'}://${base.hostname}:${port}`
    this.hub.setWsBase(ws)
    this.eventStreams.setWsBase(ws)
  }

  get stats(): GenesysSimStats {
    return {
      ...this.hub.stats,
      requests: this.requests,
      maxConcurrentChannelRequests: this.maxChannelInFlight,
      channelRequests: this.channelRequestLog,
    }
  }

  addClient(options?: { clientId?: string; clientSecret?: string; tokenTtlS?: number }): {
    clientId: string
    clientSecret: string
  } {
    const c = this.oauth.addClient(options)
    return { clientId: c.clientId, clientSecret: c.clientSecret }
  }

  addAgent(options: { name?: string; userId?: string; email?: string } = {}): {
    userId: string
    name: string
    accessToken: string
  } {
    const u = this.directory.addUser(options)
    return { userId: u.id, name: u.name, accessToken: this.issueAgentToken(u.id) }
  }

  /**
   * A user of ANOTHER organisation in the same region, and a live token for it: Genesys' users/me
   * accepts it on the same API host, which is what makes other organisations' agents a threat.
   * Same orgId, same organisation (created on first use); each distinct orgId is another one.
   */
  addForeignAgent(options: { name?: string; userId?: string; orgId?: string } = {}): {
    userId: string
    name: string
    orgId: string
    accessToken: string
  } {
    const orgId = options.orgId ?? [...this.foreignOrgs.keys()][0] ?? randomUUID()
    let foreign = this.foreignOrgs.get(orgId)
    if (!foreign)
      this.foreignOrgs.set(orgId, (foreign = { org: { id: orgId, name: 'Another Contact Center' }, users: new Map() }))
    const u = newSimUser(options, this.clock.now(), foreign.users.size + 1)
    foreign.users.set(u.id, u)
    return {
      userId: u.id,
      name: u.name,
      orgId,
      accessToken: this.oauth.issue(AGENT_APP_CLIENT_ID, AGENT_TOKEN_TTL_S, u.id, orgId).token,
    }
  }

  issueAgentToken(userId: string, ttlS = AGENT_TOKEN_TTL_S): string {
    this.directory.user(userId)
    return this.oauth.issue(AGENT_APP_CLIENT_ID, ttlS, userId).token
  }

  revokeToken(token: string): void {
    this.oauth.revoke(token)
  }

  addQueue(options: { name: string; id?: string }): { id: string; name: string } {
    const q = this.directory.addQueue(options)
    return { id: q.id, name: q.name }
  }

  setPresence(userId: string, systemPresence: string): void {
    this.directory.setPresence(userId, systemPresence)
  }

  routingStatus(userId: string): string {
    return this.directory.user(userId).routingStatus
  }

  offer(options: OfferInput): { conversationId: string; participantId: string } {
    return this.book.offer(options)
  }
  answer(conversationId: string): void {
    this.book.answer(conversationId)
  }
  abandon(conversationId: string): void {
    this.book.abandon(conversationId)
  }
  /**
   * Drops a conversation from the simulator's memory without publishing anything, as if Genesys had
   * archived it: REST reads of it answer 404 from then on. For long load runs (the benchmarks),
   * whose millions of conversations would otherwise fill the simulator's heap.
   */
  forget(conversationId: string): void {
    this.book.conversations.delete(conversationId)
    this.eventStreams.forget(conversationId)
    this.eventBridge.forget(conversationId)
  }
  transfer(conversationId: string, toUserId?: string): { participantId?: string } {
    return this.book.transfer(conversationId, toUserId)
  }
  /** The agent's alert timed out (transfer.noanswer); with `nextUserId` the next agent is offered it. */
  noAnswer(conversationId: string, nextUserId?: string): { participantId?: string } {
    return this.book.noAnswer(conversationId, nextUserId)
  }
  consult(conversationId: string, toUserId: string): { participantId: string } {
    return this.book.consult(conversationId, toUserId)
  }
  completeConsult(conversationId: string): void {
    this.book.completeConsult(conversationId)
  }
  decline(conversationId: string): void {
    this.book.decline(conversationId)
  }
  reoffer(conversationId: string): { participantId: string } {
    return this.book.reoffer(conversationId)
  }
  end(conversationId: string): void {
    this.book.end(conversationId)
  }

  dropSockets(): void {
    this.hub.dropSockets()
    this.eventStreams.dropSockets()
  }
  sendSocketClosing(channelId?: string): void {
    this.hub.sendSocketClosing(channelId)
  }
  /** A raw WebSocket message on every open Notifications socket (not a Genesys behaviour: for fuzzing). */
  sendRawFrame(data: string | Buffer): void {
    this.hub.sendRaw(data)
  }
  setDown(down: boolean): void {
    this.down = down
  }
  failNext(options: FailRule): void {
    this.failRules.push({ ...options })
  }
  /** Ends every injected REST failure at once (an outage window that closes). */
  clearFailures(): void {
    this.failRules.length = 0
  }
  channels(): Array<{ id: string; clientId: string; topics: string[]; connected: boolean; expires: string }> {
    return this.hub.list()
  }
  /** Expires channels whose time has passed on the injected clock (also runs every second). */
  sweep(): void {
    this.hub.sweep()
  }

  override on(event: 'frame', cb: (channelId: string, frame: Frame) => void): this
  override on(event: string | symbol, cb: (...args: never[]) => void): this
  override on(event: string | symbol, cb: (...args: never[]) => void): this {
    return super.on(event, cb as (...args: unknown[]) => void)
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
    this.hub.close()
    this.eventStreams.close()
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.invalid')
    this.trackChannelRequest(req, res, url)
    try {
      if (url.pathname.startsWith('/sim/v1/')) return await handleControl(this, req, res, url)
      if (this.down) throw new HttpError(503, 'service.unavailable', 'Service Unavailable')
      if (url.pathname === '/oauth/token') return await this.oauth.handleToken(req, res)
      if (url.pathname.startsWith('/api/v2/')) return await this.api.handle(req, res, url)
      throw new HttpError(404, 'not.found', `Not found: ${url.pathname}`)
    } catch (err) {
      if (err instanceof HttpError) return sendError(res, err)
      this.logger.error({ err, path: url.pathname }, 'genesys sim: request failed')
      sendError(res, new HttpError(500, 'internal.server.error', 'The server encountered an unexpected condition.'))
    }
  }

  /** Reconnect storms show here: several requests about one channel at once. */
  private trackChannelRequest(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const channelId = /^\/api\/v2\/notifications\/channels\/([^/]+)\/subscriptions$/.exec(url.pathname)?.[1]
    if (!channelId) return
    const at = this.clock.now()
    const n = (this.channelInFlight.get(channelId) ?? 0) + 1
    this.channelInFlight.set(channelId, n)
    this.maxChannelInFlight = Math.max(this.maxChannelInFlight, n)
    res.once('close', () => {
      this.channelInFlight.set(channelId, (this.channelInFlight.get(channelId) ?? 1) - 1)
      this.channelRequestLog.push({ at, channelId, method: req.method ?? '', status: res.statusCode })
    })
  }

  private publishConversation(conv: SimConversation): void {
    const snapshot = topicConversation(conv)
    const variant = MEDIA_ARRAY[conv.mediaType]
    const users = new Set<string>()
    const queues = new Set<string>()
    for (const p of conv.participants) {
      if (p.userId) users.add(p.userId)
      if (p.queueId) queues.add(p.queueId)
    }
    for (const id of users) {
      this.hub.publish(`v2.users.${id}.conversations`, snapshot)
      this.hub.publish(`v2.users.${id}.conversations.${variant}`, snapshot)
    }
    for (const id of queues) {
      this.hub.publish(`v2.routing.queues.${id}.conversations`, snapshot)
      this.hub.publish(`v2.routing.queues.${id}.conversations.${variant}`, snapshot)
    }
    this.feed.emit(conv, snapshot)
  }

  private publishDirectoryChange(c: DirectoryListener): void {
    const u = c.user
    if (c.kind === 'presence') {
      // PresenceEventUserPresence: the topic spells system presences in upper case (ON_QUEUE).
      const def = this.directory.presenceDefinition(u.presence, '')
      this.hub.publish(`v2.users.${u.id}.presence`, {
        source: 'PURECLOUD',
        presenceDefinition: { id: def.id, systemPresence: topicPresenceName(u.presence) },
        presenceMessage: '',
        modifiedDate: iso(u.presenceModified),
      })
    } else {
      this.hub.publish(`v2.users.${u.id}.routingStatus`, {
        routingStatus: { status: u.routingStatus, startTime: iso(u.routingStatusStart) },
      })
    }
  }
}

export async function startGenesysSim(opts?: GenesysSimOptions): Promise<GenesysSim> {
  return new GenesysSim(opts).listen()
}
