// The shared store for several gateway instances. Key layout (all under the key prefix):
//
//   gen_user_id_<userId>   hash   token → Device JSON: one agent's devices (the design guide's name);
//                                 the JSON's deviceId groups them into phones
//   device:<token>         string → userId: which agent a token belongs to (a token has one owner)
//   agents                 set    userIds with at least one device (the topics sources subscribe)
//   device_counts          hash   platform → number of devices (for countDevices without a scan)
//   ring:<key>             hash   {state, record: RingRecord JSON, w: the creating call's writer id,
//                                 sent?: epoch ms the ring's pushes were handed to the push services},
//                                 PX TTL; key = conv:user:participant
//   ring:<key>:cancelled   set    tokens already claimed for a cancel, same TTL as the ring
//   ring:<key>:unsent      set    of those, the ones whose cancel push is not marked sent yet (outbox)
//   rings:open             zset   ring keys in state 'ringing', score = the ring's timeout (expiresAt, epoch ms)
//   cancels:unsent         zset   ring keys with unsent cancels, score = Redis-time ms of the last claim
//   once:<key>             string claimOnce marker: the claiming call's writer id, SET NX PX (dedup
//                                 window, webhook idempotency)
//   delivery:<conv>:<token> hash  field → value: the pushes of a conversation a device was sent, when
//                                 they were accepted and reported (device receipts), PX TTL
//   reach:<userId>         hash   {v: version, doc: the agent's reachability JSON}, PX TTL
//   reach:agents           zset   userIds with a reach document, score = Redis-time ms when it expires
//   devices:changed        pub/sub channel: the userId of every agent whose devices changed
//
// Device keys never expire (they live until removed or pruned); everything ring- or receipt-related has a TTL.
// TTLs run on Redis time (PX); the expiresAt inside records comes from the injected clock.
// Every read-then-write is a Lua script (redis-scripts.ts), atomic across instances.
// The parts, one per concern, share one connection (redis-connection.ts): devices (redis-devices.ts),
// rings, cancel claims, the outbox and once-only claims (redis-rings.ts), delivery records and
// reachability (redis-reach.ts), the write-behind batch (redis-write-behind.ts) and the device
// change feed (redis-device-feed.ts).
import type { Clock } from '../clock.js'
import { silentLogger, type Logger } from '../observability/logger.js'
import type { RedisOptions } from 'ioredis'
import { closeRedis } from './redis-close.js'
import { DEFAULT_REPLY_TIMEOUT_MS, RedisConnection } from './redis-connection.js'
import { RedisDeviceFeeds } from './redis-device-feed.js'
import { redisDeviceStore } from './redis-devices.js'
import { redisReachStore } from './redis-reach.js'
import { redisRingStore } from './redis-rings.js'
import { DEFAULT_REDIS_KEY_PREFIX, parseRedisUrl } from './redis-url.js'
import { WriteBehind } from './redis-write-behind.js'
import type { DeviceChangeFeed, Store } from './store.js'

export interface RedisStoreOptions {
  /** redis://[user:password@]host:port[/db], rediss://… for TLS, or a redis+sentinel:// URL (redis-url.ts). */
  url: string
  keyPrefix?: string
  /** Accepted for symmetry with the other stores; ring TTLs run on Redis time. */
  clock?: Clock
  logger?: Logger
  /** How long a call made before the first connection waits for it. */
  connectTimeoutMs?: number
  /** Extra ioredis options (TLS `ca` for rediss:// to a private CA, for example). */
  redisOptions?: RedisOptions
  /**
   * REDIS_WAIT_REPLICAS: after every write the gateway acts on, WAIT until this many replicas have
   * it. Replication is asynchronous, so a write the primary acknowledged just before a failover can
   * vanish with it; WAIT bounds that to writes not yet answered. 0 (default) does not wait.
   */
  waitReplicas?: number
  /** How long WAIT may take; fewer replicas by then answer StoreUnavailableError (the API's 503). */
  waitTimeoutMs?: number
  /**
   * REDIS_REPLY_TIMEOUT_MS: a connection that owes replies and receives nothing for this long is
   * taken for dead, closed and reconnected (redis-connection.ts). Must exceed waitTimeoutMs.
   */
  replyTimeoutMs?: number
  /** How often the device feed checks that it still hears its channel (redis-device-feed.ts); tests shorten it. */
  feedProbeEveryMs?: number
}

export { DEFAULT_REDIS_KEY_PREFIX }
export { WRITE_BEHIND_MS } from './redis-write-behind.js'

export function createRedisStore(options: RedisStoreOptions): Store & DeviceChangeFeed {
  const connection = new RedisConnection({
    target: parseRedisUrl(options.url, options.keyPrefix),
    logger: options.logger ?? silentLogger(),
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    waitReplicas: options.waitReplicas ?? 0,
    waitTimeoutMs: options.waitTimeoutMs ?? 1_000,
    replyTimeoutMs: options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS,
    ...(options.redisOptions ? { redisOptions: options.redisOptions } : {}),
  })
  const writeBehind = new WriteBehind(connection)
  const feeds = new RedisDeviceFeeds(connection, options.feedProbeEveryMs)
  return {
    kind: 'redis',
    watchDevices: (watcher) => feeds.watch(watcher),
    ...redisDeviceStore(connection),
    ...redisRingStore(connection, writeBehind),
    ...redisReachStore(connection, writeBehind),
    ping: () =>
      connection.call(async () => {
        await connection.redis.ping()
      }),
    close: async () => {
      // Writes still waiting for their batch go out ahead of QUIT, on the same connection.
      writeBehind.flush()
      await feeds.stopAll()
      await closeRedis(connection.redis)
    },
  }
}
