// The /api/v2 REST surface: bearer auth, per-token rate limit, and the resources the gateway uses.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Clock } from '../../clock.js'
import type { AccessToken, OAuthService } from './oauth.js'
import {
  organizationBody,
  type Directory,
  type RoutingStatusValue,
  type SimOrganization,
  type SimUser,
} from './directory.js'
import type { ConversationBook } from './conversations.js'
import type { NotificationHub } from './notifications.js'
import type { EventStreamHub } from './eventstream.js'
import { analyticsConversation, restConversation } from './snapshots.js'
import { HttpError, isRecord, readJson, sendJson } from './http.js'

// The RoutingStatus model's status values (the SDK's RoutingStatus.StatusEnum).
const ROUTING_STATUSES: ReadonlySet<string> = new Set<RoutingStatusValue>([
  'OFF_QUEUE',
  'IDLE',
  'INTERACTING',
  'NOT_RESPONDING',
  'COMMUNICATING',
])

export interface FailRule {
  method?: string
  pathPrefix: string
  status: number
  count: number
  retryAfterS?: number
}

/** Another organisation in the same region: its users' tokens are valid on the same API host. */
export interface ForeignOrg {
  org: SimOrganization
  users: Map<string, SimUser>
}

export interface ApiDeps {
  clock: Clock
  orgId: string
  org: SimOrganization
  foreignOrgs: Map<string, ForeignOrg>
  oauth: OAuthService
  directory: Directory
  book: ConversationBook
  hub: NotificationHub
  streams: EventStreamHub
  requestsPerMinute: number
  requests: Map<string, number>
  failRules: FailRule[]
}

interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: string[]
  token: AccessToken
}

type Handler = (ctx: Ctx) => Promise<void> | void
interface Route {
  method: string
  re: RegExp
  name: string
  handler: Handler
}

// Genesys answers this for user-only resources called with a client-credentials token (measured
// against a real org: GET /api/v2/users/me → 400 with this message; developer-center CLI blog).
const USER_CONTEXT_MESSAGE =
  'This request requires a user context. Client credentials cannot be used for requests to this resource.'
const WINDOW_MS = 60_000
// What a token of another organisation may call here: the org-neutral "me" resources. Everything
// else is this organisation's data, which another organisation's token does not see (404).
const ANY_ORG_ROUTES = new Set(['GET /api/v2/users/me', 'GET /api/v2/organizations/me'])

export class ApiRouter {
  private readonly routes: Route[] = []
  private readonly windows = new Map<string, { start: number; count: number }>()

