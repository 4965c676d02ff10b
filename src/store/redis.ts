// The shared store for several gateway instances. Key layout (all under the key prefix):
//
//   gen_user_id_<userId>   hash   token → Device JSON: one agent's devices (the design guide's name);
//                                 the JSON's deviceId groups them into phones
//   device:<token>         string → userId: which agent a token belongs to (a token has one owner)
//   agents                 set    userIds with at least one device (the topics sources subscribe)
//   device_counts          hash   platform → number of devices (for countDevices without a scan)
//   ring:<key>             hash   {state, record: RingRecord JSON, sent?: epoch ms the ring's pushes were
//                                 handed to the push services}, PX TTL; key = conv:user:participant
//   ring:<key>:cancelled   set    tokens already claimed for a cancel, same TTL as the ring
//   ring:<key>:unsent      set    of those, the ones whose cancel push is not marked sent yet (outbox)
//   rings:open             zset   ring keys in state 'ringing', score = the ring's timeout (expiresAt, epoch ms)
//   cancels:unsent         zset   ring keys with unsent cancels, score = Redis-time ms of the last claim
//   once:<key>             string claimOnce marker, SET NX PX (dedup window, webhook idempotency)
//   delivery:<conv>:<token> hash  field → value: the pushes of a conversation a device was sent, when
//                                 they were accepted and reported (device receipts), PX TTL
//   reach:<userId>         hash   {v: version, doc: the agent's reachability JSON}, PX TTL
//   reach:agents           zset   userIds with a reach document, score = Redis-time ms when it expires
//   devices:changed        pub/sub channel: the userId of every agent whose devices changed
//
// Device keys never expire (they live until removed or pruned); everything ring- or receipt-related has a TTL.
// TTLs run on Redis time (PX); the expiresAt inside records comes from the injected clock.
// Every read-then-write is a Lua script (redis-scripts.ts), atomic across instances.
import type { Writable } from 'node:stream'
import { randomUUID } from 'node:crypto'
import type { Redis, RedisOptions } from 'ioredis'
import { closeRedis } from './redis-close.js'
import type { Clock } from '../clock.js'
import { ringKey, type Device, type RingRecord, type RingState } from '../model.js'
import { silentLogger, type Logger } from '../observability/logger.js'
import { SCRIPTS, type ScriptName } from './redis-scripts.js'
import { connectRedis, DEFAULT_REDIS_KEY_PREFIX, parseRedisUrl } from './redis-url.js'
import {
  StoreError,
  StoreUnavailableError,
  type DeviceChangeFeed,
  type DeviceRegistration,
  type DeviceWatch,
  type DeviceWatcher,
  type Store,
} from './store.js'
import { ORPHAN_CANCEL_TTL_MS } from './ttl.js'

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
}

type ScriptFn = (...keysAndArgs: (string | number)[]) => Promise<unknown>
type RedisWithScripts = Redis & Record<ScriptName, ScriptFn>

// Replies that mean the server cannot serve right now (loading, failover) rather than a bad command.
const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN)\b/

export { DEFAULT_REDIS_KEY_PREFIX }

/**
 * What a routing event costs in Redis: the agent's devices (HVALS) and the ring's scripts. They are
 * written as soon as they are issued, never in a pipeline (ioredis's auto-pipelining, or ours):
 * ioredis sends a script inside a pipeline with a stream object made for that pipeline, and keeps
 * that object in a WeakSet (Script.js, which scripts each socket has loaded) that only a full GC
 * clears. Until then the pipeline, its commands, their promises and whatever awaits them (the
 * ring, its pushes, their outcomes) survive every young-generation collection and are promoted.
 * Commands sent on their own are keyed by the long-lived socket instead. What survives a scavenge
 * sets the length of the garbage-collection pauses, and each pause holds up every frame in flight.
 */
const EVENT_PATH_COMMANDS: readonly (ScriptName | 'hvals')[] = [
  'hvals',
  'pgwCreateRing',
  'pgwTransitionRing',
  'pgwClaimCancels',
  'pgwEndRing',
  'pgwWriteBehind',
]

