// The source lease against real Redis: one holder at a time, growing fencing tokens, takeover after
// a release, a cut-off holder and a stalled event loop, and registrations reaching the holder.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { silentLogger } from '../../src/observability/logger.js'
import { createScaleBus, type ScaleBus } from '../../src/scale/bus.js'
import { parseRedisUrl } from '../../src/store/redis-url.js'
import { startNetProxy } from '../../src/sim/net-proxy.js'
import { RedisLease } from '../../src/scale/lease.js'
import { LeasedSource } from '../../src/scale/leased-source.js'
import type { RoutingEvent } from '../../src/model.js'
import type { EventSource, RoutingEventHandler, SourceStatus } from '../../src/sources/source.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

async function dropPrefix(prefix: string): Promise<void> {
  const admin = new Redis(REDIS_URL)
  const keys = await admin.keys(`${prefix}*`)
  if (keys.length > 0) await admin.del(...keys)
  await admin.quit()
}

function bus(prefix: string): Promise<ScaleBus> {
  return createScaleBus({
    target: parseRedisUrl(REDIS_URL),
    keyPrefix: prefix,
    logger: silentLogger(),
    commandTimeoutMs: 200,
  })
}

interface Events {
  acquired: { id: string; token: number; at: number }[]
  lost: { id: string; reason: string; at: number }[]
}

function lease(b: ScaleBus, id: string, ttlMs: number, ev: Events): RedisLease {
  return new RedisLease({
    bus: b,
    name: 'source',
    instanceId: id,
    ttlMs,
    logger: silentLogger(),
    onAcquired: (token) => ev.acquired.push({ id, token, at: performance.now() }),
    onLost: (reason) => ev.lost.push({ id, reason, at: performance.now() }),
  })
}

test('one holder among three, growing fencing tokens, and a released lease is taken over at once', async () => {
  const prefix = `test:lease:${randomUUID()}:`
  const buses = await Promise.all([bus(prefix), bus(prefix), bus(prefix)])
  const ev: Events = { acquired: [], lost: [] }
  const leases = buses.map((b, i) => lease(b, `gw-${i}`, 2_000, ev))
  try {
    await Promise.all(leases.map((l) => l.start()))
    await sleep(300)
    assert.equal(leases.filter((l) => l.isValid()).length, 1, 'exactly one holder')
    const holder = leases.find((l) => l.isValid()) as RedisLease
    const first = holder.state()
    assert.equal(typeof first.fencingToken, 'number')
    for (const l of leases.filter((x) => x !== holder))
      assert.deepEqual(l.state(), { holder: false, holderId: first.holderId, fencingToken: first.fencingToken })

    const stoppedAt = performance.now()
    await holder.stop()
    await until('a takeover', () => leases.some((l) => l !== holder && l.isValid()))
    const took = performance.now() - stoppedAt
    assert.ok(took < 500, `a graceful release is taken over at once (${Math.round(took)} ms), not after the TTL`)
    const next = leases.find((l) => l.isValid()) as RedisLease
    assert.ok((next.state().fencingToken ?? 0) > (first.fencingToken ?? 0), 'the fencing token grew')
    assert.equal(leases.filter((l) => l.isValid()).length, 1)
  } finally {
    await Promise.all(leases.map((l) => l.stop()))
    await Promise.all(buses.map((b) => b.close()))
    await dropPrefix(prefix)
  }
})

test("a release heard while a standby is still waiting for its own attempt's answer is taken over at once, not at the next lapse", async () => {
  const prefix = `test:lease:${randomUUID()}:`
  const [holderBus, standbyBus] = await Promise.all([bus(prefix), bus(prefix)])
  const ev: Events = { acquired: [], lost: [] }
  const holder = lease(holderBus, 'gw-holder', 5_000, ev)
  const standby = lease(standbyBus, 'gw-standby', 5_000, ev)
  try {
    await holder.start()
    // The standby's first attempt runs in Redis at once (it sees the holder) but its answer is
    // slow to come back; the holder releases meanwhile.
    const evalNow = standbyBus.redis.eval.bind(standbyBus.redis) as (...args: unknown[]) => Promise<unknown>
    let slow = true
    ;(standbyBus.redis as unknown as { eval: (...args: unknown[]) => Promise<unknown> }).eval = async (
      ...args: unknown[]
    ) => {
      const reply = await evalNow(...args)
      if (slow) {
        slow = false
        await sleep(800)
      }
      return reply
    }
    const attempting = standby.start()
    await sleep(300) // the standby's subscription to releases is in place well before this
    const stoppedAt = performance.now()
    await holder.stop()
    await attempting
    await until('a takeover', () => standby.isValid(), 8_000)
    const took = performance.now() - stoppedAt
    assert.ok(took < 2_000, `taken over ${Math.round(took)} ms after the release, not at the next lapse (TTL 5 s)`)
  } finally {
    await Promise.all([holder.stop(), standby.stop()])
    await Promise.all([holderBus.close(), standbyBus.close()])
    await dropPrefix(prefix)
  }
})

