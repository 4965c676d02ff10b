// The Redis store's connection, shared by its parts (redis-devices.ts, redis-rings.ts,
// redis-reach.ts, redis-device-feed.ts): the client with the scripts defined, the key names, and
// `call`/`write`, through which every operation reaches Redis so failures arrive as StoreError.
import type { Writable } from 'node:stream'
import type { Redis, RedisOptions } from 'ioredis'
import type { Logger } from '../observability/logger.js'
import { defineScripts, type ScriptName } from './redis-scripts.js'
import { connectRedis, type RedisTarget } from './redis-url.js'
import { StoreError, StoreUnavailableError, UnreplicatedWriteError } from './store.js'

// Replies that mean the server cannot serve right now (loading, failover) rather than a bad command.
const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN)\b/

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

/** REDIS_REPLY_TIMEOUT_MS's default: far above a healthy reply (well under 1 ms on a LAN), far below a ring's 30 s. */
export const DEFAULT_REPLY_TIMEOUT_MS = 2_000

export interface RedisConnectionOptions {
  target: RedisTarget
  logger: Logger
  connectTimeoutMs: number
  waitReplicas: number
  waitTimeoutMs: number
  replyTimeoutMs: number
  redisOptions?: RedisOptions
}

export type RedisKeys = ReturnType<typeof redisKeys>

/** The store's key names under `prefix` (the layout is described in redis.ts). */
export function redisKeys(prefix: string) {
  return {
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
    devicesChanged: `${prefix}devices:changed`,
  }
}

export class RedisConnection {
  readonly redis: Redis
  readonly prefix: string
  readonly keys: RedisKeys
  readonly logger: Logger
  private readonly connectTimeoutMs: number
  private readonly waitReplicas: number
  private readonly waitTimeoutMs: number
  private corked: Writable | undefined
  /** When the corked batch leaves: at the end of its tick, or at the loop turn's check phase. */
  private flushAt: 'tick' | 'check' | undefined
  /** A batch of a ring's path already left at the end of its tick in this turn of the loop. */
  private ringPathThisTurn = false
  private readonly uncork = (): void => {
    const stream = this.corked
    if (stream === undefined) return
    this.corked = undefined
    this.flushAt = undefined
    stream.uncork()
  }
  private readonly turnEnded = (): void => {
    this.ringPathThisTurn = false
  }
  /** Settles when the last WAIT sent is answered: the connection's later commands queue behind it. */
  private waitOut: Promise<unknown> = Promise.resolve()
  /** The WAIT to send once waitOut is answered, shared by every write that finished meanwhile. */
  private waitNext: Promise<number> | undefined
  /** Writes the primary took and the replicas did not confirm in time, since the last confirmed one. */
  private unconfirmedWrites = 0
  private everReady = false
  private down = false
  private firstConnection: Promise<void> | undefined

  constructor(options: RedisConnectionOptions) {
    this.prefix = options.target.keyPrefix
    this.keys = redisKeys(this.prefix)
    this.logger = options.logger
    this.connectTimeoutMs = options.connectTimeoutMs
    this.waitReplicas = options.waitReplicas
    this.waitTimeoutMs = options.waitTimeoutMs
    this.redis = connectRedis(options.target, {
      // Fail fast while Redis is down (callers answer 503) and reconnect in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: options.connectTimeoutMs,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
      // A path that goes silent (a NAT or firewall forgot the flow: bytes vanish, nothing is closed)
      // would hold every command, and so every ring decision, until the kernel gives up on the
      // connection, about 15 minutes. ioredis's socketTimeout destroys a connection that owes
      // replies and has received nothing for this long; it reconnects, and the commands that were
      // waiting are sent again on the new connection (maxRetriesPerRequest: once).
      socketTimeout: options.replyTimeoutMs,
      // TCP keepalive probes after 30 s of silence (ioredis's default leaves the kernel's, 2 hours):
      // they keep an idle connection in the tables of NATs and firewalls, which forget idle flows
      // after a few minutes, and make the kernel notice a peer that is gone. The device feed's
      // subscriber connection (a duplicate of this one) is idle for as long as no device changes.
      keepAlive: 30_000,
      // The API's commands are auto-pipelined: under many concurrent requests they leave in batches,
      // fewer syscalls. The event path's are not (EVENT_PATH_COMMANDS): ioredis runs one auto-pipeline
      // at a time, so a ring's commands waited behind the batch in flight, and each batch builds a
      // Pipeline object whose garbage outlived the young generation.
      enableAutoPipelining: true,
      autoPipeliningIgnoredCommands: [...EVENT_PATH_COMMANDS],
      ...options.redisOptions,
    })
    defineScripts(this.redis)
    const { redis, prefix, logger } = this
    redis.on('ready', () => {
      if (this.down) logger.info({ prefix }, 'Redis store reconnected')
      this.everReady = true
      this.down = false
    })
    // Without a listener ioredis prints every reconnect failure; log the first of each outage only.
    redis.on('error', (err: Error) => {
      if (!this.down)
        logger.warn({ err: err.message, prefix }, 'Redis store unavailable; reconnecting in the background')
      this.down = true
    })
  }

