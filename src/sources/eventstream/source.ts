// The event-stream source (GENESYS_EVENT_SOURCE=eventstream): the analytics "Event Streams" WebSocket
// API as the design guide this project started from describes it. GENESYS CLOUD DOES NOT OFFER THIS
// API (docs/PLATFORMS.md): it exists so relays and test rigs built on it keep working, and our
// simulator serves it (src/sim/genesys/eventstream.ts). The protocol: POST
// /api/v2/analytics/eventstreams/subscriptions {streamType: WEBSOCKET, events: [...], filters:
// [{type: conversation, field: mediaType, operator: EQ, value}]} (media filtering at the
// subscription, not in code), then a WebSocket to the subscription's connectUri carrying
// {eventType, timestamp, data} events. Same reconnect rules as the Notifications API (one socket,
// full-jitter back-off, heartbeat watchdog) and the same gap recovery over the REST API.
import { systemClock, type Clock } from '../../clock.js'
import { GenesysApiError } from '../../genesys/errors.js'
import type { GenesysRest, NotificationChannel } from '../../genesys/rest.js'
import { MEDIA_TYPES, type MediaType, type RingRecord, type RoutingEvent } from '../../model.js'
import type { Logger } from '../../observability/logger.js'
import type { BackoffOptions } from '../backoff.js'
import { ChannelLink, errorText, type ChannelApi } from '../channel-link.js'
import type { SilenceProbe } from '../channel-socket.js'
import { GapRecovery, type RecoveryReport } from '../gap-recovery.js'
import { isRecord } from '../genesys-wire.js'
import { MalformedEventError } from '../event-readers.js'
import { EVENTSTREAM_EVENT_TYPES, fromEventStreamEvent } from './events.js'
import { ConversationNormaliser } from '../normalise.js'
import type { EventSource, RoutingEventHandler, SourceStatus } from '../source.js'

export interface EventStreamSourceOptions {
  rest: GenesysRest
  listUserIds: () => Promise<string[]>
  onEvent: RoutingEventHandler
  logger: Logger
  clock?: Clock
  wsOptions?: { ca?: string }
  heartbeatTimeoutMs?: number
  /** Ping a silent socket and replace it when no answer comes (channel-socket.ts); default: none. */
  probe?: SilenceProbe
  backoff?: BackoffOptions
  /** The media types filtered for at the subscription (default: all five). */
  mediaTypes?: readonly MediaType[]
  listOpenRings?: () => Promise<RingRecord[]>
  onRecovery?: (report: RecoveryReport & { downMs: number }) => void
}

export const EVENTSTREAM_PATH = '/api/v2/analytics/eventstreams/subscriptions'

/** The subscription calls, shaped as a channel so the Notifications link logic is reused. */
class SubscriptionApi implements ChannelApi {
  constructor(
    private readonly rest: GenesysRest,
    private readonly mediaTypes: readonly MediaType[],
  ) {}

  async createChannel(): Promise<NotificationChannel> {
    const b = await this.rest.request<unknown>('POST', EVENTSTREAM_PATH, {
      name: 'MobilePushGateway_Subscription',
      description: 'Captures inbound routing events for mobile push relay',
      streamType: 'WEBSOCKET',
      events: [...EVENTSTREAM_EVENT_TYPES],
      filters: this.mediaTypes.map((value) => ({ type: 'conversation', field: 'mediaType', operator: 'EQ', value })),
    })
    if (!isRecord(b) || typeof b.id !== 'string' || typeof b.connectUri !== 'string')
      throw new GenesysApiError(502, 'event stream subscription answer lacks id/connectUri')
    return { id: b.id, connectUri: b.connectUri, expires: '' }
  }

  /** The subscription's event list is fixed; "re-subscribing" only proves it still exists (404 if not). */
  async subscribe(id: string, _topics: string[], mode: 'add' | 'replace'): Promise<void> {
    if (mode === 'replace') await this.rest.request<unknown>('GET', `${EVENTSTREAM_PATH}/${encodeURIComponent(id)}`)
  }
}

export class EventStreamSource implements EventSource {
  readonly name = 'eventstream' as const
  private readonly clock: Clock
  private readonly users = new Set<string>()
  private readonly link: ChannelLink
  private readonly recovery: GapRecovery
  private chain: Promise<unknown> = Promise.resolve()
  private running = false
  private rejected = 0
  private readonly loggedRejects = new Set<string>()

