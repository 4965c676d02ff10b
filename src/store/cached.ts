// Keeps rings going out while the shared store (Redis) is unreachable, and spares the store a read
// of the agent's devices on most events.
//
// Devices: a read-through cache. When the store offers a change feed (Redis pub/sub: every instance
// publishes the agents whose devices it changed), a list read while the feed was listening, with
// no change heard since, is served from memory, for at most `trustMs`. Otherwise every read goes to
// the store and refreshes the cache. A change made on another instance reaches this one's cache
// after the publish crosses the network (well under a millisecond on one host); this instance's
// own writes apply at once. When the store throws StoreUnavailableError, the last answer for that
// agent is served instead. Bounded: at most `maxAgents` agents (least recently read evicted
// first), entries older than `maxAgeMs` are not served.
// Ring state: a ring cannot wait for Redis, so during an outage createRing, claimOnce and the
// transitions of rings created meanwhile run on an in-process store (bounded by the ring TTLs).
// Those rings are deduplicated per instance only; with one WebSocket source holder (the lease) and
// apns-collapse-id / collapse_key = the conversation id, a rare duplicate replaces rather than adds.
// A ring write the primary took and its replicas did not confirm (REDIS_WAIT_REPLICAS) is no
// outage: the ring path acts on the primary's answer (acting() below).
// Writes to the registry are never cached: they fail with StoreUnavailableError (the API's 503).
import { systemClock, type Clock } from '../clock.js'
import { ringKey, type Device, type RingRecord, type RingState } from '../model.js'
import { silentLogger, type Logger } from '../observability/logger.js'
import { createMemoryStore } from './memory.js'
import {
  StoreNotReadyError,
  StoreUnavailableError,
  UnreplicatedWriteError,
  type DeviceChangeFeed,
  type Store,
} from './store.js'

export interface StoreHealth {
  /** True while the backend is unreachable and reads are served from the cache. */
  degraded: boolean
  /** Epoch ms when the current outage was first noticed. */
  since?: number
  cachedAgents: number
  /** Rings created in-process during an outage and still alive. */
  localRings: number
  /** With a store that has a change feed: whether it listens, i.e. current device lists are served from memory. */
  deviceFeedListening?: boolean
  /** False until the backend has answered once: with nothing cached, an outage since start is a wrong STORE_URL more often than an outage. */
  reachedSinceStart: boolean
}

export interface CachedStore extends Store {
  health(): StoreHealth
}

export interface CachedStoreOptions {
  clock?: Clock
  logger?: Logger
  /** Default 100 000 agents (a few hundred bytes each). */
  maxAgents?: number
  /** Default 24 h: a device list older than that is not trusted even in an outage. */
  maxAgeMs?: number
  /** Default 5 min: how long a list kept current by the change feed is served without a read. */
  trustMs?: number
  /**
   * For a shared store without a change feed (DynamoDB): how long a list read from the store is
   * served without another read (0, the default: never). The bound on how late a change made on
   * another instance reaches this one; this instance's own writes apply to the cache at once.
   */
  staleMs?: number
}

interface Entry<T> {
  value: T
  at: number
  /** Read while the change feed listened, no change heard since: may be served without a read. */
  current: boolean
}

