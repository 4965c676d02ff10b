// The Redis connections that let several gateway instances coordinate: one for commands (lease
// scripts, PUBLISH) and one in subscriber mode (Redis requires a dedicated connection for it).
// Pub/sub is fire-and-forget: a message sent while a subscriber is reconnecting is lost, so every
// user of the bus also reconciles from Redis state when onResubscribed fires.
import type { Redis, RedisOptions } from 'ioredis'
import { closeRedis } from '../store/redis-close.js'
import { SelfProbe } from '../store/redis-probe.js'
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
  /** How often the subscriber checks that it still hears its own messages (BUS_PROBE_EVERY_MS). */
  probeEveryMs?: number
  /** How long a probe may take to come back (BUS_PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number
  redisOptions?: RedisOptions
}

/**
 * How often the subscriber connection checks that it still hears: it only ever receives, and is
 * idle between an agent's first device and the next, which is the flow NATs and firewalls forget
 * first, without closing it. ioredis then waits on it forever (nothing is owed, so no reply
 * timeout fires), and until the 30 s reconcile, agents registered on other instances go unheard.
 * A probe published on the command connection and not heard within BUS_PROBE_TIMEOUT_MS replaces
 * the subscriber; its reconnection runs the onResubscribed reconciles at once.
 */
export const BUS_PROBE_EVERY_MS = 15_000
const BUS_PROBE_TIMEOUT_MS = 2_000
const PROBE_TOPIC = 'bus:probe'

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
  let subReadyAt = 0
  sub.on('ready', () => {
    down = false
    subReadyAt = Date.now()
    // ioredis re-subscribes by itself; what was published meanwhile is gone, so reconcile.
    if (!firstReady) for (const h of resubscribed) h()
    firstReady = false
  })
  const probeChannel = options.keyPrefix + PROBE_TOPIC
  const probe = new SelfProbe()
  sub.on('message', (channel: string, message: string) => {
    if (channel === probeChannel) return probe.heard(message)
    const h = handlers.get(channel)
    if (!h) return
    try {
      h(message)
    } catch (err) {
      options.logger.error({ err, channel }, 'scale bus: message handler failed')
    }
  })
  sub
    .subscribe(probeChannel)
    .catch((err: unknown) => options.logger.error({ err }, 'scale bus: probe subscribe failed'))
  const timeoutMs = options.probeTimeoutMs ?? BUS_PROBE_TIMEOUT_MS
  const check = async (): Promise<void> => {
    if (probe.running || sub.status !== 'ready' || redis.status !== 'ready') return
    // ioredis says 'ready' just before it re-subscribes: a probe right then proves nothing.
    if (Date.now() - subReadyAt < timeoutMs) return
    // A publish that fails says nothing about the subscriber: the command connection has its own
    // reply timeout, and the next round publishes on its replacement.
    const result = await probe.run((token) => redis.publish(probeChannel, token), timeoutMs).catch(() => 'not sent')
    if (result !== 'lost' || sub.status !== 'ready') return
    options.logger.warn(
      { probeTimeoutMs: timeoutMs },
      'scale bus: the subscriber no longer hears its own probe; replacing its connection',
    )
    sub.disconnect(true)
  }
  const probeTimer = setInterval(() => void check(), options.probeEveryMs ?? BUS_PROBE_EVERY_MS)
  probeTimer.unref()
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
      clearInterval(probeTimer)
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