  constructor(private readonly options: EventStreamSourceOptions) {
    this.clock = options.clock ?? systemClock
    const normaliser = new ConversationNormaliser({ clock: this.clock, logger: options.logger })
    this.recovery = new GapRecovery({
      rest: options.rest,
      normaliser,
      source: 'eventstream',
      clock: this.clock,
      logger: options.logger,
      emit: (e) => this.deliver(e),
      ...(options.listOpenRings && { listOpenRings: options.listOpenRings }),
      scope: () => ({ dimension: 'userId', ids: [...this.users] }),
    })
    this.link = new ChannelLink({
      index: 0,
      rest: new SubscriptionApi(options.rest, options.mediaTypes ?? MEDIA_TYPES),
      clock: this.clock,
      logger: options.logger,
      ...(options.backoff && { backoff: options.backoff }),
      topics: () => [],
      socket: {
        ...(options.wsOptions?.ca !== undefined && { ca: options.wsOptions.ca }),
        heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 75_000,
        ...(options.probe !== undefined && { probe: options.probe }),
      },
      renewBeforeMs: 0,
      handOverLock: (fn) => fn(),
      onFrame: (frame, at, hr) => this.onFrame(frame, at, hr),
      onNotJson: () => this.reject('not-json', 'not JSON'),
      onRecovered: (_l, downMs) => void this.recover('reconnect', downMs),
    })
  }

  async start(): Promise<void> {
    if (this.running) return
    for (const id of await this.options.listUserIds()) this.users.add(id)
    this.running = true
    await this.link.start()
    void this.recover('start', 0)
  }

  async stop(): Promise<void> {
    this.running = false
    await this.link.stop()
    await this.chain
  }

  // The stream carries every agent's events (filtered by media type at the subscription); the
  // registry only scopes gap recovery.
  addUser(userId: string): Promise<void> {
    this.users.add(userId)
    return Promise.resolve()
  }
  removeUser(userId: string): Promise<void> {
    this.users.delete(userId)
    return Promise.resolve()
  }

  status(): SourceStatus {
    return {
      name: this.name,
      connected: this.link.connected,
      channels: this.link.channelId ? 1 : 0,
      topics: EVENTSTREAM_EVENT_TYPES.length,
      reconnects: this.link.reconnects,
      rejectedFrames: this.rejected,
    }
  }

  get subscriptionId(): string | undefined {
    return this.link.channelId
  }

  get lastRecovery(): RecoveryReport | undefined {
    return this.recovery.lastReport
  }

  private async recover(reason: string, downMs: number): Promise<void> {
    if (!this.running) return
    try {
      const report = await this.recovery.run(reason)
      this.options.onRecovery?.({ ...report, downMs })
    } catch (err) {
      this.options.logger.error({ err: errorText(err) }, 'event stream gap recovery failed')
    }
  }

  private onFrame(event: unknown, receivedAt: number, receivedAtHr: number): void {
    if (isRecord(event) && typeof event.eventType === 'string' && event.eventType.startsWith('system.')) return // heartbeat
    // One at a time and in order: a deleted event reads the store and must not overtake the next offer.
    this.chain = this.chain.then(async () => {
      try {
        const events = await fromEventStreamEvent(event, {
          source: 'eventstream',
          receivedAt,
          openRings: (cid) => this.openRings(cid),
        })
        for (const e of events) {
          e.receivedAtHr = receivedAtHr
          this.deliver(e)
        }
      } catch (err) {
        if (err instanceof MalformedEventError) return this.reject('malformed', err.message)
        this.options.logger.error({ err: errorText(err) }, 'event stream event failed')
      }
    })
  }

  private async openRings(conversationId: string): Promise<RingRecord[]> {
    return this.options.listOpenRings
      ? (await this.options.listOpenRings()).filter((r) => r.conversationId === conversationId)
      : []
  }

  private deliver(event: RoutingEvent): void {
    try {
      this.options.onEvent(event)
    } catch (err) {
      this.options.logger.error(
        { err: errorText(err), conversationId: event.conversationId },
        'routing event handler failed',
      )
    }
  }

  private reject(kind: string, message: string): void {
    this.rejected++
    if (this.loggedRejects.has(kind)) return
    this.loggedRejects.add(kind)
    this.options.logger.warn({ kind, message }, 'event stream frame not understood (logged once per kind)')
  }
}
