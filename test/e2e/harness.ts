// Starts the real gateway in-process against a fresh test world (Genesys simulator, APNs and FCM
// sandboxes over TLS) with a real SQLite file, and offers the helpers the scenarios need.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { Gateway } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger, type Logger } from '../../src/observability/logger.js'
import { startNetProxy, type NetProxy } from '../../src/sim/net-proxy.js'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { DYNALITE_ENV, startDynalite } from '../support/dynalite.js'

export interface Harness {
  world: TestWorld
  gateway: Gateway
  api: string
  register(accessToken: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }>
  close(): Promise<void>
}

/**
 * The store the harness gives the gateway: SQLite by default; PGW_TEST_STORE=dynamodb runs the same
 * scenarios on dynalite (test/e2e/*-dynamodb.test.ts set it before loading a scenario file),
 * PGW_TEST_STORE=redis on the local Redis.
 */
async function harnessStore(
  world: TestWorld,
): Promise<{ settings: Record<string, string>; close: () => Promise<void> }> {
  if (process.env.PGW_TEST_STORE === 'redis') {
    // Its own key prefix on the shared test Redis, deleted at the end.
    const prefix = `test:e2e:${randomBytes(6).toString('hex')}:`
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    return { settings: { STORE_URL: `${url}?prefix=${prefix}` }, close: () => dropRedisPrefix(url, prefix) }
  }
  if (process.env.PGW_TEST_STORE !== 'dynamodb')
    return { settings: { STORE_URL: `sqlite:${join(world.dir, 'gateway.db')}` }, close: async () => undefined }
  const dynalite = await startDynalite()
  // The AWS SDK's default credential chain reads these; set, it never asks an instance-metadata address.
  Object.assign(process.env, DYNALITE_ENV)
  return {
    settings: { STORE_URL: dynalite.storeUrl('e2e'), DYNAMODB_CREATE_TABLES: '1' },
    close: () => dynalite.close(),
  }
}

/** Deletes every key under `prefix` on the Redis at `url`: a test's own keys on the shared test Redis. */
export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/**
 * `settingsFor`: settings that depend on the world (e.g. APNS_URL through a proxy in front of the
 * sandbox), applied after `settings`.
 */
export async function startHarness(
  settings: Record<string, string> = {},
  settingsFor?: (world: TestWorld) => Promise<Record<string, string>>,
  options: { logger?: Logger } = {},
): Promise<Harness> {
  const world = await startTestWorld()
  const store = await harnessStore(world)
  const late = settingsFor ? await settingsFor(world) : {}
  const config = loadConfig({ ...world.env, ...store.settings, PORT: '0', HOST: '127.0.0.1', ...settings, ...late })
  const gateway = await Gateway.create({
    config,
    logger: options.logger ?? silentLogger(),
    ca: world.pki.caCert,
    webPushSandboxHosts: [world.webPushSandboxHost],
  })
  const api = await gateway.start()
  return {
    world,
    gateway,
    api,
    async register(accessToken, body) {
      const res = await fetch(`${api}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    },
    async close() {
      await gateway.stop(1_000)
      await Promise.all([world.close(), store.close()])
    },
  }
}

/**
 * A harness whose store is the test Redis reached through a loopback proxy (net-proxy.ts) the test
 * can slow down or break, under a key prefix of its own that close() deletes.
 */
export async function startHarnessOnProxiedRedis(
  tag: string,
  settings: Record<string, string> = {},
): Promise<{ h: Harness; proxy: NetProxy; close: () => Promise<void> }> {
  const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const prefix = `test:${tag}:${randomBytes(6).toString('hex')}:`
  const proxy = await startNetProxy({ target: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) } })
  const h = await startHarness({ STORE_URL: `redis://127.0.0.1:${proxy.port}?prefix=${prefix}`, ...settings })
  return {
    h,
    proxy,
    close: async () => {
      await h.close()
      await proxy.close()
      await dropRedisPrefix(redisUrl.href, prefix)
    },
  }
}

/** How many `action` pushes (ring, cancel_ring) of conversation `cid` the FCM sandbox accepted. */
export function fcmPushes(h: Harness, cid: string, action: string): number {
  return h.world.fcm.accepted.filter((m) => {
    const data = m.message.data as Record<string, string>
    return data.genesys_conversation_id === cid && data.action === action
  }).length
}

export const apnsToken = (): string => randomBytes(32).toString('hex')
export const fcmToken = (): string =>
  `${randomBytes(12).toString('base64url')}:APA91b${randomBytes(96).toString('base64url')}`

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Waits until the gateway's source has subscribed this agent's conversations topic. */
export function subscribed(h: Harness, userId: string): Promise<true> {
  return waitFor(
    `a subscription for ${userId}`,
    () =>
      h.world.genesys.channels().some((c) => c.connected && c.topics.includes(`v2.users.${userId}.conversations`)) ||
      undefined,
  )
}
