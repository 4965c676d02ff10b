// Picks the event source (GENESYS_EVENT_SOURCE) and builds the webhook receiver, which every
// instance serves whenever WEBHOOK_SECRET is set, whatever the source.
import type { Clock } from '../clock.js'
import type { GenesysRest } from '../genesys/rest.js'
import type { EventSourceName, RingRecord, RoutingEvent, RoutingEventSink } from '../model.js'
import type { Logger } from '../observability/logger.js'
import { EventStreamSource } from './eventstream/source.js'
import type { RecoveryReport } from './gap-recovery.js'
import type { IntakeGate } from './intake-gate.js'
import { NotificationsSource } from './notifications.js'
import type { EventSource, PresenceSink } from './source.js'
import { WebhookSource } from './webhook.js'

/** The settings the sources read, and nothing else of the configuration. */
export interface SourceSettings {
  /** GENESYS_EVENT_SOURCE. */
  eventSource: EventSourceName
  /** GENESYS_TOPICS: Notifications API topics per agent (`users`) or per queue (`queues`). */
  topics: 'users' | 'queues'
  /** GENESYS_QUEUE_IDS. */
  queueIds: string[]
  /** WEBHOOK_SECRET is set: the webhook receiver (POST /api/v1/events) is served. */
  webhook: boolean
}

export interface SourceDeps {
  settings: SourceSettings
  rest: GenesysRest
  store: {
    listUserIds(): Promise<string[]>
    listOpenRings(): Promise<RingRecord[]>
    claimOnce(key: string, ttlMs: number): Promise<boolean>
  }
  /** Where the WebSocket sources hand their events (guarded by the source lease when there is one). */
  events: RoutingEventSink
  /** Where the webhook receiver hands its events: every instance serves it, without a lease. */
  webhookEvents?: RoutingEventSink
  /** PRESENCE_FILTER=soft: the Notifications source subscribes v2.users.{id}.presence and reports here. */
  presence?: PresenceSink
  onRecovery?: (report: RecoveryReport & { downMs: number }) => void
  /** The Notifications sockets stop being read while this gate is full (EVENTS_MAX_IN_FLIGHT). */
  intake?: IntakeGate
  logger: Logger
  clock: Clock
  ca?: string
}

export function createEventSources({
  settings,
  rest,
  store,
  events,
  webhookEvents = events,
  presence,
  onRecovery,
  intake,
  logger,
  clock,
  ca,
}: SourceDeps): { source: EventSource; webhook?: WebhookSource } {
  const webhook = settings.webhook
    ? new WebhookSource({
        onEvent: (event) => webhookEvents.handle(event),
        logger: logger.child({ source: 'webhook' }),
        clock,
        claimOnce: (key, ttl) => store.claimOnce(key, ttl),
        listOpenRings: () => store.listOpenRings(),
      })
    : undefined
  const common = {
    rest,
    listUserIds: () => store.listUserIds(),
    listOpenRings: () => store.listOpenRings(),
    onEvent: (event: RoutingEvent) => events.handle(event),
    clock,
    ...(ca !== undefined && { wsOptions: { ca } }),
    ...(onRecovery && { onRecovery }),
  }
  switch (settings.eventSource) {
    case 'webhook':
      if (!webhook) throw new Error('GENESYS_EVENT_SOURCE=webhook needs WEBHOOK_SECRET') // config.ts already refuses this
      return { source: webhook, webhook }
    case 'eventstream':
      return {
        source: new EventStreamSource({ ...common, logger: logger.child({ source: 'eventstream' }) }),
        ...(webhook && { webhook }),
      }
    case 'notifications':
      return {
        source: new NotificationsSource({
          ...common,
          logger: logger.child({ source: 'notifications' }),
          topics: settings.topics,
          queueIds: settings.queueIds,
          ...(intake && { intake }),
          ...(presence && {
            onPresence: (userId: string, systemPresence: string, changedAt: number) =>
              presence.update(userId, systemPresence, changedAt),
          }),
        }),
        ...(webhook && { webhook }),
      }
  }
}
