// The world every benchmark runs against: the Genesys simulator and the APNs / FCM sandboxes from
// src/sim/world.ts (the same world as the demo and the end-to-end tests), plus helpers to fill a
// store with agents' devices through the product's own store code, and to clean Redis up after.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import type { Device } from '../../src/model.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { startTestWorld, type TestWorld, type TestWorldOptions } from '../../src/sim/world.js'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

export function benchWorld(o: TestWorldOptions = {}): Promise<TestWorld> {
  return startTestWorld(o)
}

/** A key prefix no other run (or test) uses. */
export function uniquePrefix(name: string): string {
  return `bench:${name}:${process.pid}:${randomBytes(4).toString('hex')}:`
}

/**
 * The process id of the Redis at `url` when it runs on this machine (a loopback address, and a
 * redis-server process under that id here); undefined otherwise.
 */
export async function localRedisPid(url = REDIS_URL): Promise<number | undefined> {
  const host = URL.canParse(url) ? new URL(url).hostname.replace(/^\[|\]$/g, '') : ''
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) return undefined
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    const pid = Number(/^process_id:(\d+)/m.exec(await redis.info('server'))?.[1])
    if (!Number.isInteger(pid)) return undefined
    // A Redis in a container reports the container's pid, which here names some other process.
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    return comm.startsWith('redis') ? pid : undefined
  } catch {
    return undefined
  } finally {
    redis.disconnect()
  }
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(prefix: string, url = REDIS_URL): Promise<number> {
  const redis = new Redis(url)
  let dropped = 0
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) dropped += await redis.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
  return dropped
}

/**
 * Deletes what earlier benchmark runs left in Redis when they were killed before their clean-up:
 * keys under a uniquePrefix() whose process is gone. Such leftovers (a killed memory run leaves
 * 100,000 devices) grow Redis between runs and made latency figures of later runs worse.
 */
export async function dropStaleBenchKeys(url = REDIS_URL): Promise<number> {
  const redis = new Redis(url)
  const alive = new Map<number, boolean>()
  const isAlive = (pid: number): boolean => {
    let a = alive.get(pid)
    if (a === undefined) {
      try {
        process.kill(pid, 0)
        a = true
      } catch (err) {
        a = (err as NodeJS.ErrnoException).code === 'EPERM'
      }
      alive.set(pid, a)
    }
    return a
  }
  let dropped = 0
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'bench:*', 'COUNT', 1000)
      cursor = next
      const stale = keys.filter((k) => {
        const pid = Number(k.split(':')[2])
        return Number.isInteger(pid) && pid > 0 && !isAlive(pid)
      })
      if (stale.length > 0) dropped += await redis.unlink(...stale)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
  return dropped
}

export const apnsToken = (): string => randomBytes(32).toString('hex')
export const fcmToken = (): string =>
  `${randomBytes(12).toString('base64url')}:APA91b${randomBytes(96).toString('base64url')}`

export interface BenchAgent {
  userId: string
  accessToken: string
}

/**
 * Whether every one of `agents` is heard: its conversation topic is on a connected Notifications
 * channel. Genesys allows 1,000 topics per channel, so past that the gateway spreads the agents
 * over several channels and no single channel holds them all.
 */
export function everyAgentSubscribed(world: TestWorld, agents: readonly BenchAgent[]): boolean {
  const topics = new Set(
    world.genesys
      .channels()
      .filter((c) => c.connected)
      .flatMap((c) => c.topics),
  )
  return agents.every((a) => topics.has(`v2.users.${a.userId}.conversations`))
}

export function addAgents(world: TestWorld, n: number): BenchAgent[] {
  const out: BenchAgent[] = []
  for (let i = 0; i < n; i++) {
    const a = world.genesys.addAgent({ name: `Bench Agent ${i + 1}` })
    out.push({ userId: a.userId, accessToken: a.accessToken })
  }
  return out
}

export type DeviceKind = 'ios' | 'android'

export function device(userId: string, kind: DeviceKind, at = Date.now()): Device {
  return kind === 'ios'
    ? { userId, platform: 'ios', token: apnsToken(), pushType: 'alert', environment: 'sandbox', registeredAt: at }
    : { userId, platform: 'android', token: fcmToken(), registeredAt: at }
}

/** Writes devices through the product's store (the same code the API uses), `concurrency` at a time. */
export async function seedDevices(
  store: Store,
  devices: Device[],
  onProgress?: (done: number) => void,
  concurrency = 256,
): Promise<void> {
  // One call first: the store waits for its first connection once, not once per concurrent call.
  await store.ping()
  let next = 0
  let done = 0
  const worker = async (): Promise<void> => {
    while (next < devices.length) {
      const d = devices[next++] as Device
      await store.upsertDevice(d)
      if (++done % 1000 === 0) onProgress?.(done)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  onProgress?.(done)
}

export function openBenchStore(url: string, keyPrefix?: string): Promise<Store> {
  return openStore(url, keyPrefix ? { keyPrefix } : {})
}

/** Settings that point a gateway at `world`, with quiet defaults for a benchmark. */
export function gatewayEnv(
  world: TestWorld,
  storeUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  // The API's rate limits protect a deployment from abuse; a load generator is the abuse they
  // would stop, so the benchmarks switch them off (0) and measure the API itself.
  return {
    ...world.env,
    STORE_URL: storeUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_PER_IP_PER_MINUTE: '0',
    RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: '0',
    ...extra,
  }
}
