// The webhook source: events POSTed to /api/v1/events, for organisations past what one OAuth
// client's WebSockets can carry. Two shapes:
// - Amazon EventBridge, as an API destination delivers it: {version, id, "detail-type": <Genesys
//   topic>, source: "aws.partner/genesys.com/…", time, detail: {topicName, version, eventBody,
//   metadata, timestamp}}. Conversation topics (v2.users.{id}.conversations,
//   v2.routing.queues.{id}.conversations) carry snapshots; v2.detail.events.conversation.{id}.user.start,
//   .user.end and .acd.end carry analytics detail events (detail-events.ts).
// - the event-stream protocol's {eventType, timestamp, data} (see eventstream/events.ts).
// Any instance can take them: idempotency is a store claim on the event id (EventBridge retries a
// delivery it did not see acknowledged), and ends that need "which rings" read the shared store.
import { createHash } from 'node:crypto'
import { systemClock, type Clock } from '../clock.js'
import type { RingRecord, RoutingEvent } from '../model.js'
import type { Logger } from '../observability/logger.js'
import { isRecord } from './genesys-wire.js'
import { isDetailTopic, readDetailEvent } from './detail-events.js'
import { MalformedEventError } from './event-readers.js'
import { fromEventStreamEvent } from './eventstream/events.js'
import { ConversationNormaliser } from './normalise.js'
import type { EventSource, RoutingEventHandler, SourceStatus } from './source.js'

export interface WebhookSourceOptions {
  onEvent: RoutingEventHandler
  logger: Logger
  clock?: Clock
  /** store.claimOnce: true the first time a key is claimed. */
  claimOnce: (key: string, ttlMs: number) => Promise<boolean>
  listOpenRings: () => Promise<RingRecord[]>
  /** How long an event id is remembered (EventBridge retries for up to 24 h). */
  idempotencyTtlMs?: number
  normaliser?: ConversationNormaliser
}

export type WebhookOutcome =
  { status: 202; accepted: number; duplicates: number; events: number } | { status: 400; message: string }

const MAX_BATCH = 100

export class WebhookSource implements EventSource {
  readonly name = 'webhook' as const
  private readonly clock: Clock
  private readonly normaliser: ConversationNormaliser
  private running = false
  private rejected = 0
  private readonly loggedRejects = new Set<string>()
  received = 0
  duplicates = 0

  constructor(private readonly options: WebhookSourceOptions) {
    this.clock = options.clock ?? systemClock
    this.normaliser = options.normaliser ?? new ConversationNormaliser({ clock: this.clock, logger: options.logger })
  }

  start(): Promise<void> {
    this.running = true
    return Promise.resolve()
  }
  stop(): Promise<void> {
    this.running = false
    return Promise.resolve()
  }
  // Which topics reach EventBridge is configured in Genesys (the integration's topic list), not here.
  addUser(): Promise<void> {
    return Promise.resolve()
  }
  removeUser(): Promise<void> {
    return Promise.resolve()
  }

  status(): SourceStatus {
    // Nothing to connect to: the source is ready whenever the HTTP API is.
    return {
      name: this.name,
      connected: this.running,
      channels: 0,
      topics: 0,
      reconnects: 0,
      rejectedFrames: this.rejected,
    }
  }

