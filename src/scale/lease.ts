// A Redis lease with a fencing token: at most one gateway instance at a time holds it (the one that
// runs the WebSocket source). Keys (under the key prefix):
//
//   lease:<name>            string "<instanceId>|<fencing token>", PX = the lease TTL
//   lease:<name>:fence      counter, INCR on every acquisition: tokens only ever grow
//   lease:<name>:released   pub/sub channel: a graceful release, so a standby takes over at once
//
// Safety: the holder counts its lease as valid from the moment it SENT the acquire/renew command,
// minus a safety margin for clock-rate drift, so it stops before Redis can expire the key and let
// another instance in. That covers a holder cut off from Redis and a stalled event loop: validity
// is computed from a monotonic clock whenever it is asked (isValid), not only when a timer fires.
// Renewal is compare-and-extend on the full value, so a holder whose lease was taken over (same
// instance id or not) can never extend the new holder's lease: the fencing token differs.
//
// The same lease lives in DynamoDB as one item (dynamo-lease.ts): the LeaseBackend below is the
// compare-and-set it needs, in Redis scripts or DynamoDB conditional writes.
import type { Logger } from '../observability/logger.js'
import type { ScaleBus } from './bus.js'

/** The three atomic steps of a lease, on whichever store holds it. Values are "<instanceId>|<fencing token>". */
export interface LeaseBackend {
  /** Takes the lease unless another holder's is alive: [1, value, ttl] won, [0, holder's value, its ms left] not. */
  acquire(instanceId: string, ttlMs: number): Promise<[number, string, number]>
  /** Extends the lease only if it still holds exactly `value`. */
  renew(value: string, ttlMs: number): Promise<boolean>
  /** Gives it up only if it still holds exactly `value`; true when it did. */
  release(value: string): Promise<boolean>
}

/** The Redis lease: scripts on the bus's command connection. */
export function redisLeaseBackend(bus: ScaleBus, name: string): LeaseBackend {
  const key = `${bus.keyPrefix}lease:${name}`
  return {
    acquire: async (instanceId, ttlMs) =>
      (await bus.redis.eval(ACQUIRE, 2, key, `${key}:fence`, instanceId, ttlMs)) as [number, string, number],
    renew: async (value, ttlMs) => (await bus.redis.eval(RENEW, 1, key, value, ttlMs)) === 1,
    release: async (value) => (await bus.redis.eval(RELEASE, 1, key, value)) === 1,
  }
}

export interface LeaseState {
  holder: boolean
  /** The instance holding the lease, as last seen (this instance when holder). */
  holderId?: string
  fencingToken?: number
}

export interface LeaseOptions {
  /** Redis: the lease's scripts, and a graceful release heard at once by every standby. */
  bus?: ScaleBus
  /** Where the lease lives when not on the bus (DynamoDB); standbys then notice a release when its TTL lapses. */
  backend?: LeaseBackend
  name: string
  instanceId: string
  ttlMs: number
  logger: Logger
  onAcquired: (fencingToken: number) => void
  onLost: (reason: 'expired' | 'taken' | 'released') => void
  /** Monotonic milliseconds (tests may stall it); default performance.now. */
  now?: () => number
}

// Compare-and-set acquisition: SET NX PX, and the fencing token from INCR in the same script.
const ACQUIRE = `local token = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
local value = ARGV[1] .. '|' .. token
if redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[2]) then
  redis.call('INCR', KEYS[2])
  return {1, value, tonumber(ARGV[2])}
end
return {0, redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}`
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

export class RedisLease {
  private readonly backend: LeaseBackend
  private readonly now: () => number
  private readonly safetyMs: number
  private value: string | undefined
  private token: number | undefined
  private validUntil = 0
  private seen: { holderId?: string; token?: number } = {}
  private timer: NodeJS.Timeout | undefined
  private deadline: NodeJS.Timeout | undefined
  private running = false
  private busy = false
  private again = false

  constructor(private readonly options: LeaseOptions) {
    if (options.backend) this.backend = options.backend
    else if (options.bus) this.backend = redisLeaseBackend(options.bus, options.name)
    else throw new Error('RedisLease needs a bus or a backend')
    this.now = options.now ?? (() => performance.now())
    // Timers on two hosts can run a little apart; 5 % of the TTL (at least 100 ms) covers it.
    this.safetyMs = Math.max(100, Math.round(options.ttlMs * 0.05))
  }

