// A Redis error carries the command that failed, arguments included: for a registration that is the
// device token, the Web Push endpoint and its keys. Forced here (a key of the wrong type under the
// gateway's prefix), the requests must get 503 + Retry-After and no output may hold those secrets.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { Gateway } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createLogger } from '../../src/observability/logger.js'
import { StoreError } from '../../src/store/store.js'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { fcmToken, subscribed, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const ADMIN = 'admin-token-store-errors-0123456789'
const prefix = `test:store-errors:${randomUUID()}:`
const logs: string[] = []
let world: TestWorld
let gateway: Gateway
let api: string
let redis: Redis

before(async () => {
  world = await startTestWorld()
  redis = new Redis(REDIS_URL)
  const config = loadConfig({
    ...world.env,
    STORE_URL: REDIS_URL,
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN: ADMIN,
    LOG_LEVEL: 'trace',
  })
  const logger = createLogger({ level: 'trace' }, { write: (s: string) => void logs.push(s) })
  gateway = await Gateway.create({
    config,
    logger,
    ca: world.pki.caCert,
    storeKeyPrefix: prefix,
    webPushSandboxHosts: [world.webPushSandboxHost],
  })
  api = await gateway.start()
})
after(async () => {
  await gateway.stop(1_000)
  await world.close()
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

test('a Redis error whose command holds device tokens and Web Push keys: 503 + Retry-After, and the secrets appear in no output', async () => {
  const agent = world.genesys.addAgent()
  const auth = { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' }
  const kept = fcmToken()
  assert.equal(
    (
      await fetch(`${api}/api/v1/devices`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ platform: 'android', token: kept }),
      })
    ).status,
    201,
  )
  await subscribed({ world } as Harness, agent.userId)

  // The per-platform counter hash becomes a string: every registration and removal script fails
  // with WRONGTYPE, and ioredis's error holds the script's arguments.
  await redis.set(`${prefix}device_counts`, 'not a hash')
  const android = fcmToken()
  const sub = world.webpush.subscribe({ applicationServerKey: world.vapid.publicKey })
  const secrets = [android, kept, sub.endpoint, sub.keys.p256dh, sub.keys.auth, agent.accessToken]
  const answers: Array<{ status: number; retryAfter: string | null; text: string }> = []
  const call = async (path: string, init: RequestInit): Promise<void> => {
    const res = await fetch(`${api}${path}`, init)
    answers.push({
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      text: `${JSON.stringify([...res.headers])} ${await res.text()}`,
    })
  }
  await call('/api/v1/devices', {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ platform: 'android', token: android }),
  })
  await call('/api/v1/devices', {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ platform: 'web', subscription: sub }),
  })
  await call(`/api/v1/devices/${kept}`, { method: 'DELETE', headers: { authorization: auth.authorization } })
  await redis.del(`${prefix}device_counts`)

  const admin = { authorization: `Bearer ${ADMIN}` }
  const outputs: Array<[string, string]> = answers.map((a, i) => [`answer ${i}`, a.text])
  for (const path of ['/metrics', '/dashboard/api/state', '/api/v1/admin/audit', '/api/v1/admin/alarms', '/readyz']) {
    outputs.push([path, await (await fetch(`${api}${path}`, { headers: admin })).text()])
  }
  outputs.push(['logs', logs.join('')])
  const found: string[] = []
  for (const [where, text] of outputs)
    for (const secret of secrets) if (text.includes(secret)) found.push(`${where}: ${secret.slice(0, 8)}…`)
  const failures = logs.filter((l) => l.includes('store step failed'))
  recordTrial(
    {
      id: 'security.store-error-outputs',
      area: 'security',
      what: 'Redis refusing the registration and removal scripts (WRONGTYPE) whose arguments hold an FCM token, a Web Push endpoint and its keys; every answer, log line, metric, audit, alarm, dashboard and readiness output searched for them',
      tried: outputs.length * secrets.length,
      unit: 'searches',
      held: '503 + Retry-After for each request (never 500); the failure logged with its message, without the command or arguments',
      lost: found.length + answers.filter((a) => a.status !== 503 || a.retryAfter === null).length,
    },
    import.meta.url,
  )
  assert.deepEqual(
    answers.map((a) => [a.status, a.retryAfter !== null]),
    [
      [503, true],
      [503, true],
      [503, true],
    ],
  )
  assert.deepEqual(found, [])
  assert.equal(failures.length, 3, 'each failure is logged')
  assert.match(failures[0] ?? '', /WRONGTYPE/, 'with the reason Redis gave')
})

test("the err serializer never writes a client library's command: an ioredis error logged as is, as a cause, nested", async () => {
  const token = fcmToken()
  const endpoint = `https://fcm.googleapis.com/fcm/send/${randomUUID()}`
  const key = `${prefix}not-a-hash`
  await redis.set(key, 'string')
  const replyError = await redis.hset(key, token, JSON.stringify({ endpoint })).then(
    () => undefined,
    (err: unknown) => err as Error & { command?: { args?: unknown[] } },
  )
  assert.ok(replyError?.command?.args?.includes(token), 'ioredis hangs the command and its arguments on the error')
  const lines: string[] = []
  const logger = createLogger({ level: 'info' }, { write: (s: string) => void lines.push(s) })
  logger.error({ err: replyError }, 'as is')
  logger.error({ err: new StoreError('wrapped', { cause: replyError }) }, 'as a cause')
  logger
    .child({ component: 'x' })
    .warn({ err: new Error('outer', { cause: new StoreError('middle', { cause: replyError }) }) }, 'nested')
  const leaks = lines.filter((l) => l.includes(token) || l.includes(endpoint)).length
  recordTrial(
    {
      id: 'security.error-serializer',
      area: 'security',
      what: 'A real ioredis error whose command holds an FCM token and a Web Push endpoint, logged as the error, as its cause and two causes deep',
      tried: lines.length,
      unit: 'log lines',
      held: 'type, message, stack and codes logged; the command and its arguments in none',
      lost: leaks,
    },
    import.meta.url,
  )
  assert.equal(lines.length, 3)
  assert.equal(leaks, 0)
  assert.ok(
    lines.every((l) => l.includes('WRONGTYPE')),
    'the reason itself is kept',
  )
})
