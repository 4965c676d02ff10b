// Turns STORE_URL into a store: the one place that knows which URL means which backend.
import type { Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import { createCachedStore } from './cached.js'
import { createMemoryStore } from './memory.js'
import { createRedisStore } from './redis.js'
import { isRedisUrl, parseRedisUrl, type RedisTarget } from './redis-url.js'
import { isDynamoUrl, parseDynamoUrl, type DynamoTarget } from './dynamodb-url.js'
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
  /** Redis: REDIS_REPLY_TIMEOUT_MS (redis.ts). */
  replyTimeoutMs?: number
  /** DynamoDB: DYNAMODB_CREATE_TABLES. */
  createTables?: boolean
}

/**
 * Where STORE_URL points, parsed once: openStore opens it, and the composition root tells the scale
 * module from it whether the store is shared (Redis, DynamoDB) and where.
 */
export type StoreLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'redis'; target: RedisTarget }
  | { kind: 'dynamodb'; target: DynamoTarget }
  | { kind: 'memory' }

/** Parses STORE_URL; `keyPrefix` (tests, benchmarks) overrides a Redis URL's own prefix. */
export function parseStoreUrl(url: string, keyPrefix?: string): StoreLocation {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === '') throw new Error(`STORE_URL "sqlite:" needs a path; accepted forms: ${STORE_URL_FORMS}`)
    return { kind: 'sqlite', path }
  }
  if (isRedisUrl(url)) return { kind: 'redis', target: parseRedisUrl(url, keyPrefix) }
  if (isDynamoUrl(url)) return { kind: 'dynamodb', target: parseDynamoUrl(url) }
  if (url === 'memory:') return { kind: 'memory' }
  // The URL may carry a Redis password: name only its scheme.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(no scheme)'
  throw new Error(`STORE_URL with scheme ${scheme} is not supported; accepted forms: ${STORE_URL_FORMS}`)
}

export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const { clock, logger } = options
  const location = parseStoreUrl(url, options.keyPrefix)
  switch (location.kind) {
    case 'sqlite':
      return openSqliteStore({ path: location.path, clock, logger })
    case 'redis': {
      // The shared store is wrapped in the device cache that keeps rings going through an outage.
      const redis = createRedisStore({ ...options, url })
      return createCachedStore(redis, { ...(clock && { clock }), ...(logger && { logger }) })
    }
    case 'dynamodb': {
      // Loaded only here: the AWS SDK is for DynamoDB users alone (dynamodb-url.ts says why).
      const { openDynamoStore } = await import('./dynamodb.js')
      const dynamo = await openDynamoStore({
        target: location.target,
        ...(clock && { clock }),
        ...(logger && { logger }),
        createTables: options.createTables === true,
      })
      return createCachedStore(dynamo, {
        ...(clock && { clock }),
        ...(logger && { logger }),
        staleMs: DYNAMODB_DEVICE_STALENESS_MS,
      })
    }
    case 'memory':
      return createMemoryStore({ clock })
  }
}