test('a holder cut off from Redis gives the lease up before a standby can take it, within the TTL', async () => {
  const prefix = `test:lease:${randomUUID()}:`
  const [ba, bb] = await Promise.all([bus(prefix), bus(prefix)])
  const ev: Events = { acquired: [], lost: [] }
  const a = lease(ba, 'gw-a', 1_000, ev)
  const b = lease(bb, 'gw-b', 1_000, ev)
  try {
    await a.start()
    await b.start()
    assert.equal(a.isValid(), true)
    await sleep(400) // a renews at least once
    // Cut gw-a's connections: its renewals fail from now on (the network-cut case).
    ba.redis.disconnect(false)
    const cutAt = performance.now()
    await until('gw-b holds the lease', () => b.isValid(), 3_000)
    const lostA = ev.lost.find((l) => l.id === 'gw-a')
    const gotB = ev.acquired.find((x) => x.id === 'gw-b')
    assert.ok(lostA && gotB, 'gw-a lost it, gw-b acquired it')
    assert.equal(lostA.reason, 'expired')
    assert.ok(lostA.at < gotB.at, 'the old holder stopped before the new one started')
    assert.ok(
      gotB.at - cutAt <= 1_000 + 50,
      `takeover ${Math.round(gotB.at - cutAt)} ms after the cut, within the 1000 ms TTL`,
    )
  } finally {
    await a.stop()
    await b.stop()
    await Promise.all([ba.close(), bb.close()])
    await dropPrefix(prefix)
  }
})

class RecordingSource implements EventSource {
  readonly name = 'notifications' as const
  starts = 0
  stops = 0
  running = false
  readonly users = new Set<string>()
  emit: RoutingEventHandler = () => undefined
  async start(): Promise<void> {
    this.starts++
    this.running = true
  }
  async stop(): Promise<void> {
    this.stops++
    this.running = false
  }
  async addUser(userId: string): Promise<void> {
    this.users.add(userId)
  }
  async removeUser(userId: string): Promise<void> {
    this.users.delete(userId)
  }
  status(): SourceStatus {
    return {
      name: this.name,
      connected: this.running,
      channels: this.running ? 1 : 0,
      topics: this.users.size,
      reconnects: 0,
      rejectedFrames: 0,
    }
  }
}

const offer = {
  kind: 'offer',
  conversationId: 'conv-1',
  userId: 'agent-1',
  participantId: 'p-1',
  mediaType: 'voice',
  source: 'notifications',
} as unknown as RoutingEvent

test('a holder whose event loop stalls past the lease drops what arrives and stops its source; afterwards exactly one instance listens', async () => {
  const prefix = `test:lease:${randomUUID()}:`
  const registry = new Set<string>(['agent-1'])
  const [ba, bb] = await Promise.all([bus(prefix), bus(prefix)])
  const make = (b: ScaleBus, id: string) => {
    const inner = new RecordingSource()
    const leased = new LeasedSource({
      bus: b,
      instanceId: id,
      ttlMs: 600,
      logger: silentLogger(),
      listUserIds: async () => [...registry],
      hasDevices: async (u) => registry.has(u),
    })
    const heard: RoutingEvent[] = []
    const guarded = leased.guard({ handle: (e) => void heard.push(e) })
    inner.emit = (e) => guarded.handle(e)
    leased.wrap(inner)
    return { inner, leased, heard }
  }
  const a = make(ba, 'gw-a')
  const b = make(bb, 'gw-b')
  try {
    await a.leased.start()
    await b.leased.start()
    assert.equal(a.inner.running, true, 'the holder runs its source')
    assert.equal(b.inner.running, false, 'the standby does not')
    a.inner.emit(offer)
    assert.equal(a.heard.length, 1, 'a valid holder passes events on')

    const stallUntil = performance.now() + 900 // blocks every timer, renewal included
    while (performance.now() < stallUntil) {
      /* a stalled event loop */
    }
    a.inner.emit(offer) // a frame read right after the stall, before any timer ran
    assert.equal(a.heard.length, 1, 'nothing passes once the lease may have been taken over')
    a.inner.emit({ ...offer, source: 'webhook' })
    assert.equal(a.heard.length, 2, 'webhook events need no lease')
    assert.equal(a.leased.status().lease?.holder, false)
    const stopsBefore = a.inner.stops
    await until('gw-a stops its source', () => a.inner.stops > stopsBefore)
    // Both instances live in this one process: after the stall either may win the lease next.
    // gw-a winning it back is fine (its source restarts, and a restart runs gap recovery for what
    // it dropped); two listening at once never is.
    await until(
      'one instance holds the lease and listens',
      () =>
        (a.inner.running ? 1 : 0) + (b.inner.running ? 1 : 0) === 1 &&
        (a.leased.status().lease?.holder === true) !== (b.leased.status().lease?.holder === true),
    )
    const winner = a.inner.running ? a : b
    assert.equal(winner.leased.status().lease?.holder, true)
    if (winner === a) assert.ok(a.inner.starts >= 2, 'gw-a won the lease back and restarted its source')
    await new Promise((r) => setTimeout(r, 300))
    assert.equal((a.inner.running ? 1 : 0) + (b.inner.running ? 1 : 0), 1, 'never two listening')
  } finally {
    await a.leased.stop()
    await b.leased.stop()
    await Promise.all([ba.close(), bb.close()])
    await dropPrefix(prefix)
  }
})