/**
 * Writes made after the fact, never on a push's path: the outbox marks (markSent, after the push
 * left) and the delivery records of device receipts (noteDelivery, several per push). Those made
 * within WRITE_BEHIND_MS leave together as one script call (one command, not a pipeline: see
 * EVENT_PATH_COMMANDS): each command costs the gateway a socket write and a reply to parse, and at
 * 2,000 frames/s these were most of the commands it sent. A mark reaches Redis at most
 * WRITE_BEHIND_MS later; recovery only resends claims unmarked for seconds (the engine's grace). A
 * delivery record is read on this instance only after the batch (getDelivery flushes it first, and
 * one connection keeps commands in order); another instance sees it at most WRITE_BEHIND_MS later,
 * far less than any push takes to reach a phone and come back as a receipt.
 */
export const WRITE_BEHIND_MS = 5
const WRITE_BEHIND_MAX = 256

interface PendingMark {
  key: string
  at: number
  ring: boolean
  tokens: string[]
  resolve: () => void
  reject: (err: unknown) => void
}

interface PendingDelivery {
  key: string
  ttlMs: number
  pairs: string[]
  resolve: () => void
  reject: (err: unknown) => void
}

/** How long the device feed waits for its own probe message before giving up on the channel. */
const FEED_PROBE_TIMEOUT_MS = 2_000
const PROBE = 'probe:'

