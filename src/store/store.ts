// The store contract. Three implementations (sqlite: embedded default; redis: shared by several
// instances; memory: ring-engine tests) pass the same contract tests in test/store/.
import type { Device, RingRecord, RingState } from '../model.js'

export interface DeviceStore {
  /**
   * Registers or refreshes a device, keyed by its token. A token registered again by another
   * user moves to that user (a shared phone handed over); the old user's entry disappears.
   */
  upsertDevice(device: Device): Promise<Device>
  /**
   * upsertDevice for the registration API, answering in the same step what the route needs next,
   * so a re-registration (an app at every launch) costs one round trip. Stores without it are
   * driven through registerBySteps.
   */
  registerDevice?(device: Device): Promise<DeviceRegistration>
  listDevices(userId: string): Promise<Device[]>
  getDevice(token: string): Promise<Device | undefined>
  /** Removes one of `userId`'s devices; false when that user has no such token. */
  removeDevice(userId: string, token: string): Promise<boolean>
  /**
   * Removes every token of one of `userId`'s phones (Device.deviceId), as at sign-out. Returns the
   * tokens removed; none when that user has no phone with this id.
   */
  removePhone(userId: string, deviceId: string): Promise<string[]>
  /**
   * Token hygiene after a push service said the token is dead. With `registeredBefore` (epoch ms),
   * a device that re-registered at or after that instant is kept (APNs 410 timestamp rule).
   */
  pruneToken(token: string, registeredBefore?: number): Promise<boolean>
  /** Agents that have at least one device: the topics the sources subscribe. */
  listUserIds(): Promise<string[]>
  countDevices(): Promise<{ total: number; byPlatform: Record<string, number> }>
}

export interface DeviceRegistration {
  device: Device
  /** The agent that held the token before, when it was another one (the token moved). */
  movedFrom?: string
  /** The agent had no device before this one: its topics must be subscribed. */
  firstOfAgent: boolean
  /** Tokens the agent holds now, this one included (a bound on its phones). */
  agentTokens: number
}

/**
 * registerDevice from the plain store steps, for stores that do not offer it. What it cannot know
 * without an extra read it answers on the safe side: the agent may be new (its topics are
 * re-checked) and may be past any limit (its list is read).
 */
export async function registerBySteps(store: DeviceStore, device: Device): Promise<DeviceRegistration> {
  if (store.registerDevice) return store.registerDevice(device)
  const previous = await store.getDevice(device.token)
  const saved = await store.upsertDevice(device)
  return {
    device: saved,
    ...(previous !== undefined && previous.userId !== device.userId ? { movedFrom: previous.userId } : {}),
    firstOfAgent: true,
    agentTokens: Number.POSITIVE_INFINITY,
  }
}

export interface RingStore {
  /**
   * Atomically creates the ring record unless one exists for the same key (SET NX semantics):
   * true when this call created it, i.e. this instance must ring. `ttlMs` bounds its life.
   */
  createRing(record: RingRecord, ttlMs: number): Promise<boolean>
  getRing(key: string): Promise<RingRecord | undefined>
  /**
   * Atomically moves a ring from one of `from` to `to` (compare-and-set); returns the record as it
   * was before the move, or undefined when the ring is missing or in another state.
   */
  transitionRing(key: string, from: RingState[], to: RingState, ttlMs: number): Promise<RingRecord | undefined>
  /**
   * Atomically records that cancels go to `tokens`, returning only those that had not been
   * cancelled before (each device gets at most one cancel, even with two instances racing).
   * Fresh claims stay unsent until markSent names them (listUnsentCancels). `silent` tokens (the
   * phone that answered) are claimed as already sent: they never get a cancel, not even on recovery.
   */
  claimCancels(key: string, tokens: string[], silent?: string[]): Promise<string[]>
  /**
   * transitionRing and claimCancels(key, claim.tokens) in one atomic step, done only when the
   * devices the ring rang are exactly `claim.ifRung` (as a set): a ring's end and its cancel claims
   * commit together or not at all. With a wrong guess nothing changes and `claimed` is undefined:
   * the returned record says which devices rang, and the caller ends it again with that guess.
   */
  endRing(
    key: string,
    from: RingState[],
    to: RingState,
    ttlMs: number,
    claim: { ifRung: string[]; tokens: string[] },
  ): Promise<EndedRing | undefined>
  /**
   * The outbox mark: the ring's pushes (`ring`: sets RingRecord.dispatchedAt = `at`) and/or its
   * cancels to `cancelTokens` were handed to the push services. A claim never marked is one whose
   * instance died between the claim and the push; recovery sends it again (at least once). A ring
   * that is gone is ignored.
   */
  markSent(key: string, sent: { ring?: boolean; cancelTokens?: string[] }, at: number): Promise<void>
  /** Rings (any state) with cancels claimed but never marked sent, whose last claim is at least `olderThanMs` old; with those tokens. */
  listUnsentCancels(olderThanMs: number): Promise<Array<{ ring: RingRecord; tokens: string[] }>>
  /**
   * Rings still in state 'ringing'; with `dueBy` (epoch ms) only those whose timeout (expiresAt) has
   * passed by then: the timeout sweep runs every second and should not read every ring that rings.
   */
  listOpenRings(dueBy?: number): Promise<RingRecord[]>
  /**
   * A general once-only claim (SET NX PX): true the first time `key` is claimed within `ttlMs`.
   * Used for the dedup window and webhook idempotency.
   */
  claimOnce(key: string, ttlMs: number): Promise<boolean>
}