test('an agent registered on a standby reaches the holder at once; one missed meanwhile is reconciled', async () => {
  const prefix = `test:lease:${randomUUID()}:`
  const registry = new Set<string>(['agent-1'])
  const [ba, bb] = await Promise.all([bus(prefix), bus(prefix)])
  const make = (b: ScaleBus, id: string) => {
    const inner = new RecordingSource()
    const leased = new LeasedSource({
      bus: b,
      instanceId: id,
      // Long enough that a loaded machine's event-loop stalls cannot pass the lease to the standby
      // mid-test: this test is about the bus, not about the lease changing hands.
      ttlMs: 10_000,
      logger: silentLogger(),
      listUserIds: async () => [...registry],
      hasDevices: async (u) => registry.has(u),
    })
    leased.wrap(inner)
    return { inner, leased }
  }
  const a = make(ba, 'gw-a')
  const b = make(bb, 'gw-b')
  try {
    await a.leased.start()
    await b.leased.start()
    registry.add('agent-2')
    await b.leased.addUser('agent-2') // the standby's API took the registration
    await until('the holder subscribes agent-2', () => a.inner.users.has('agent-2'))
    registry.delete('agent-2')
    await b.leased.removeUser('agent-2')
    await until('the holder drops agent-2', () => !a.inner.users.has('agent-2'))
    assert.equal(b.inner.users.size, 0, 'the standby subscribes nothing')

    registry.add('agent-3') // e.g. registered while the holder's subscriber was reconnecting
    await a.leased.reconcile()
    assert.equal(a.inner.users.has('agent-3'), true)
  } finally {
    await a.leased.stop()
    await b.leased.stop()
    await Promise.all([ba.close(), bb.close()])
    await dropPrefix(prefix)
  }
})

test('a holder whose subscriber path went silent replaces it at the next probe, reconciles, and hears registrations on other instances again', async () => {
  const prefix = `test:lease:${randomUUID()}:`
  const target = new URL(REDIS_URL)
  const proxy = await startNetProxy({ target: { host: target.hostname, port: Number(target.port || 6379) } })
  // This instance reaches Redis through the proxy; the other one directly.
  const here = await createScaleBus({
    target: parseRedisUrl(`redis://127.0.0.1:${proxy.port}`),
    keyPrefix: prefix,
    logger: silentLogger(),
    commandTimeoutMs: 200,
    probeEveryMs: 200,
    probeTimeoutMs: 300,
  })
  const there = await bus(prefix)
  const heard: string[] = []
  let reconciles = 0
  here.subscribe('agents:changed', (userId) => heard.push(userId))
  here.onResubscribed(() => reconciles++)
  // Pub/sub keeps nothing: publish until the subscriber (subscribing in the background) hears it.
  const reaches = async (userId: string, ms: number): Promise<boolean> => {
    const end = Date.now() + ms
    while (Date.now() < end && !heard.includes(userId)) {
      await there.publish('agents:changed', userId)
      await sleep(50)
    }
    return heard.includes(userId)
  }
  try {
    assert.ok(await reaches('agent-before', 5_000), 'a registration on the other instance is heard')
    // The flows are forgotten (a NAT's table, a firewall's): nothing is closed, nothing arrives.
    proxy.blackHoleExisting()
    const silentAt = performance.now()
    await until('the subscriber replaced and the holder reconciling', () => reconciles > 0, 8_000)
    const replacedMs = Math.round(performance.now() - silentAt)
    assert.ok(await reaches('agent-after', 3_000), 'a registration made after the path died is heard')
    process.stdout.write(
      `# scale bus: silent subscriber replaced and reconciled ${replacedMs} ms after the path died\n`,
    )
  } finally {
    await here.close()
    await there.close()
    await proxy.close()
    await dropPrefix(prefix)
  }
})
