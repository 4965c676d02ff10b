// Picks the event source from the configuration (GENESYS_EVENT_SOURCE) and builds the webhook
// receiver, which every instance serves whenever WEBHOOK_SECRET is set, whatever the source.
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { GenesysRest } from '../genesys/rest.js'
import type { RingRecord } from '../model.js'
import type { Logger } from '../observability/logger.js'
import { EventStreamSource } from './eventstream.js'
import type { RecoveryReport } from './gap-recovery.js'
import { NotificationsSource } from './notifications.js'
import type { EventSource, PresenceHandler, RoutingEventHandler } from './source.js'
import { WebhookSource } from './webhook.js'

export interface SourceDeps {
  config: Config
  rest: GenesysRest
  store: {
    listUserIds(): Promise<string[]>
    listOpenRings(): Promise<RingRecord[]>
    claimOnce(key: string, ttlMs: number): Promise<boolean>
  }
  /** For the WebSocket sources (guarded by the source lease when there is one). */
  onEvent: RoutingEventHandler
  /** For the webhook receiver, which every instance serves without a lease. */
  onWebhookEvent?: RoutingEventHandler
  onPresence?: PresenceHandler
  onRecovery?: (report: RecoveryReport & { downMs: number }) => void
  logger: Logger
  clock: Clock
  ca?: string
}

export function createEventSources(d: SourceDeps): { source: EventSource; webhook?: WebhookSource } {
  const { config, store } = d
  const webhook = config.webhook
    ? new WebhookSource({
        onEvent: d.onWebhookEvent ?? d.onEvent,
        logger: d.logger.child({ source: 'webhook' }),
        clock: d.clock,
        claimOnce: (key, ttl) => store.claimOnce(key, ttl),
        listOpenRings: () => store.listOpenRings(),
      })
    : undefined
  const common = {
    rest: d.rest,
    listUserIds: () => store.listUserIds(),
    listOpenRings: () => store.listOpenRings(),
    onEvent: d.onEvent,
    clock: d.clock,
    ...(d.ca !== undefined && { wsOptions: { ca: d.ca } }),
    ...(d.onRecovery && { onRecovery: d.onRecovery }),
  }
  switch (config.genesys.eventSource) {
    case 'webhook':
      if (!webhook) throw new Error('GENESYS_EVENT_SOURCE=webhook needs WEBHOOK_SECRET') // config.ts already refuses this
      return { source: webhook, webhook }
    case 'eventstream':
      return {
        source: new EventStreamSource({ ...common, logger: d.logger.child({ source: 'eventstream' }) }),
        ...(webhook && { webhook }),
      }
    case 'notifications':
      return {
        source: new NotificationsSource({
          ...common,
          logger: d.logger.child({ source: 'notifications' }),
          topics: config.genesys.topics,
          queueIds: config.genesys.queueIds,
          ...(d.onPresence && { onPresence: d.onPresence }),
        }),
        ...(webhook && { webhook }),
      }
  }
}