  constructor(private readonly d: ApiDeps) {
    const { directory, book, hub, orgId } = d
    const requireUser = (t: AccessToken): string => {
      if (!t.userId) throw new HttpError(400, 'bad.request', USER_CONTEXT_MESSAGE)
      return t.userId
    }
    const owner = (t: AccessToken): { clientId: string; userId?: string } => ({
      clientId: t.clientId,
      ...(t.userId ? { userId: t.userId } : {}),
    })

    const orgOf = (t: AccessToken): SimOrganization =>
      t.orgId === undefined ? d.org : (d.foreignOrgs.get(t.orgId)?.org ?? d.org)
    this.add('GET', /^\/api\/v2\/users\/me$/, 'GET /api/v2/users/me', ({ res, token, url }) => {
      const userId = requireUser(token)
      const org = orgOf(token)
      const user =
        token.orgId === undefined ? directory.user(userId) : d.foreignOrgs.get(token.orgId)?.users.get(userId)
      if (!user) throw new HttpError(404, 'not.found', `User not found: ${userId}`)
      // expand is a multi-valued query parameter (expand=a&expand=b); commas are accepted too.
      const expand = new Set(url.searchParams.getAll('expand').flatMap((v) => v.split(',')))
      sendJson(res, 200, {
        ...directory.userBody(user, org.id),
        ...(expand.has('organization') && { organization: organizationBody(org) }),
      })
    })
    // OrganizationApi.getOrganizationsMe: for client-credentials and user tokens alike.
    this.add('GET', /^\/api\/v2\/organizations\/me$/, 'GET /api/v2/organizations/me', ({ res, token }) =>
      sendJson(res, 200, organizationBody(orgOf(token))),
    )
    this.add(
      'GET',
      /^\/api\/v2\/users\/presences\/purecloud\/bulk$/,
      'GET /api/v2/users/presences/purecloud/bulk',
      ({ res, url }) => {
        const ids = url.searchParams
          .getAll('id')
          .flatMap((v) => v.split(','))
          .filter(Boolean)
        if (ids.length === 0) throw new HttpError(400, 'bad.request', 'At least one id is required')
        // PresenceApi.getUsersPresencesPurecloudBulk: "Limit 50". Genesys answers an ErrorBody 400;
        // the wording of the message is ours.
        if (ids.length > 50)
          throw new HttpError(400, 'bad.request', `The id list exceeds the limit of 50 users (${ids.length} given)`)
        const found = ids.map((id) => directory.users.get(id)).filter((u) => u !== undefined)
        sendJson(
          res,
          200,
          found.map((u) => ({ ...directory.presenceBody(u), userId: u.id })),
        )
      },
    )
    // UsersApi.getUser: the gateway asks for agents' display names (dashboard, CLI) with its own token.
    this.add(
      'GET',
      /^\/api\/v2\/users\/(?!me$|presences$)([^/]+)$/,
      'GET /api/v2/users/{userId}',
      ({ res, token, params }) =>
        sendJson(res, 200, directory.userBody(directory.user(params[0] ?? ''), orgOf(token).id)),
    )
    this.add(
      'GET',
      /^\/api\/v2\/users\/([^/]+)\/presences\/purecloud$/,
      'GET /api/v2/users/{userId}/presences/purecloud',
      ({ res, params }) => sendJson(res, 200, directory.presenceBody(directory.user(params[0] ?? ''))),
    )
    this.add(
      'GET',
      /^\/api\/v2\/users\/([^/]+)\/routingstatus$/,
      'GET /api/v2/users/{userId}/routingstatus',
      ({ res, params }) => sendJson(res, 200, directory.routingStatusBody(directory.user(params[0] ?? ''))),
    )
    // UsersApi putUserRoutingstatus: body RoutingStatus {status, …}; the answer is the new RoutingStatus.
    this.add(
      'PUT',
      /^\/api\/v2\/users\/([^/]+)\/routingstatus$/,
      'PUT /api/v2/users/{userId}/routingstatus',
      async ({ req, res, params }) => {
        const user = directory.user(params[0] ?? '')
        const body = await readJson(req)
        const status = isRecord(body) ? body.status : undefined
        if (typeof status !== 'string' || !ROUTING_STATUSES.has(status)) {
          throw new HttpError(400, 'bad.request', `status must be one of ${[...ROUTING_STATUSES].join(', ')}`)
        }
        directory.setRoutingStatus(user.id, status as RoutingStatusValue)
        sendJson(res, 200, directory.routingStatusBody(user))
      },
    )
    this.add('GET', /^\/api\/v2\/users\/([^/]+)$/, 'GET /api/v2/users/{userId}', ({ res, params }) =>
      sendJson(res, 200, directory.userBody(directory.user(params[0] ?? ''), orgId)),
    )
    this.add(
      'GET',
      /^\/api\/v2\/routing\/queues\/([^/]+)$/,
      'GET /api/v2/routing/queues/{queueId}',
      ({ res, params }) => sendJson(res, 200, directory.queueBody(directory.queue(params[0] ?? ''), orgId)),
    )
    // Active conversations of the logged-in user: a user-context resource like users/me.
    this.add('GET', /^\/api\/v2\/conversations$/, 'GET /api/v2/conversations', ({ res, token }) => {
      const entities = book.activeFor(requireUser(token)).map((c) => restConversation(c, directory))
      sendJson(res, 200, { entities, pageSize: 25, pageNumber: 1, total: entities.length, pageCount: 1 })
    })
    this.add(
      'GET',
      /^\/api\/v2\/conversations\/([^/]+)$/,
      'GET /api/v2/conversations/{conversationId}',
      ({ res, params }) => sendJson(res, 200, restConversation(book.get(params[0] ?? ''), directory)),
    )
    this.add(
      'POST',
      /^\/api\/v2\/analytics\/conversations\/details\/query$/,
      'POST /api/v2/analytics/conversations/details/query',
      async ({ req, res }) => sendJson(res, 200, this.detailsQuery(await readJson(req))),
    )
    // The event-stream protocol's API (eventstream.ts; not offered by Genesys Cloud).
    const streamsRe = /^\/api\/v2\/analytics\/eventstreams\/subscriptions$/
    const streamRe = /^\/api\/v2\/analytics\/eventstreams\/subscriptions\/([^/]+)$/
    this.add('POST', streamsRe, 'POST /api/v2/analytics/eventstreams/subscriptions', async ({ req, res }) =>
      sendJson(res, 200, d.streams.create(await readJson(req))),
    )
    this.add('GET', streamRe, 'GET /api/v2/analytics/eventstreams/subscriptions/{id}', ({ res, params }) =>
      sendJson(res, 200, d.streams.get(params[0] ?? '')),
    )
    this.add('DELETE', streamRe, 'DELETE /api/v2/analytics/eventstreams/subscriptions/{id}', ({ res, params }) => {
      d.streams.remove(params[0] ?? '')
      sendJson(res, 204, undefined)
    })
    this.add('POST', /^\/api\/v2\/notifications\/channels$/, 'POST /api/v2/notifications/channels', ({ res, token }) =>
      sendJson(res, 200, hub.create(owner(token))),
    )
    this.add('GET', /^\/api\/v2\/notifications\/channels$/, 'GET /api/v2/notifications/channels', ({ res, token }) =>
      sendJson(res, 200, { entities: hub.listFor(owner(token)) }),
    )
    this.add(
      'HEAD',
      /^\/api\/v2\/notifications\/channels\/([^/]+)$/,
      'HEAD /api/v2/notifications/channels/{channelId}',
      ({ res, params, token }) => {
        hub.get(params[0] ?? '', owner(token))
        sendJson(res, 200, undefined)
      },
    )
    const subs = /^\/api\/v2\/notifications\/channels\/([^/]+)\/subscriptions$/
    const subsName = '/api/v2/notifications/channels/{channelId}/subscriptions'
    this.add('GET', subs, `GET ${subsName}`, ({ res, params, token }) =>
      sendJson(res, 200, { entities: hub.subscriptions(hub.get(params[0] ?? '', owner(token))) }),
    )
    for (const [method, mode] of [
      ['POST', 'add'],
      ['PUT', 'replace'],
    ] as const) {
      this.add(method, subs, `${method} ${subsName}`, async ({ req, res, params, token }) => {
        const ch = hub.get(params[0] ?? '', owner(token))
        hub.setTopics(ch, await readJson(req), mode)
        sendJson(res, 200, { entities: hub.subscriptions(ch) })
      })
    }
    this.add('DELETE', subs, `DELETE ${subsName}`, ({ res, params, token }) => {
      hub.clearTopics(hub.get(params[0] ?? '', owner(token)))
      sendJson(res, 204, undefined)
    })
  }