export function createRedisStore(o: RedisStoreOptions): Store & DeviceChangeFeed {
  const target = parseRedisUrl(o.url, o.keyPrefix)
  const prefix = target.keyPrefix
  const logger = o.logger ?? silentLogger()
  const connectTimeoutMs = o.connectTimeoutMs ?? 5_000
  const waitReplicas = o.waitReplicas ?? 0
  const waitTimeoutMs = o.waitTimeoutMs ?? 1_000
  const redis = connectRedis(target, {
    // Fail fast while Redis is down (callers answer 503) and reconnect in the background.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: connectTimeoutMs,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    // The API's commands are auto-pipelined: under many concurrent requests they leave in batches,
    // fewer syscalls. The event path's are not (EVENT_PATH_COMMANDS): ioredis runs one auto-pipeline
    // at a time, so a ring's commands waited behind the batch in flight, and each batch builds a
    // Pipeline object whose garbage outlived the young generation.
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: [...EVENT_PATH_COMMANDS],
    ...o.redisOptions,
  }) as RedisWithScripts
  for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def)

  // The event path's commands skip ioredis's auto-pipeline (above), so each would be its own socket
  // write. Those issued in the same tick (the frames of one WebSocket read, the rings of a burst)
  // are held until the tick's end and leave in one write: what auto-pipelining saves, without its
  // Pipeline objects. Commands are written as they are issued, so their order is unchanged.
  let corked: Writable | undefined
  function coalesceWrites(): void {
    const stream = (redis as unknown as { stream?: Writable }).stream
    if (corked !== undefined || stream === undefined || redis.status !== 'ready') return
    corked = stream
    stream.cork()
    process.nextTick(() => {
      corked = undefined
      stream.uncork()
    })
  }

  let everReady = false
  let down = false
  redis.on('ready', () => {
    if (down) logger.info({ prefix }, 'Redis store reconnected')
    everReady = true
    down = false
  })
  // Without a listener ioredis prints every reconnect failure; log the first of each outage only.
  redis.on('error', (err: Error) => {
    if (!down) logger.warn({ err: err.message, prefix }, 'Redis store unavailable; reconnecting in the background')
    down = true
  })

  // With the offline queue off, a call made right after start would fail before the first
  // connection; wait for it (or its first failure) once. Later outages fail at once.
  async function connected(): Promise<void> {
    if (redis.status === 'ready' || everReady) return
    if (redis.status === 'end') throw new StoreUnavailableError('Redis store is closed')
    if (down) throw new StoreUnavailableError('Redis store unavailable: not connected yet')
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        redis.off('ready', onReady)
        redis.off('error', onError)
        if (err) reject(err)
        else resolve()
      }
      const onReady = (): void => done()
      const onError = (err: Error): void => done(err)
      const timer = setTimeout(() => done(new Error(`no connection within ${connectTimeoutMs} ms`)), connectTimeoutMs)
      redis.once('ready', onReady)
      redis.once('error', onError)
    })
  }

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      // Once connected, fn runs synchronously in the caller's turn: a mark made just before
      // close() is queued before close() flushes the batch.
      if (!everReady) await connected()
      return await fn()
    } catch (err) {
      throw classify(err)
    }
  }

  /** `call` for a write the caller acts on: with REDIS_WAIT_REPLICAS, only once replicas have it. */
  function write<T>(fn: () => Promise<T>): Promise<T> {
    if (waitReplicas === 0) return call(fn)
    return call(async () => {
      const value = await fn()
      // WAIT covers every earlier write on this connection, ours included.
      const acked = await redis.wait(waitReplicas, waitTimeoutMs)
      if (acked < waitReplicas)
        throw new StoreUnavailableError(
          `Redis store: written, but ${acked} of ${waitReplicas} replicas confirmed it within ${waitTimeoutMs} ms`,
        )
      return value
    })
  }

  const k = {
    user: (userId: string) => `${prefix}gen_user_id_${userId}`,
    token: (token: string) => `${prefix}device:${token}`,
    agents: `${prefix}agents`,
    counts: `${prefix}device_counts`,
    ring: (key: string) => `${prefix}ring:${key}`,
    cancelled: (key: string) => `${prefix}ring:${key}:cancelled`,
    unsent: (key: string) => `${prefix}ring:${key}:unsent`,
    unsentIndex: `${prefix}cancels:unsent`,
    open: `${prefix}rings:open`,
    once: (key: string) => `${prefix}once:${key}`,
    delivery: (conversationId: string, token: string) => `${prefix}delivery:${conversationId}:${token}`,
    reach: (userId: string) => `${prefix}reach:${userId}`,
    reachAgents: `${prefix}reach:agents`,
  }

  let marks: PendingMark[] = []
  let deliveries: PendingDelivery[] = []
  let flushTimer: NodeJS.Timeout | undefined
  function flushWrites(): void {
    clearTimeout(flushTimer)
    flushTimer = undefined
    const markBatch = marks
    const deliveryBatch = deliveries
    marks = []
    deliveries = []
    if (markBatch.length === 0 && deliveryBatch.length === 0) return
    const keys: string[] = [k.unsentIndex]
    const args: (string | number)[] = [markBatch.length]
    for (const m of markBatch) {
      keys.push(k.ring(m.key), k.unsent(m.key))
      args.push(m.key, m.at, m.ring ? '1' : '0', m.tokens.length, ...m.tokens)
    }
    for (const d of deliveryBatch) {
      keys.push(d.key)
      args.push(d.ttlMs, d.pairs.length / 2, ...d.pairs)
    }
    coalesceWrites()
    redis.pgwWriteBehind(keys.length, ...keys, ...args).then(
      () => {
        for (const m of markBatch) m.resolve()
        for (const d of deliveryBatch) d.resolve()
      },
      (err: unknown) => {
        for (const m of markBatch) m.reject(err)
        for (const d of deliveryBatch) d.reject(err)
      },
    )
  }
  function scheduleFlush(): void {
    if (marks.length + deliveries.length >= WRITE_BEHIND_MAX) flushWrites()
    else flushTimer ??= setTimeout(flushWrites, WRITE_BEHIND_MS)
  }
  function queueMark(key: string, at: number, ring: boolean, tokens: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      // A plain literal: a spread-and-extend object costs V8 far more (see outcome() in dispatcher.ts).
      marks.push({ key, at, ring, tokens, resolve, reject })
      scheduleFlush()
    })
  }
  function queueDelivery(key: string, ttlMs: number, pairs: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      deliveries.push({ key, ttlMs, pairs, resolve, reject })
      scheduleFlush()
    })
  }

  /**
   * Listens on <prefix>devices:changed over a second connection (a subscribed connection can send
   * nothing else). It counts as listening only once a probe it published itself has come back: an
   * ACL that forbids the channel, or anything else that loses messages, leaves it not listening,
   * and callers then read every device list from Redis. Each (re)connection is a gap.
   */
  const feeds = new Set<DeviceWatch>()
  function watchDevices(watcher: DeviceWatcher): DeviceWatch {
    const channel = `${prefix}devices:changed`
    const sub = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: false, enableAutoPipelining: false })
    let listening = false
    let stopped = false
    let warned = false
    let probe: { token: string; heard: () => void } | undefined
    sub.on('message', (from: string, message: string) => {
      if (from !== channel) return
      if (message.startsWith(PROBE)) {
        if (message === probe?.token) probe.heard()
        return
      }
      watcher.changed(message)
    })
    sub.on('error', (err: Error) => logger.debug({ err: err.message, prefix }, 'Redis device feed connection error'))
    sub.on('close', () => {
      if (!listening) return
      listening = false
      watcher.gap()
    })
    sub.on('ready', () => {
      const token = `${PROBE}${randomUUID()}`
      void (async () => {
        try {
          await sub.subscribe(channel)
          const heard = new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`no probe back within ${FEED_PROBE_TIMEOUT_MS} ms`)),
              FEED_PROBE_TIMEOUT_MS,
            )
            timer.unref()
            probe = {
              token,
              heard: () => {
                clearTimeout(timer)
                resolve()
              },
            }
          })
          // Awaited below; a publish that fails first must not leave its timeout unhandled.
          heard.catch(() => undefined)
          await redis.publish(channel, token)
          await heard
          if (stopped || sub.status !== 'ready') return
          listening = true
          watcher.gap()
          if (warned) logger.info({ prefix }, 'Redis device feed listening again: device lists are cached in memory')
          warned = false
        } catch (err) {
          if (stopped || sub.status !== 'ready') return // the connection went; its next 'ready' tries again
          if (!warned)
            logger.warn(
              { err: err instanceof Error ? err.message : String(err), channel },
              'Redis device feed unavailable: device lists are read from Redis on every event',
            )
          warned = true
        } finally {
          if (probe?.token === token) probe = undefined
        }
      })()
    })
    const watch: DeviceWatch = {
      listening: () => listening,
      stop: async () => {
        stopped = true
        listening = false
        feeds.delete(watch)
        sub.disconnect()
      },
    }
    feeds.add(watch)
    return watch
  }

  function upsert(device: Device): Promise<DeviceRegistration> {
    return write(async () => {
      const [previous, first, tokens] = (await redis.pgwUpsertDevice(
        k.token(device.token),
        k.user(device.userId),
        k.counts,
        k.agents,
        prefix,
        device.token,
        device.userId,
        JSON.stringify(device),
        device.platform,
      )) as [string, number, number]
      return {
        device,
        ...(previous !== '' && previous !== device.userId ? { movedFrom: previous } : {}),
        firstOfAgent: first === 1,
        agentTokens: tokens,
      }
    })
  }

  async function readRing(key: string): Promise<RingRecord | undefined> {
    const res = await redis.multi().hmget(k.ring(key), 'state', 'record', 'sent').smembers(k.cancelled(key)).exec()
    return toRing(res)
  }

  return {
    kind: 'redis',
    watchDevices,
    upsertDevice: async (device: Device) => (await upsert(device)).device,
    registerDevice: upsert,
    listDevices: (userId) =>
      call(async () => {
        coalesceWrites()
        return (await redis.hvals(k.user(userId))).map((j) => JSON.parse(j) as Device)
      }),
    getDevice: (token) =>
      call(async () => {
        const json = await redis.pgwGetDevice(k.token(token), prefix, token)
        return typeof json === 'string' ? (JSON.parse(json) as Device) : undefined
      }),
    removeDevice: (userId, token) =>
      write(async () => (await redis.pgwRemoveDevice(k.token(token), k.counts, k.agents, prefix, token, userId)) === 1),
    removePhone: (userId, deviceId) =>
      write(
        async () =>
          (await redis.pgwRemovePhone(k.user(userId), k.counts, k.agents, prefix, userId, deviceId)) as string[],
      ),
    pruneToken: (token, registeredBefore) =>
      write(
        async () =>
          (await redis.pgwPruneToken(k.token(token), k.counts, k.agents, prefix, token, registeredBefore ?? '')) === 1,
      ),
    listUserIds: () => call(() => redis.smembers(k.agents)),
    countDevices: () =>
      call(async () => {
        const byPlatform: Record<string, number> = {}
        let total = 0
        for (const [platform, n] of Object.entries(await redis.hgetall(k.counts))) {
          const count = Number(n)
          if (count <= 0) continue
          byPlatform[platform] = count
          total += count
        }
        return { total, byPlatform }
      }),
    createRing: (record, ttlMs) =>
      write(async () => {
        const key = ringKey(record)
        coalesceWrites()
        const created = await redis.pgwCreateRing(
          k.ring(key),
          k.cancelled(key),
          k.open,
          k.unsent(key),
          key,
          record.state,
          JSON.stringify(record),
          ttlMs,
          record.expiresAt,
        )
        return created === 1
      }),
    getRing: (key) => call(() => readRing(key)),
    transitionRing: (key: string, from: RingState[], to: RingState, ttlMs: number) =>
      write(async () =>
        transitioned(
          await redis.pgwTransitionRing(k.ring(key), k.cancelled(key), k.open, k.unsent(key), key, to, ttlMs, ...from),
        ),
      ),
    endRing: (key, from, to, ttlMs, guess) =>
      write(async () => {
        coalesceWrites()
        const res = await redis.pgwEndRing(
          k.ring(key),
          k.cancelled(key),
          k.open,
          k.unsent(key),
          k.unsentIndex,
          key,
          to,
          ttlMs,
          ORPHAN_CANCEL_TTL_MS,
          from.length,
          ...from,
          guess.ifRung.length,
          ...guess.ifRung,
          ...guess.tokens,
        )
        if (!Array.isArray(res)) return undefined
        const before = transitioned(res[0])
        if (before === undefined) return undefined
        return Array.isArray(res[1]) ? { before, claimed: res[1] as string[] } : { before }
      }),
    claimCancels: (key, tokens, silent = []) =>
      write(async () => {
        if (tokens.length + silent.length === 0) return []
        return (await redis.pgwClaimCancels(
          k.ring(key),
          k.cancelled(key),
          k.unsent(key),
          k.unsentIndex,
          key,
          ORPHAN_CANCEL_TTL_MS,
          tokens.length,
          ...tokens,
          ...silent,
        )) as string[]
      }),
    markSent: (key, sent, at) =>
      call(async () => {
        const tokens = sent.cancelTokens ?? []
        if (sent.ring !== true && tokens.length === 0) return
        await queueMark(key, at, sent.ring === true, tokens)
      }),
    listUnsentCancels: (olderThanMs) =>
      call(async () => {
        const keys = (await redis.pgwUnsentCancelKeys(k.unsentIndex, prefix, olderThanMs)) as string[]
        if (keys.length === 0) return []
        const batch = redis.multi()
        for (const key of keys)
          batch.hmget(k.ring(key), 'state', 'record', 'sent').smembers(k.cancelled(key)).smembers(k.unsent(key))
        const res = (await batch.exec()) ?? []
        const out: Array<{ ring: RingRecord; tokens: string[] }> = []
        for (let i = 0; i < res.length; i += 3) {
          const ring = toRing(res.slice(i, i + 2))
          const [err, tokens] = res[i + 2] ?? []
          if (err) throw err
          if (ring && Array.isArray(tokens) && tokens.length > 0) out.push({ ring, tokens: tokens as string[] })
        }
        return out
      }),
    listOpenRings: (dueBy) =>
      call(async () => {
        const keys = (await redis.pgwOpenRingKeys(k.open, prefix, dueBy ?? '+inf')) as string[]
        if (keys.length === 0) return []
        const batch = redis.multi()
        for (const key of keys) batch.hmget(k.ring(key), 'state', 'record', 'sent').smembers(k.cancelled(key))
        const res = (await batch.exec()) ?? []
        const out: RingRecord[] = []
        for (let i = 0; i < res.length; i += 2) {
          const r = toRing(res.slice(i, i + 2))
          if (r?.state === 'ringing') out.push(r)
        }
        return out
      }),
    claimOnce: (key, ttlMs) => write(async () => (await redis.set(k.once(key), '1', 'PX', ttlMs, 'NX')) === 'OK'),
    noteDelivery: (conversationId, token, fields, ttlMs) =>
      call(async () => {
        const pairs: string[] = []
        for (const name in fields) pairs.push(name, fields[name] as string)
        if (pairs.length > 0) await queueDelivery(k.delivery(conversationId, token), ttlMs, pairs)
      }),
    getDelivery: (conversationId, token) =>
      call(async () => {
        // This instance's own records still waiting for their batch go first (same connection, in order).
        if (deliveries.length > 0) flushWrites()
        const fields = await redis.hgetall(k.delivery(conversationId, token))
        return Object.keys(fields).length === 0 ? undefined : fields
      }),
    getReach: (userId) =>
      call(async () => {
        const [version, doc] = await redis.hmget(k.reach(userId), 'v', 'doc')
        return version && doc ? { doc, version: Number(version) } : undefined
      }),
    putReach: (userId, doc, version, ttlMs) =>
      write(async () => (await redis.pgwPutReach(k.reach(userId), k.reachAgents, version, doc, ttlMs, userId)) === 1),
    listReachUsers: () => call(async () => (await redis.pgwReachUsers(k.reachAgents)) as string[]),
    ping: () =>
      call(async () => {
        await redis.ping()
      }),
    close: async () => {
      // Writes still waiting for their batch go out ahead of QUIT, on the same connection.
      flushWrites()
      await Promise.all([...feeds].map((f) => f.stop()))
      await closeRedis(redis)
    },
  }
}

