// The gateway's REST client for Genesys Cloud: rate-limit aware, never on the ring hot path.
import type { Dispatcher } from 'undici'
import { systemClock, type Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import { parseRetryAfter } from '../retry-after.js'
import type { ClientCredentialsAuth } from './auth.js'
import { GenesysApiError } from './errors.js'
import { errorMessage, exchange, header, sleep } from './http.js'

// Genesys answers 429 with Retry-After in seconds; a value beyond this means "give up for now".
const MAX_RETRY_AFTER_MS = 60_000
// A 429 without a Retry-After the gateway understands waits this long.
const DEFAULT_RETRY_AFTER_MS = 1000
const BACKOFF_BASE_MS = 250
const BACKOFF_CAP_MS = 5_000
/** Users per bulk presence call: PresenceApi.getUsersPresencesPurecloudBulk documents "Limit 50". */
export const PRESENCE_BULK_MAX = 50

export interface NotificationChannel {
  id: string
  connectUri: string
  /** ISO date: channels live 24 h unless re-subscribed. */
  expires: string
}

export class GenesysRest {
  private readonly apiUrl: string
  private readonly maxRetries: number

  constructor(
    private readonly options: {
      apiUrl: string
      auth: ClientCredentialsAuth
      dispatcher?: Dispatcher
      clock?: Clock
      logger: Logger
      maxRetries?: number
    },
  ) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '')
    this.maxRetries = options.maxRetries ?? 3
  }

  get clock(): Clock {
    return this.options.clock ?? systemClock
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let renewedToken = false
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(method, path, body)
      if (outcome.kind === 'ok') return outcome.body as T
      const err = outcome.error
      if (err.status === 401 && !renewedToken) {
        // The cached token was revoked or expired early: one fresh token, one more try.
        renewedToken = true
        this.options.auth.invalidate()
        attempt--
        continue
      }
      if (!err.transient || attempt >= this.maxRetries) throw err
      const retryInMs = outcome.retryAfterMs ?? backoffMs(attempt)
      if (retryInMs > MAX_RETRY_AFTER_MS) throw err
      this.options.logger.warn({ method, path, attempt, retryInMs, code: err.code }, 'genesys request will be retried')
      await sleep(retryInMs)
    }
  }

  private async attempt(
    method: string,
    path: string,
    body: unknown,
  ): Promise<{ kind: 'ok'; body: unknown } | { kind: 'error'; error: GenesysApiError; retryAfterMs?: number }> {
    try {
      const token = await this.options.auth.getToken()
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' }
      if (body !== undefined) headers['content-type'] = 'application/json'
      const answer = await exchange(`${this.apiUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.options.dispatcher,
      })
      if (answer.status >= 200 && answer.status < 300) return { kind: 'ok', body: answer.body }
      const error = new GenesysApiError(answer.status, `${method} ${path}: ${errorMessage(answer)}`)
      if (answer.status === 429)
        return {
          kind: 'error',
          error,
          retryAfterMs: parseRetryAfter(header(answer, 'retry-after'), this.clock.now()) ?? DEFAULT_RETRY_AFTER_MS,
        }
      return { kind: 'error', error }
    } catch (err) {
      // Unreachable, or the token endpoint refused / rate limited us.
      if (err instanceof GenesysApiError) return { kind: 'error', error: err }
      throw err
    }
  }

  /** POST /api/v2/notifications/channels → {id, connectUri, expires}. */
  async createChannel(): Promise<NotificationChannel> {
    const b = await this.request<unknown>('POST', '/api/v2/notifications/channels')
    if (!isRecord(b) || typeof b.id !== 'string' || typeof b.connectUri !== 'string') {
      throw new GenesysApiError(502, 'Genesys channel answer lacks id/connectUri')
    }
    return { id: b.id, connectUri: b.connectUri, expires: typeof b.expires === 'string' ? b.expires : '' }
  }

  /** POST adds topics to a channel, PUT replaces the channel's whole set; body [{id: topic}]. */
  async subscribe(channelId: string, topics: string[], mode: 'add' | 'replace'): Promise<void> {
    await this.request<unknown>(
      mode === 'add' ? 'POST' : 'PUT',
      `/api/v2/notifications/channels/${encodeURIComponent(channelId)}/subscriptions`,
      topics.map((id) => ({ id })),
    )
  }

  /** GET /api/v2/organizations/me (OrganizationApi.getOrganizationsMe): the organisation this client belongs to. */
  async getOrganization(): Promise<{ id: string; name?: string }> {
    const b = await this.request<unknown>('GET', '/api/v2/organizations/me')
    if (!isRecord(b) || typeof b.id !== 'string' || b.id === '')
      throw new GenesysApiError(502, 'Genesys organizations/me answer lacks id')
    return typeof b.name === 'string' ? { id: b.id, name: b.name } : { id: b.id }
  }

  getConversation(id: string): Promise<unknown> {
    return this.request<unknown>('GET', `/api/v2/conversations/${encodeURIComponent(id)}`)
  }

  /** PUT /api/v2/users/{userId}/routingstatus (UsersApi putUserRoutingstatus), e.g. OFF_QUEUE. */
  async setRoutingStatus(userId: string, status: 'OFF_QUEUE'): Promise<void> {
    await this.request<unknown>('PUT', `/api/v2/users/${encodeURIComponent(userId)}/routingstatus`, { status })
  }

  /** GET /api/v2/users/{id}: the agent's display name (UsersApi.getUser). */
  async getUser(id: string): Promise<{ id: string; name: string }> {
    const b = await this.request<unknown>('GET', `/api/v2/users/${encodeURIComponent(id)}`)
    if (!isRecord(b) || typeof b.id !== 'string') throw new GenesysApiError(502, 'Genesys user answer lacks id')
    return { id: b.id, name: typeof b.name === 'string' ? b.name : b.id }
  }

  async getQueue(id: string): Promise<{ id: string; name: string }> {
    const b = await this.request<unknown>('GET', `/api/v2/routing/queues/${encodeURIComponent(id)}`)
    if (!isRecord(b) || typeof b.id !== 'string') throw new GenesysApiError(502, 'Genesys queue answer lacks id')
    return { id: b.id, name: typeof b.name === 'string' ? b.name : b.id }
  }

  /**
   * POST /api/v2/analytics/conversations/details/query for conversations that have not ended
   * (conversationFilters conversationEnd notExists) with a segment of one of `ids` (dimension
   * userId or queueId). The interval only includes conversations that started on a day it touches
   * (ConversationQuery model), so callers pass a wide one. Paging: pageSize ≤ 100, default 25.
   */
  async activeConversations(
    dimension: 'userId' | 'queueId',
    ids: string[],
    interval: { from: number; to: number },
    page: { pageSize: number; pageNumber: number },
  ): Promise<{ conversations: unknown[]; totalHits: number }> {
    const b = await this.request<unknown>('POST', '/api/v2/analytics/conversations/details/query', {
      interval: `${new Date(interval.from).toISOString()}/${new Date(interval.to).toISOString()}`,
      order: 'desc',
      orderBy: 'conversationStart',
      paging: page,
      conversationFilters: [
        { type: 'and', predicates: [{ type: 'dimension', dimension: 'conversationEnd', operator: 'notExists' }] },
      ],
      segmentFilters: [
        { type: 'or', predicates: ids.map((value) => ({ type: 'dimension', dimension, operator: 'matches', value })) },
      ],
    })
    if (!isRecord(b)) throw new GenesysApiError(502, 'Genesys analytics answer is not an object')
    const conversations = Array.isArray(b.conversations) ? (b.conversations as unknown[]) : []
    return { conversations, totalHits: typeof b.totalHits === 'number' ? b.totalHits : conversations.length }
  }

  /** GET /api/v2/users/presences/purecloud/bulk?id=…&id=…: at most PRESENCE_BULK_MAX users per call. */
  async getPresencesBulk(
    userIds: string[],
  ): Promise<Array<{ userId: string; systemPresence: string; modifiedAt?: number }>> {
    if (userIds.length > PRESENCE_BULK_MAX)
      throw new RangeError(`at most ${PRESENCE_BULK_MAX} users per bulk presence call, got ${userIds.length}`)
    const q = userIds.map((id) => `id=${encodeURIComponent(id)}`).join('&')
    const b = await this.request<unknown>('GET', `/api/v2/users/presences/purecloud/bulk?${q}`)
    const list = Array.isArray(b)
      ? (b as unknown[])
      : isRecord(b) && Array.isArray(b.entities)
        ? (b.entities as unknown[])
        : []
    const out: Array<{ userId: string; systemPresence: string; modifiedAt?: number }> = []
    for (const item of list) {
      if (
        !isRecord(item) ||
        !isRecord(item.presenceDefinition) ||
        typeof item.presenceDefinition.systemPresence !== 'string'
      )
        continue
      const userId = typeof item.userId === 'string' ? item.userId : typeof item.id === 'string' ? item.id : undefined
      if (!userId) continue
      const modified = typeof item.modifiedDate === 'string' ? Date.parse(item.modifiedDate) : NaN
      out.push({
        userId,
        systemPresence: item.presenceDefinition.systemPresence,
        ...(Number.isFinite(modified) && { modifiedAt: modified }),
      })
    }
    return out
  }

  /** GET /api/v2/users/{id}/presences/purecloud → {presenceDefinition: {id, systemPresence}}. */
  async getPresence(userId: string): Promise<{ systemPresence: string }> {
    const b = await this.request<unknown>('GET', `/api/v2/users/${encodeURIComponent(userId)}/presences/purecloud`)
    const def = isRecord(b) ? b.presenceDefinition : undefined
    if (!isRecord(def) || typeof def.systemPresence !== 'string') {
      throw new GenesysApiError(502, 'Genesys presence answer lacks presenceDefinition.systemPresence')
    }
    return { systemPresence: def.systemPresence }
  }
}

/** Full jitter: a crowd of clients retrying after an outage spreads out instead of stampeding. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt)
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