  /**
   * The event path's commands skip ioredis's auto-pipeline (EVENT_PATH_COMMANDS), so each would be
   * its own socket write, a system call that also carries the bytes through the kernel's TCP stack
   * to Redis: the largest cost of the event path after garbage collection. So they are corked and
   * leave in batches, in the order they were issued:
   * - a ring's path (`'ring-path'`: the devices read, the ring's claim) leaves when its tick ends
   *   (process.nextTick), the commands of one WebSocket read in one write, without waiting for the
   *   rest of the loop's turn; once per turn: a later batch of the same turn waits for the turn's
   *   check phase (setImmediate) with everything else. Only a backlog makes turns of many reads
   *   (after a stall, the intake gate reopening), and then one write for all of them is what lets
   *   the gateway and Redis catch up;
   * - writes made `'after-the-fact'` (the write-behind batch) wait for the check phase.
   * Measured in the latency benchmark (BENCHMARKS.md, benchmark 1): every batch at the check phase
   * cost p50 and p99 at a steady 2,000 frames/s; every batch at the end of its tick made the
   * catch-up after a 1 s stall several times slower.
   */
  coalesceWrites(batch: 'ring-path' | 'after-the-fact' = 'ring-path'): void {
    const stream = (this.redis as unknown as { stream?: Writable }).stream
    if (stream === undefined || this.redis.status !== 'ready') return
    if (this.corked === undefined) {
      this.corked = stream
      stream.cork()
    }
    if (batch === 'ring-path' && !this.ringPathThisTurn) {
      this.ringPathThisTurn = true
      setImmediate(this.turnEnded)
      if (this.flushAt !== 'tick') {
        this.flushAt = 'tick'
        process.nextTick(this.uncork)
      }
    } else if (this.flushAt === undefined) {
      this.flushAt = 'check'
      setImmediate(this.uncork)
    }
  }

  /** Runs one store operation; any failure reaches the caller as a StoreError (classify). */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      // Once connected, fn runs synchronously in the caller's turn: a mark made just before
      // close() is queued before close() flushes the batch.
      if (!this.everReady) await this.connected()
      return await fn()
    } catch (err) {
      throw classify(err)
    }
  }

  /**
   * `call` for a write the caller acts on: with REDIS_WAIT_REPLICAS, only once replicas have it.
   * A write the primary answered and no replica confirmed in time fails as UnreplicatedWriteError,
   * which carries the primary's answer: the write is there, and the ring path acts on it.
   */
  write<T>(fn: () => Promise<T>): Promise<T> {
    const { waitReplicas, waitTimeoutMs } = this
    if (waitReplicas === 0) return this.call(fn)
    return this.call(async () => {
      const value = await fn()
      // A WAIT that failed (the connection broke) confirms nothing either.
      const acked = await this.replicated().catch((err: unknown) => classify(err))
      if (typeof acked !== 'number' || acked < waitReplicas) {
        this.unconfirmed()
        const why =
          typeof acked === 'number'
            ? `${acked} of ${waitReplicas} replicas confirmed it within ${waitTimeoutMs} ms`
            : `the replicas could not be asked to confirm it (${acked instanceof Error ? acked.message : String(acked)})`
        throw new UnreplicatedWriteError(
          `Redis store: written, but ${why}`,
          value,
          typeof acked === 'number' ? {} : { cause: acked },
        )
      }
      if (this.unconfirmedWrites > 0) {
        this.logger.info(
          { prefix: this.prefix, unconfirmedWrites: this.unconfirmedWrites },
          'Redis replicas confirm writes again',
        )
        this.unconfirmedWrites = 0
      }
      return value
    })
  }

  /** The first write of a spell that replicas did not confirm is logged, and the spell's count when it ends. */
  private unconfirmed(): void {
    if (this.unconfirmedWrites++ === 0)
      this.logger.warn(
        { prefix: this.prefix, waitReplicas: this.waitReplicas, waitTimeoutMs: this.waitTimeoutMs },
        'Redis replicas did not confirm a write in time: registrations answer 503; ring decisions go on, at least once',
      )
  }

  /**
   * How many replicas have every write this connection made so far, ours included (WAIT covers
   * the connection's earlier writes). Redis holds a client's later commands behind its WAIT, so a
   * WAIT per write serialised them: while a replica was away (a resync after a failover), each
   * write's WAIT ran to its timeout behind the one before, and a ring decision queued behind all
   * of them went unanswered for seconds (7 s in the Sentinel failover test). So one WAIT is out at
   * a time; writes that finish meanwhile share the next, sent once it is answered. A write waits
   * at most two WAIT timeouts; every other command at most one.
   */
  private replicated(): Promise<number> {
    if (this.waitNext) return this.waitNext
    const { waitReplicas, waitTimeoutMs } = this
    const next = this.waitOut.then(() => {
      // Sent now: writes that finish from here on need a WAIT sent after them.
      this.waitNext = undefined
      const out = this.redis.wait(waitReplicas, waitTimeoutMs)
      this.waitOut = out.catch(() => undefined)
      return out
    })
    this.waitNext = next
    return next
  }

  // With the offline queue off, a call made right after start would fail before the first
  // connection; wait for it (or its first failure) once. Later outages fail at once. The calls
  // made meanwhile share one wait: a listener pair each would be a leak warning past ten.
  private connected(): Promise<void> {
    const { redis } = this
    if (redis.status === 'ready' || this.everReady) return Promise.resolve()
    if (redis.status === 'end') return Promise.reject(new StoreUnavailableError('Redis store is closed'))
    if (this.down) return Promise.reject(new StoreUnavailableError('Redis store unavailable: not connected yet'))
    this.firstConnection ??= this.waitForFirstConnection().finally(() => (this.firstConnection = undefined))
    return this.firstConnection
  }

  private async waitForFirstConnection(): Promise<void> {
    const { redis, connectTimeoutMs } = this
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