/** pgwTransitionRing's answer (also the first part of pgwEndRing's): the record before the move. */
function transitioned(res: unknown): RingRecord | undefined {
  if (!Array.isArray(res)) return undefined
  const [state, record, sent, ...cancelled] = res as string[]
  return record === undefined || state === undefined ? undefined : merge(record, state, cancelled, sent)
}

function merge(record: string, state: string, cancelled: string[], sent?: string | null): RingRecord {
  const r = JSON.parse(record) as RingRecord
  r.state = state as RingState
  if (sent) r.dispatchedAt = Number(sent)
  for (const t of cancelled) if (!r.cancelledTokens.includes(t)) r.cancelledTokens.push(t)
  return r
}

function toRing(res: [Error | null, unknown][] | null): RingRecord | undefined {
  const [hm, members] = res ?? []
  if (hm?.[0]) throw hm[0]
  if (members?.[0]) throw members[0]
  const [state, record, sent] = (hm?.[1] ?? []) as (string | null)[]
  if (typeof state !== 'string' || typeof record !== 'string') return undefined
  return merge(record, state, (members?.[1] ?? []) as string[], sent)
}

/**
 * Every failure reaches callers as a StoreError (the API answers 503 + Retry-After),
 * whose cause keeps the name, message and stack of ioredis's error but not its `command`: that holds
 * the command's arguments (device tokens, Web Push endpoints and keys) and must reach no log line.
 */
function classify(err: unknown): unknown {
  if (err instanceof StoreError) return err
  const e = err instanceof Error ? err : new Error(String(err))
  const cause = Object.assign(new Error(e.message), { name: e.name, stack: e.stack })
  // A ReplyError is Redis refusing a command (a bug, e.g. a Lua error, or a key of the wrong type)
  // unless it signals a transient state: the request fails the same way, but it is no outage.
  const refused = e.name === 'ReplyError' && !TRANSIENT_REPLY.test(e.message)
  return refused
    ? new StoreError(`Redis store refused a command: ${e.message}`, { cause })
    : new StoreUnavailableError(`Redis store unavailable: ${e.message}`, { cause })
}
