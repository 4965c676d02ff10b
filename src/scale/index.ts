// Scale-out wiring for the composition root: with a Redis or DynamoDB store, a WebSocket source runs
// under the source lease (one instance listens, the others stand by). The webhook source needs no lease: every
// instance serves it, and the ring store's SET NX dedup makes a retried delivery ring once.
import type { Config } from '../config.js'
import type { Logger } from '../observability/logger.js'
import type { SourceStatus } from '../sources/source.js'
import type { DeviceStore } from '../store/store.js'
import { isRedisUrl, parseRedisUrl } from '../store/redis-url.js'
import { isDynamoUrl, parseDynamoUrl } from '../store/dynamodb-url.js'
import { createScaleBus } from './bus.js'
import { LeasedSource } from './leased-source.js'

export { LeasedSource } from './leased-source.js'
export { RedisLease, type LeaseState } from './lease.js'

/** A LeasedSource when the store is shared (Redis, DynamoDB) and the source is a WebSocket one; otherwise undefined. */
export async function leaseForSource(o: {
  config: Config
  store: DeviceStore
  logger: Logger
  keyPrefix?: string
}): Promise<LeasedSource | undefined> {
  const { config } = o
  if (config.genesys.eventSource === 'webhook') return undefined
  if (isDynamoUrl(config.storeUrl)) {
    // Loaded only with a DynamoDB store: the AWS SDK is not every user's start-up cost.
    const { dynamoCoordination } = await import('./dynamo-lease.js')
    const coordination = dynamoCoordination({ target: parseDynamoUrl(config.storeUrl), name: 'source' })
    return new LeasedSource({
      backend: coordination.backend,
      changes: coordination.changes,
      instanceId: config.instanceId,
      ttlMs: config.scale.leaseTtlMs,
      logger: o.logger.child({ component: 'lease' }),
      listUserIds: () => o.store.listUserIds(),
      hasDevices: async (userId) => (await o.store.listDevices(userId)).length > 0,
      onStopped: async () => coordination.close(),
    })
  }
  if (!isRedisUrl(config.storeUrl)) return undefined
  const target = parseRedisUrl(config.storeUrl, o.keyPrefix)
  const logger = o.logger.child({ component: 'lease' })
  // A renewal must answer well inside the lease, or the holder gives the lease up anyway.
  const bus = await createScaleBus({
    target,
    keyPrefix: target.keyPrefix,
    logger,
    commandTimeoutMs: Math.max(200, Math.round(config.scale.leaseTtlMs / 5)),
  })
  const leased = new LeasedSource({
    bus,
    instanceId: config.instanceId,
    ttlMs: config.scale.leaseTtlMs,
    logger,
    listUserIds: () => o.store.listUserIds(),
    hasDevices: async (userId) => (await o.store.listDevices(userId)).length > 0,
    onStopped: () => bus.close(),
  })
  return leased
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