  /** Starts competing for the lease; resolves after the first attempt. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.options.bus?.subscribe(`lease:${this.options.name}:released`, () => {
      if (this.running && this.value === undefined) this.schedule(0)
    })
    await this.tick()
  }

  /** Stops competing; a holder releases the lease so another instance takes over at once. */
  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    clearTimeout(this.deadline)
    if (this.value !== undefined) {
      const value = this.value
      this.drop('released')
      await this.release(value)
    }
  }

  /** True while this instance holds a lease that no other instance can have taken yet. */
  isValid(): boolean {
    if (this.value === undefined) return false
    if (this.now() < this.validUntil) return true
    this.expire()
    return false
  }

  state(): LeaseState {
    const holder = this.isValid()
    if (holder)
      return {
        holder,
        holderId: this.options.instanceId,
        ...(this.token !== undefined && { fencingToken: this.token }),
      }
    return {
      holder,
      ...(this.seen.holderId !== undefined && { holderId: this.seen.holderId }),
      ...(this.seen.token !== undefined && { fencingToken: this.seen.token }),
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.tick(), Math.max(0, ms))
  }

  private async tick(): Promise<void> {
    if (!this.running) return
    if (this.busy) {
      // A release heard while an attempt is under way (standbys attempt at the same moment, when
      // the holder's key would lapse): that attempt saw the old holder and waits for the next
      // lapse, so try once more as soon as it is done instead of losing the release.
      this.again = true
      return
    }
    this.busy = true
    try {
      if (this.value !== undefined && this.isValid()) await this.renew(this.value)
      else await this.acquire()
    } finally {
      this.busy = false
      if (this.again) {
        this.again = false
        if (this.value === undefined) this.schedule(0)
      }
    }
  }

  private async acquire(): Promise<void> {
    const sentAt = this.now()
    let reply: [number, string, number]
    try {
      reply = await this.backend.acquire(this.options.instanceId, this.options.ttlMs)
    } catch (err) {
      this.options.logger.debug({ err: (err as Error).message }, 'lease: acquire attempt failed (store unavailable)')
      return this.schedule(Math.min(1_000, this.options.ttlMs / 5))
    }
    const [won, value, pttl] = reply
    const [holderId, token] = splitValue(value)
    this.seen = { ...(holderId !== undefined && { holderId }), ...(token !== undefined && { token }) }
    if (won !== 1 || !this.running) {
      if (won === 1) await this.release(value) // stopped while the attempt was in flight
      // Try again the moment the holder's lease would lapse: a dead holder is replaced within the
      // TTL of its last renewal, a live one will have renewed by then.
      return this.schedule(Math.min(this.options.ttlMs, Math.max(5, pttl + 5)))
    }
    this.value = value
    this.token = token
    this.extendTo(sentAt)
    this.options.logger.info(
      { instanceId: this.options.instanceId, fencingToken: token, lease: this.options.name },
      'lease acquired',
    )
    this.options.onAcquired(token ?? 0)
  }

  private async renew(value: string): Promise<void> {
    const sentAt = this.now()
    let ok: boolean
    try {
      ok = await this.backend.renew(value, this.options.ttlMs)
    } catch (err) {
      // Keep trying while the lease is still ours; the deadline timer gives it up in time.
      this.options.logger.warn(
        { err: (err as Error).message, validForMs: Math.round(this.validUntil - this.now()) },
        'lease: renewal failed, retrying',
      )
      return this.schedule(Math.min(500, this.options.ttlMs / 10))
    }
    if (this.value !== value) return
    if (!ok) {
      this.options.logger.warn(
        { instanceId: this.options.instanceId, fencingToken: this.token },
        'lease: taken over by another instance',
      )
      this.drop('taken')
      return this.schedule(0)
    }
    this.extendTo(sentAt)
  }

  private extendTo(sentAt: number): void {
    this.validUntil = sentAt + this.options.ttlMs - this.safetyMs
    clearTimeout(this.deadline)
    this.deadline = setTimeout(() => this.isValid(), Math.max(0, this.validUntil - this.now()) + 1)
    // The next renewal is due a third of the TTL after this one was SENT, not after its reply came:
    // counted from the reply, two slow replies in a row (each well inside the TTL) add up past it.
    this.schedule(sentAt + this.options.ttlMs / 3 - this.now())
  }

  /** The lease ran out before a renewal succeeded: stop holding before anyone else can start. */
  private expire(): void {
    const value = this.value
    if (value === undefined) return
    this.options.logger.warn(
      { instanceId: this.options.instanceId, fencingToken: this.token },
      'lease: could not renew in time, giving it up',
    )
    this.drop('expired')
    // Our key may still be in the store (a slow reply): free it so a standby need not wait for its
    // TTL, and compete again only once it is freed (sent before, our own attempt would find our old
    // lease, and wait for it to lapse like any standby).
    void this.release(value).finally(() => this.schedule(0))
  }

  private drop(reason: 'expired' | 'taken' | 'released'): void {
    this.value = undefined
    this.token = undefined
    clearTimeout(this.deadline)
    this.options.onLost(reason)
  }

  private async release(value: string): Promise<void> {
    try {
      if ((await this.backend.release(value)) && this.options.bus)
        await this.options.bus.publish(`lease:${this.options.name}:released`, value)
    } catch (err) {
      this.options.logger.debug({ err: (err as Error).message }, 'lease: release failed; the key expires by its TTL')
    }
  }
}

function splitValue(value: string): [string | undefined, number | undefined] {
  const bar = value.lastIndexOf('|')
  if (bar < 0) return [undefined, undefined]
  const token = Number(value.slice(bar + 1))
  return [value.slice(0, bar), Number.isFinite(token) ? token : undefined]
}
