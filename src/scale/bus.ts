// The Redis connections that let several gateway instances coordinate: one for commands (lease
// scripts, PUBLISH) and one in subscriber mode (Redis requires a dedicated connection for it).
// Pub/sub is fire-and-forget: a message sent while a subscriber is reconnecting is lost, so every
// user of the bus also reconciles from Redis state when onResubscribed fires.
import type { Redis, RedisOptions } from 'ioredis'
import { closeRedis } from '../store/redis-close.js'
import type { Logger } from '../observability/logger.js'
import { connectRedis, type RedisTarget } from '../store/redis-url.js'

export interface ScaleBus {
  /** The command connection: fails fast while Redis is down (no offline queue). */
  readonly redis: Redis
  readonly keyPrefix: string
  publish(topic: string, message: string): Promise<void>
  /** Subscribes in the background (the subscriber connection waits for Redis if it is down). */
  subscribe(topic: string, handler: (message: string) => void): void
  /** Runs after every (re)connection of the subscriber: messages may have been missed meanwhile. */
  onResubscribed(handler: () => void): void
  close(): Promise<void>
}

export interface ScaleBusOptions {
  /** One server or Sentinel (store/redis-url.ts). */
  target: RedisTarget
  keyPrefix: string
  logger: Logger
  /** Bounds every command, so a lease renewal can never wait past the lease's own validity. */
  commandTimeoutMs: number
  /** How long create() waits for the first connection before going on (the loops retry). */
  connectWaitMs?: number
  redisOptions?: RedisOptions
}

export async function createScaleBus(options: ScaleBusOptions): Promise<ScaleBus> {
  const base: RedisOptions = {
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectTimeout: 5_000,
    // As the store's connections (redis-connection.ts): idle flows stay known to NATs and firewalls.
    keepAlive: 30_000,
    ...options.redisOptions,
  }
  const redis = connectRedis(options.target, {
    ...base,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    // A silent path (no FIN, no reply) is replaced rather than left failing every renewal until the
    // kernel gives up on it (about 15 minutes): the store's connection does the same.
    socketTimeout: options.commandTimeoutMs,
  })
  // The subscriber keeps its offline queue: SUBSCRIBE issued before the first connection waits.
  const sub = connectRedis(options.target, { ...base, maxRetriesPerRequest: null })
  const handlers = new Map<string, (message: string) => void>()
  const resubscribed: (() => void)[] = []
  let down = false
  const onError = (err: Error): void => {
    if (!down) options.logger.warn({ err: err.message }, 'scale bus: Redis unavailable, reconnecting')
    down = true
  }
  redis.on('error', onError)
  sub.on('error', onError)
  redis.on('ready', () => (down = false))
  let firstReady = true
  sub.on('ready', () => {
    down = false
    // ioredis re-subscribes by itself; what was published meanwhile is gone, so reconcile.
    if (!firstReady) for (const h of resubscribed) h()
    firstReady = false
  })
  sub.on('message', (channel: string, message: string) => {
    const h = handlers.get(channel)
    if (!h) return
    try {
      h(message)
    } catch (err) {
      options.logger.error({ err, channel }, 'scale bus: message handler failed')
    }
  })
  await waitReady(redis, options.connectWaitMs ?? 2_000)

  return {
    redis,
    keyPrefix: options.keyPrefix,
    async publish(topic, message) {
      await redis.publish(options.keyPrefix + topic, message)
    },
    subscribe(topic, handler) {
      handlers.set(options.keyPrefix + topic, handler)
      sub
        .subscribe(options.keyPrefix + topic)
        .catch((err: unknown) => options.logger.error({ err, topic }, 'scale bus: subscribe failed'))
    },
    onResubscribed(handler) {
      resubscribed.push(handler)
    },
    async close() {
      await Promise.all([redis, sub].map((c) => closeRedis(c)))
    },
  }
}

function waitReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      redis.off('ready', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    redis.once('ready', done)
  })
}