  private add(method: string, re: RegExp, name: string, handler: Handler): void {
    this.routes.push({ method, re, name, handler })
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET'
    let route: Route | undefined
    let params: string[] = []
    for (const r of this.routes) {
      const m = r.re.exec(url.pathname)
      if (m && r.method === method) {
        route = r
        params = m.slice(1).map((p) => decodeURIComponent(p))
        break
      }
    }
    const name = route?.name ?? `${method} ${url.pathname}`
    this.d.requests.set(name, (this.d.requests.get(name) ?? 0) + 1)

    this.injectedFailure(method, url.pathname)
    const token = this.authenticate(req)
    this.rateLimit(token)
    if (route && token.orgId !== undefined && !ANY_ORG_ROUTES.has(route.name)) route = undefined
    if (!route) throw new HttpError(404, 'not.found', `The requested resource was not found: ${method} ${url.pathname}`)
    await route.handler({ req, res, url, params, token })
  }

  private injectedFailure(method: string, path: string): void {
    const rule = this.d.failRules.find(
      (r) => r.count > 0 && path.startsWith(r.pathPrefix) && (!r.method || r.method.toUpperCase() === method),
    )
    if (!rule) return
    rule.count--
    const headers: Record<string, string> =
      rule.retryAfterS !== undefined ? { 'retry-after': String(rule.retryAfterS) } : {}
    const code =
      rule.status === 429 ? 'too.many.requests.retry.after' : rule.status >= 500 ? 'service.unavailable' : 'bad.request'
    throw new HttpError(rule.status, code, `Injected failure (${rule.status})`, headers)
  }

