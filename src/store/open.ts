// Turns STORE_URL into a store: the one place that knows which URL means which backend.
import type { Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import { createCachedStore } from './cached.js'
import { createMemoryStore } from './memory.js'
import { createRedisStore } from './redis.js'
import { isRedisUrl } from './redis-url.js'
import { isDynamoUrl, parseDynamoUrl } from './dynamodb-url.js'
import { openSqliteStore } from './sqlite.js'
import type { Store } from './store.js'

export const STORE_URL_FORMS =
  'sqlite:<path> (e.g. sqlite:./data/gateway.db, sqlite::memory:), redis://… or rediss://… (optionally ?prefix=<key prefix>), redis+sentinel://host:port,…/<master-name> or rediss+sentinel://…, dynamodb://<table-prefix>?region=<region>[&endpoint=<url>], memory:'

/**
 * DynamoDB has no change feed the gateway could listen to cheaply: a device list read from it is
 * served from memory for up to this long, the bound on how late another instance's registration
 * reaches this one (plus the byUser index's own lag, usually well under a second).
 */
export const DYNAMODB_DEVICE_STALENESS_MS = 2_000

export interface OpenStoreOptions {
  clock?: Clock
  logger?: Logger
  keyPrefix?: string
  /** Redis: REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT_MS (redis.ts). */
  waitReplicas?: number
  waitTimeoutMs?: number
  /** DynamoDB: DYNAMODB_CREATE_TABLES. */
  createTables?: boolean
}

export async function openStore(url: string, o: OpenStoreOptions = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === '') throw new Error(`STORE_URL "sqlite:" needs a path; accepted forms: ${STORE_URL_FORMS}`)
    return openSqliteStore({ path, clock: o.clock, logger: o.logger })
  }
  if (isRedisUrl(url)) {
    // The shared store is wrapped in the device cache that keeps rings going through an outage.
    const redis = createRedisStore({ ...o, url })
    return createCachedStore(redis, { ...(o.clock && { clock: o.clock }), ...(o.logger && { logger: o.logger }) })
  }
  if (isDynamoUrl(url)) {
    // Loaded only here: the AWS SDK is for DynamoDB users alone (dynamodb-url.ts says why).
    const { openDynamoStore } = await import('./dynamodb.js')
    const dynamo = await openDynamoStore({
      target: parseDynamoUrl(url),
      ...(o.clock && { clock: o.clock }),
      ...(o.logger && { logger: o.logger }),
      createTables: o.createTables === true,
    })
    return createCachedStore(dynamo, {
      ...(o.clock && { clock: o.clock }),
      ...(o.logger && { logger: o.logger }),
      staleMs: DYNAMODB_DEVICE_STALENESS_MS,
    })
  }
  if (url === 'memory:') {
    return createMemoryStore({ clock: o.clock })
  }
  // The URL may carry a Redis password: name only its scheme.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(no scheme)'
  throw new Error(`STORE_URL with scheme ${scheme} is not supported; accepted forms: ${STORE_URL_FORMS}`)
}