  /** Handles one POST body (an event or an array of up to 100). */
  async accept(body: unknown, receivedAtHr?: number): Promise<WebhookOutcome> {
    const list = Array.isArray(body) ? (body as unknown[]) : [body]
    if (list.length === 0 || list.length > MAX_BATCH)
      return this.malformed('batch', `expected an event or an array of 1 to ${MAX_BATCH} events`)
    const receivedAt = this.clock.now()
    // Everything is read before anything is claimed or emitted: a 400 changes nothing.
    const parsed: Array<{ id: string; run: () => Promise<RoutingEvent[]> }> = []
    for (const item of list) {
      try {
        parsed.push(this.read(item, receivedAt))
      } catch (err) {
        if (err instanceof MalformedEventError) return this.malformed('shape', err.message)
        throw err
      }
    }
    let accepted = 0
    let duplicates = 0
    let events = 0
    for (const p of parsed) {
      if (!(await this.options.claimOnce(`webhook:${p.id}`, this.options.idempotencyTtlMs ?? 24 * 3600_000))) {
        duplicates++
        continue
      }
      accepted++
      let out: RoutingEvent[]
      try {
        out = await p.run()
      } catch (err) {
        if (!(err instanceof MalformedEventError)) throw err
        this.malformed('content', err.message)
        continue
      }
      for (const e of out) {
        if (receivedAtHr !== undefined) e.receivedAtHr = receivedAtHr
        events++
        try {
          this.options.onEvent(e)
        } catch (err) {
          this.options.logger.error(
            { err: err instanceof Error ? err.message : String(err), conversationId: e.conversationId },
            'routing event handler failed',
          )
        }
      }
    }
    this.received += accepted
    this.duplicates += duplicates
    return { status: 202, accepted, duplicates, events }
  }

  private read(item: unknown, receivedAt: number): { id: string; run: () => Promise<RoutingEvent[]> } {
    if (!isRecord(item)) throw new MalformedEventError('an event must be a JSON object')
    if (typeof item['detail-type'] === 'string' || isRecord(item.detail)) return this.readEventBridge(item, receivedAt)
    if (typeof item.eventType === 'string') {
      const id =
        typeof item.eventId === 'string' ? item.eventId : typeof item.id === 'string' ? item.id : contentId(item)
      return {
        // The dedup key keeps the spelling of earlier releases: during a rolling upgrade both share it.
        id: `guide:${id}`,
        run: () =>
          fromEventStreamEvent(item, { source: 'webhook', receivedAt, openRings: (cid) => this.openRings(cid) }),
      }
    }
    throw new MalformedEventError(
      'expected an EventBridge event ({"detail-type", detail}) or an event-stream event ({eventType, data})',
    )
  }

  private readEventBridge(
    item: Record<string, unknown>,
    receivedAt: number,
  ): { id: string; run: () => Promise<RoutingEvent[]> } {
    const detail = item.detail
    if (!isRecord(detail)) throw new MalformedEventError('detail must be an object')
    const topic = typeof detail.topicName === 'string' ? detail.topicName : item['detail-type']
    if (typeof topic !== 'string' || topic === '')
      throw new MalformedEventError('detail.topicName (or detail-type) is required')
    if (!isRecord(detail.eventBody)) throw new MalformedEventError('detail.eventBody must be an object')
    const body = detail.eventBody
    const id = typeof item.id === 'string' && item.id !== '' ? item.id : contentId(item)
    if (isDetailTopic(topic)) {
      const events = readDetailEvent(topic, body)
      return {
        id: `eb:${id}`,
        run: () => events({ source: 'webhook', receivedAt, openRings: (cid) => this.openRings(cid) }),
      }
    }
    return {
      id: `eb:${id}`,
      run: () => {
        const before = this.normaliser.rejectedTotal
        const events = this.normaliser.fromSnapshot(topic, body, receivedAt, 'webhook')
        if (this.normaliser.rejectedTotal > before) this.rejected++
        return Promise.resolve(events)
      },
    }
  }

  private async openRings(conversationId: string): Promise<RingRecord[]> {
    return (await this.options.listOpenRings()).filter((r) => r.conversationId === conversationId)
  }

  private malformed(kind: string, message: string): WebhookOutcome {
    this.rejected++
    if (!this.loggedRejects.has(kind)) {
      this.loggedRejects.add(kind)
      this.options.logger.warn({ kind, message }, 'webhook event not understood (logged once per kind)')
    }
    return { status: 400, message }
  }
}

/** Without an id, the content is the identity: a byte-identical redelivery is the same event. */
function contentId(item: unknown): string {
  return createHash('sha256').update(JSON.stringify(item)).digest('base64url')
}