export function createCachedStore(
  inner: Store & Partial<DeviceChangeFeed>,
  options: CachedStoreOptions = {},
): CachedStore {
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? silentLogger()
  const maxAgents = options.maxAgents ?? 100_000
  const maxAgeMs = options.maxAgeMs ?? 24 * 3_600_000
  const devices = new Map<string, Entry<Device[]>>() // insertion order = recency (LRU)
  const owners = new Map<string, string>() // token → userId, for entries in `devices`
  const local = createMemoryStore({ clock })
  const localKeys = new Map<string, number>() // ring key → expiry, to count local rings
  const trustMs = options.trustMs ?? 5 * 60_000
  const staleMs = options.staleMs ?? 0
  let downSince: number | undefined
  // Bumped by every change heard (and every gap): a read that overlapped one is not current.
  let changes = 0
  const feed = inner.watchDevices?.({
    changed: (userId) => outdated(userId),
    gap: () => {
      changes++
      for (const e of devices.values()) e.current = false
    },
  })

  let reached = false
  async function through<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const value = await fn()
      reached = true
      if (downSince !== undefined) {
        logger.info({ outageMs: clock.now() - downSince }, 'store reachable again: leaving degraded mode')
        downSince = undefined
      }
      return value
    } catch (err) {
      // Unconfirmed by replicas is no outage: the store answered (redis-connection.ts logs those).
      if (err instanceof StoreUnavailableError && !(err instanceof UnreplicatedWriteError) && downSince === undefined) {
        downSince = clock.now()
        logger.warn('store unreachable: serving devices from the in-process cache, writes answer 503')
      }
      throw err
    }
  }

  // A ring write the primary took and its replicas did not confirm in time is acted on, with the
  // primary's answer: a cancel it claimed goes out now rather than never (store.ts
  // UnreplicatedWriteError), a ring it created rings from the shared record, which every instance
  // ends. Registry writes are not: they answer 503.
  async function acting<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await through(fn)
    } catch (err) {
      if (err instanceof UnreplicatedWriteError) return err.written as T
      throw err
    }
  }

  function fresh<T>(e: Entry<T> | undefined): e is Entry<T> {
    return e !== undefined && clock.now() - e.at <= maxAgeMs
  }

  function outdated(userId: string | undefined): void {
    changes++
    const e = userId === undefined ? undefined : devices.get(userId)
    if (e) e.current = false
  }

  function remember(userId: string, list: Device[], current: boolean): void {
    forget(userId)
    devices.set(userId, { value: list, at: clock.now(), current })
    for (const d of list) owners.set(d.token, userId)
    while (devices.size > maxAgents) {
      const oldest = devices.keys().next().value
      if (oldest === undefined) break
      forget(oldest)
    }
  }

  function forget(userId: string): void {
    const e = devices.get(userId)
    if (!e) return
    devices.delete(userId)
    for (const d of e.value) if (owners.get(d.token) === userId) owners.delete(d.token)
  }

  function dropToken(token: string): void {
    const userId = owners.get(token)
    const e = userId === undefined ? undefined : devices.get(userId)
    if (userId === undefined || !e) return
    owners.delete(token)
    e.value = e.value.filter((d) => d.token !== token)
  }

  /** This instance's own write applies to the cache at once. */
  function upserted(saved: Device, movedFrom?: string): void {
    const previous = owners.get(saved.token)
    outdated(saved.userId)
    if (movedFrom !== undefined) outdated(movedFrom)
    if (previous !== undefined) {
      outdated(previous)
      dropToken(saved.token)
    }
    const e = devices.get(saved.userId)
    if (e) {
      e.value = [...e.value.filter((d) => d.token !== saved.token), saved]
      owners.set(saved.token, saved.userId)
    }
  }

  async function orLocal<T>(remote: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
    try {
      return await acting(remote)
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err
      return fallback()
    }
  }

  const registerInner = inner.registerDevice?.bind(inner)
  const isLocal = async (key: string): Promise<boolean> => (await local.getRing(key)) !== undefined

  return {
    kind: inner.kind,
    health() {
      const now = clock.now()
      for (const [k, exp] of localKeys) if (exp <= now) localKeys.delete(k)
      return {
        degraded: downSince !== undefined,
        ...(downSince !== undefined && { since: downSince }),
        cachedAgents: devices.size,
        localRings: localKeys.size,
        ...(feed && { deviceFeedListening: feed.listening() }),
        reachedSinceStart: reached,
      }
    },
    async upsertDevice(device) {
      const saved = await through(() => inner.upsertDevice(device))
      upserted(saved)
      return saved
    },
    ...(registerInner && {
      async registerDevice(device: Device) {
        const registration = await through(() => registerInner(device))
        upserted(registration.device, registration.movedFrom)
        return registration
      },
    }),
    async listDevices(userId) {
      const cached = devices.get(userId)
      const age = cached === undefined ? Infinity : clock.now() - cached.at
      if (cached && ((cached.current && feed?.listening() && age <= trustMs) || (!feed && age <= staleMs))) {
        devices.delete(userId) // most recently used last
        devices.set(userId, cached)
        return cached.value.map((d) => ({ ...d }))
      }
      const before = changes
      try {
        const list = await through(() => inner.listDevices(userId))
        remember(userId, list, before === changes && feed?.listening() === true)
        return list
      } catch (err) {
        const e = devices.get(userId)
        if (!(err instanceof StoreUnavailableError) || !fresh(e)) throw err
        return e.value.map((d) => ({ ...d }))
      }
    },
    getDevice: (token) => through(() => inner.getDevice(token)),
    async removeDevice(userId, token) {
      const removed = await through(() => inner.removeDevice(userId, token))
      outdated(userId)
      if (removed) dropToken(token)
      return removed
    },
    async removePhone(userId, deviceId) {
      const removed = await through(() => inner.removePhone(userId, deviceId))
      outdated(userId)
      for (const token of removed) dropToken(token)
      return removed
    },
    async pruneToken(token, registeredBefore) {
      const pruned = await through(() => inner.pruneToken(token, registeredBefore))
      outdated(owners.get(token))
      if (pruned) dropToken(token)
      return pruned
    },
    // Never served from a cache: callers reconcile subscriptions with it, and a stale list would
    // unsubscribe agents registered since (rings need only listDevices).
    listUserIds: () => through(() => inner.listUserIds()),
    countDevices: () => through(() => inner.countDevices()),

    async createRing(record: RingRecord, ttlMs: number) {
      const key = ringKey(record)
      // A ring created here during the outage stays authoritative until it expires.
      if (await isLocal(key)) return false
      return orLocal(
        () => inner.createRing(record, ttlMs),
        async () => {
          const created = await local.createRing(record, ttlMs)
          if (created) localKeys.set(key, clock.now() + ttlMs)
          return created
        },
      )
    },
    getRing: async (key) => (await local.getRing(key)) ?? through(() => inner.getRing(key)),
    transitionRing: async (key: string, from: RingState[], to: RingState, ttlMs: number) =>
      (await isLocal(key))
        ? local.transitionRing(key, from, to, ttlMs)
        : acting(() => inner.transitionRing(key, from, to, ttlMs)),
    claimCancels: async (key, tokens, silent) =>
      (await isLocal(key))
        ? local.claimCancels(key, tokens, silent)
        : acting(() => inner.claimCancels(key, tokens, silent)),
    endRing: async (key, from, to, ttlMs, guess) =>
      (await isLocal(key))
        ? local.endRing(key, from, to, ttlMs, guess)
        : acting(() => inner.endRing(key, from, to, ttlMs, guess)),
    markSent: async (key, sent, at) =>
      (await isLocal(key)) ? local.markSent(key, sent, at) : through(() => inner.markSent(key, sent, at)),
    async listUnsentCancels(olderThanMs) {
      const mine = await local.listUnsentCancels(olderThanMs)
      const shared = await orLocal(
        () => inner.listUnsentCancels(olderThanMs),
        async () => [],
      )
      return [...shared, ...mine]
    },
    async listOpenRings(dueBy) {
      const mine = await local.listOpenRings(dueBy)
      const shared = await orLocal(
        () => inner.listOpenRings(dueBy),
        async () => [],
      )
      return [...shared, ...mine]
    },
    claimOnce: (key, ttlMs) =>
      orLocal(
        () => inner.claimOnce(key, ttlMs),
        () => local.claimOnce(key, ttlMs),
      ),
    // Receipts are bookkeeping, not rings: during an outage they fail (and are counted) rather than split.
    noteDelivery: (conversationId, token, fields, ttlMs) =>
      through(() => inner.noteDelivery(conversationId, token, fields, ttlMs)),
    getDelivery: (conversationId, token) => through(() => inner.getDelivery(conversationId, token)),
    getReach: (userId) => through(() => inner.getReach(userId)),
    putReach: (userId, doc, version, ttlMs) => through(() => inner.putReach(userId, doc, version, ttlMs)),
    listReachUsers: () => through(() => inner.listReachUsers()),
    ping: () => through(() => inner.ping()),
    async close() {
      await feed?.stop()
      await Promise.all([inner.close(), local.close()])
    },
  }
}

/** The readiness view of a store: a degraded (cache-serving) store is reported, not failed. */
export async function storeReadiness(store: Store): Promise<{ ok: boolean; detail: string }> {
  const health = 'health' in store && typeof store.health === 'function' ? (store as CachedStore).health() : undefined
  try {
    await store.ping()
    return { ok: true, detail: `${store.kind}: reachable` }
  } catch (err) {
    // Waiting for an operator (a missing table): no cache can stand in for a store never used.
    if (!health || err instanceof StoreNotReadyError) throw err
    const h = (store as CachedStore).health()
    const reason = err instanceof Error ? err.message : String(err)
    // Never reached since start: a typo'd host or a closed port, with no device list cached to ring
    // from. Not ready, so a rollout with a wrong STORE_URL stops at its first pod.
    if (!h.reachedSinceStart)
      return { ok: false, detail: `${store.kind} unreachable since start (${reason}): check STORE_URL` }
    // Every instance shares the store, so failing readiness here would take the whole fleet out of
    // the load balancer; the instance still rings (webhook, cache) and answers writes with 503.
    return {
      ok: true,
      detail: `degraded: ${store.kind} unreachable (${reason}); rings served from the cache of ${h.cachedAgents} agents, writes answer 503`,
    }
  }
}
