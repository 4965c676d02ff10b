// Scale-out wiring for the composition root: with a Redis or DynamoDB store, a WebSocket source runs
// under the source lease (one instance listens, the others stand by). The webhook source needs no lease: every
// instance serves it, and the ring store's SET NX dedup makes a retried delivery ring once.
import type { EventSourceName } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { SourceStatus } from '../sources/source.js'
import type { StoreLocation } from '../store/open.js'
import type { DeviceStore } from '../store/store.js'
import { createScaleBus } from './bus.js'
import { LeasedSource } from './leased-source.js'

export { LeasedSource } from './leased-source.js'
export { RedisLease, type LeaseState } from './lease.js'

/** What the source lease needs to know, and nothing else of the configuration. */
export interface SourceLeaseSettings {
  /** GENESYS_EVENT_SOURCE: the webhook source runs on every instance, without a lease. */
  eventSource: EventSourceName
  /** STORE_URL as openStore parsed it: only a shared store (Redis, DynamoDB) holds a lease. */
  storeLocation: StoreLocation
  /** INSTANCE_ID: the holder's name in the lease. */
  instanceId: string
  /** LEASE_TTL_MS. */
  leaseTtlMs: number
  /** The device registry: the holder hears every agent that has a device. */
  registry: Pick<DeviceStore, 'listUserIds' | 'listDevices'>
  logger: Logger
}

/** A LeasedSource when the store is shared (Redis, DynamoDB) and the source is a WebSocket one; otherwise undefined. */
export async function leaseForSource({
  eventSource,
  storeLocation,
  instanceId,
  leaseTtlMs,
  registry,
  logger: parentLogger,
}: SourceLeaseSettings): Promise<LeasedSource | undefined> {
  if (eventSource === 'webhook') return undefined
  const logger = parentLogger.child({ component: 'lease' })
  const listUserIds = () => registry.listUserIds()
  const hasDevices = async (userId: string) => (await registry.listDevices(userId)).length > 0
  switch (storeLocation.kind) {
    case 'dynamodb': {
      // Loaded only with a DynamoDB store: the AWS SDK is not every user's start-up cost.
      const { dynamoCoordination } = await import('./dynamo-lease.js')
      const coordination = dynamoCoordination({ target: storeLocation.target, name: 'source' })
      return new LeasedSource({
        backend: coordination.backend,
        changes: coordination.changes,
        instanceId,
        ttlMs: leaseTtlMs,
        logger,
        listUserIds,
        hasDevices,
        onStopped: async () => coordination.close(),
      })
    }
    case 'redis': {
      const { target } = storeLocation
      // A renewal must answer well inside the lease, or the holder gives the lease up anyway.
      const bus = await createScaleBus({
        target,
        keyPrefix: target.keyPrefix,
        logger,
        commandTimeoutMs: Math.max(200, Math.round(leaseTtlMs / 5)),
      })
      return new LeasedSource({
        bus,
        instanceId,
        ttlMs: leaseTtlMs,
        logger,
        listUserIds,
        hasDevices,
        onStopped: () => bus.close(),
      })
    }
    case 'sqlite':
    case 'memory':
      return undefined
  }
}

/** Readiness of the event source: a standby (lease held elsewhere) is ready to serve the API. */
export function sourceReadiness(status: SourceStatus): { ok: boolean; detail: string } {
  const { name, connected, lease } = status
  if (lease && !lease.holder) {
    return {
      ok: true,
      detail: `${name}: standby, lease held by ${lease.holderId ?? 'no instance yet'}${lease.fencingToken !== undefined ? ` (fencing token ${lease.fencingToken})` : ''}`,
    }
  }
  const holder = lease ? ` (lease holder, fencing token ${lease.fencingToken ?? '?'})` : ''
  return { ok: connected, detail: `${name}: ${connected ? 'connected' : 'not connected'}${holder}` }
}