export interface EndedRing {
  /** The record as it was before the move (transitionRing's answer). */
  before: RingRecord
  /** claimCancels' answer for `claim.tokens`; undefined when the guess of the rung devices was wrong, and then the ring did not move. */
  claimed?: string[]
}

/** Whether the ring rang exactly the devices `guess` names (order does not matter; tokens are unique). */
export function rangExactly(ring: RingRecord, guess: readonly string[]): boolean {
  if (ring.rungTokens.length !== guess.length) return false
  const rung = new Set(ring.rungTokens)
  return guess.every((t) => rung.has(t))
}

/**
 * Changes to agents' devices made by any instance, for a cache of device lists (cached.ts). The
 * Redis store offers it (pub/sub); stores that one process owns need none.
 */
export interface DeviceChangeFeed {
  watchDevices(watcher: DeviceWatcher): DeviceWatch
}

export interface DeviceWatcher {
  /** Some instance changed `userId`'s devices. */
  changed(userId: string): void
  /** Changes may have gone unheard (the feed's connection dropped, or it began listening): trust nothing cached before. */
  gap(): void
}

export interface DeviceWatch {
  /** True while every change is being heard. */
  listening(): boolean
  stop(): Promise<void>
}

/**
 * Device receipts (src/reach/): which pushes of a conversation each device was sent and when its
 * app reported them, and each agent's reachability document. Every entry is bounded by a TTL.
 */
export interface ReachStore {
  /**
   * Sets `fields` of the delivery record of (conversationId, token), creating it, and (re)starts its
   * TTL. Fields already there and not named keep their values.
   */
  noteDelivery(conversationId: string, token: string, fields: Record<string, string>, ttlMs: number): Promise<void>
  getDelivery(conversationId: string, token: string): Promise<Record<string, string> | undefined>
  /** The agent's reachability document and its version (for putReach); undefined when none or expired. */
  getReach(userId: string): Promise<{ doc: string; version: number } | undefined>
  /**
   * Compare-and-set: writes `doc` when the stored version is still `version` (0: there is none),
   * bumping the version and restarting the TTL. False when another writer came first.
   */
  putReach(userId: string, doc: string, version: number, ttlMs: number): Promise<boolean>
  /** Agents whose reachability document has not expired. */
  listReachUsers(): Promise<string[]>
}

export interface Store extends DeviceStore, RingStore, ReachStore {
  readonly kind: 'sqlite' | 'redis' | 'dynamodb' | 'memory'
  /** Throws when the backend is unreachable (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}

/**
 * Every failure a store throws: the backend refused a step (a bug, a key of the wrong type, a full
 * disk) or could not be reached. The API answers 503 with Retry-After, never 500. Its cause keeps
 * the driver error's name, message and stack, never the command and arguments it was given.
 */
export class StoreError extends Error {
  readonly code: string = 'STORE_FAILED'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreError'
  }
}

/** The backend is unreachable or in a transient state (loading, failover): worth waiting out, and the device cache may answer meanwhile. */
export class StoreUnavailableError extends StoreError {
  override readonly code = 'STORE_UNAVAILABLE'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}

/**
 * The primary took a write, and its replicas did not confirm it in time (REDIS_WAIT_REPLICAS): it
 * is most likely kept, and lost only if the primary fails before it reaches a replica. A
 * registration is answered 503 all the same (201 promises a replicated write); a ring decision
 * acts on `written`, what the primary answered: the cancel it claimed must reach the phone now, and
 * should the write be lost, the ring's timeout cancels it once more (a repeat, never a phone left
 * ringing).
 */
export class UnreplicatedWriteError extends StoreUnavailableError {
  // Not an own enumerable field: the answer can hold a device with its full token, and a logger
  // that prints every field of an error must not find it.
  readonly #written: unknown
  constructor(message: string, written: unknown, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UnreplicatedWriteError'
    this.#written = written
  }
  /** What the primary answered. */
  get written(): unknown {
    return this.#written
  }
}

/**
 * A store that cannot serve until an operator acts (a DynamoDB table missing, no credentials): 503
 * like any unavailability, and readiness fails even where a cache could serve (cached.ts).
 */
export class StoreNotReadyError extends StoreUnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreNotReadyError'
  }
}