  private authenticate(req: IncomingMessage): AccessToken {
    const h = req.headers.authorization ?? ''
    const m = /^bearer\s+(.+)$/i.exec(h)
    const token = m?.[1] ? this.d.oauth.validate(m[1].trim()) : undefined
    if (!token) throw new HttpError(401, 'bad.credentials', 'Invalid login credentials.')
    return token
  }

  private rateLimit(token: AccessToken): void {
    const now = this.d.clock.now()
    let w = this.windows.get(token.token)
    if (!w || now - w.start >= WINDOW_MS) this.windows.set(token.token, (w = { start: now, count: 0 }))
    w.count++
    if (w.count > this.d.requestsPerMinute) {
      const retryAfterS = Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000))
      throw new HttpError(
        429,
        'too.many.requests.retry.after',
        `Rate limit exceeded the maximum [${this.d.requestsPerMinute}] requests within [60] seconds`,
        { 'retry-after': String(retryAfterS) },
      )
    }
  }

  /** The subset of the analytics details query a backfill needs: a userId segment filter and conversationEnd notExists. */
  private detailsQuery(body: unknown): Record<string, unknown> {
    if (!isRecord(body) || typeof body.interval !== 'string' || !body.interval.includes('/')) {
      throw new HttpError(400, 'bad.request', 'interval is required (ISO-8601 start/end)')
    }
    const [from, to] = body.interval.split('/').map((s) => Date.parse(s))
    if (from === undefined || to === undefined || Number.isNaN(from) || Number.isNaN(to))
      throw new HttpError(400, 'bad.request', 'interval is not a valid ISO-8601 interval')
    const predicates = (key: string): Array<Record<string, unknown>> => {
      const filters = Array.isArray(body[key]) ? (body[key] as unknown[]) : []
      return filters
        .filter(isRecord)
        .flatMap((f) => (Array.isArray(f.predicates) ? (f.predicates as unknown[]).filter(isRecord) : []))
    }
    const userIds = predicates('segmentFilters')
      .filter((p) => p.dimension === 'userId')
      .map((p) => String(p.value))
    const queueIds = predicates('segmentFilters')
      .filter((p) => p.dimension === 'queueId')
      .map((p) => String(p.value))
    const activeOnly = predicates('conversationFilters').some(
      (p) => p.dimension === 'conversationEnd' && p.operator === 'notExists',
    )
    const matches = [...this.d.book.conversations.values()].filter(
      (c) =>
        c.startTime >= from &&
        c.startTime < to &&
        (!activeOnly || c.endTime === undefined) &&
        (userIds.length === 0 || c.participants.some((p) => p.userId !== undefined && userIds.includes(p.userId))) &&
        (queueIds.length === 0 || c.participants.some((p) => p.queueId !== undefined && queueIds.includes(p.queueId))),
    )
    // PagingSpec: pageSize default 25, at most 100; pageNumber from 1.
    const paging = isRecord(body.paging) ? body.paging : {}
    const pageSize = typeof paging.pageSize === 'number' ? paging.pageSize : 25
    const pageNumber = typeof paging.pageNumber === 'number' ? paging.pageNumber : 1
    if (pageSize < 1 || pageSize > 100 || pageNumber < 1)
      throw new HttpError(400, 'bad.request', 'paging.pageSize must be 1-100 and paging.pageNumber at least 1')
    const page = matches.slice((pageNumber - 1) * pageSize, pageNumber * pageSize)
    return page.length === 0
      ? { totalHits: matches.length }
      : { conversations: page.map(analyticsConversation), totalHits: matches.length }
  }
}
