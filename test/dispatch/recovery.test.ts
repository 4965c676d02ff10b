// The dispatcher and the three providers against the sandboxes (real TLS, real HTTP/2): every push
// service answer of docs/PLATFORMS.md leads to the right recovery: prune, keep, retry, alarm, or nothing late.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { systemClock } from '../../src/clock.js'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import { ProviderAlarms } from '../../src/dispatch/alarms.js'
import type { Device, PushIntent, PushTarget } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { createApnsProvider } from '../../src/providers/apns.js'
import { createFcmProvider } from '../../src/providers/fcm.js'
import type { ProviderName, PushProvider } from '../../src/providers/provider.js'
import { createWebPushProvider } from '../../src/providers/webpush.js'
import { WebPushEndpointPolicy } from '../../src/providers/webpush-endpoints.js'
import { startApnsSandbox, type ApnsSandbox } from '../../src/sim/apns/index.js'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { createMemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/store.js'
import type { PushOutcome } from '../../src/outcomes.js'

let world: TestWorld
let production: ApnsSandbox
before(async () => {
  world = await startTestWorld()
  // A second APNs host, so the sandbox-vs-production check has two environments to ask.
  production = await startApnsSandbox({ tls: world.pki, keys: [world.apnsKey], topics: [world.bundleId] })
})
after(async () => {
  await production.close()
  await world.close()
})

interface Rig {
  store: Store
  dispatcher: Dispatcher
  alarms: ProviderAlarms
  outcomes: PushOutcome[]
}

async function rig(t: { after: (fn: () => Promise<void>) => void }, o: { twoApnsHosts?: boolean } = {}): Promise<Rig> {
  const store = createMemoryStore()
  const logger = silentLogger()
  const key = { keyId: world.apnsKey.keyId, teamId: world.apnsKey.teamId, privateKeyPem: world.apnsKey.privateKeyPem }
  const providers: Partial<Record<ProviderName, PushProvider>> = {
    apns: createApnsProvider({
      key,
      logger,
      ca: world.pki.caCert,
      ...(o.twoApnsHosts ? { urls: { production: production.url, sandbox: world.apns.url } } : { url: world.apns.url }),
    }),
    fcm: createFcmProvider({
      serviceAccount: world.serviceAccount,
      url: world.fcm.url,
      ca: world.pki.caCert,
      logger,
    }),
    webpush: createWebPushProvider({
      vapid: world.vapid,
      ca: world.pki.caCert,
      logger,
      endpoints: new WebPushEndpointPolicy({ allowedHosts: [], sandboxHosts: [world.webPushSandboxHost] }),
    }),
  }
  const alarms = new ProviderAlarms({ clock: systemClock, logger })
  const outcomes: PushOutcome[] = []
  const dispatcher = new Dispatcher({
    providers,
    store,
    clock: systemClock,
    logger,
    alarms,
    payload: { apnsTopic: world.bundleId, apnsEnvironment: 'sandbox', redactCaller: false },
    onOutcome: (x) => outcomes.push(x),
    retryBaseMs: 20,
    retryMaxMs: 100,
  })
  t.after(async () => {
    await Promise.all(Object.values(providers).map((p) => p.close()))
    await store.close()
  })
  return { store, dispatcher, alarms, outcomes }
}

const apnsToken = (): string => randomBytes(32).toString('hex')
const fcmToken = (): string => `${randomBytes(8).toString('base64url')}:APA91b${randomBytes(60).toString('base64url')}`
let n = 0
const conversation = (): string => `c0ffee00-0000-4000-8000-${(++n).toString().padStart(12, '0')}`

async function device(r: Rig, d: Partial<Device> & Pick<Device, 'platform' | 'token'>): Promise<PushTarget> {
  const saved = await r.store.upsertDevice({
    userId: 'agent-1',
    registeredAt: Date.now() - 60_000,
    ...(d.platform === 'ios' ? { pushType: 'alert', environment: 'sandbox' } : {}),
    ...d,
  })
  return { device: saved, via: saved.platform === 'ios' ? (saved.pushType === 'voip' ? 'voip' : 'alert') : 'data' }
}

function ring(targets: PushTarget[], o: { lifeMs?: number; action?: 'ring' | 'cancel' } = {}): PushIntent {
  return {
    action: o.action ?? 'ring',
    ring: {
      conversationId: conversation(),
      userId: 'agent-1',
      participantId: 'p-1',
      mediaType: 'chat',
      offeredAt: Date.now(),
    },
    targets,
    expiresAt: Date.now() + (o.lifeMs ?? 30_000),
    ...(o.action === 'cancel' ? { reason: 'abandoned' } : {}),
  }
}

const apnsPushes = (s: ApnsSandbox, token: string) => s.accepted.filter((p) => p.token === token)
const fcmPushes = (token: string) => world.fcm.accepted.filter((m) => (m.message as { token: string }).token === token)

describe('APNs answers', () => {
  test('410 Unregistered: the device disappears from the store and is not pushed again', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'ios', token: apnsToken() })
    world.apns.failToken(target.device.token, { status: 410, reason: 'Unregistered' })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'invalid-token')
    assert.equal(first?.pruned, true)
    assert.equal(await r.store.getDevice(target.device.token), undefined)
    assert.deepEqual(await r.store.listDevices('agent-1'), [])
  })

  test('410 with a timestamp older than a re-registration keeps the device', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'ios', token: apnsToken(), registeredAt: Date.now() })
    world.apns.failToken(target.device.token, {
      status: 410,
      reason: 'Unregistered',
      timestamp: Date.now() - 3_600_000,
      times: 1,
    })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'invalid-token')
    assert.equal(first?.pruned, false)
    assert.ok(await r.store.getDevice(target.device.token), 'the device registered again after Apple saw it dead')
  })

  test('503 then 200: one delivery', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'ios', token: apnsToken() })
    world.apns.failToken(target.device.token, { status: 503, reason: 'ServiceUnavailable', times: 1 })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'delivered')
    assert.equal(first?.attempts, 2)
    assert.equal(apnsPushes(world.apns, target.device.token).length, 1)
  })

  for (const [status, reason] of [
    [429, 'TooManyRequests'],
    [500, 'InternalServerError'],
  ] as const) {
    test(`${status} ${reason} is retried with back-off and delivered`, async (t) => {
      const r = await rig(t)
      const target = await device(r, { platform: 'ios', token: apnsToken() })
      world.apns.failToken(target.device.token, { status, reason, times: 2 })
      const [first] = await r.dispatcher.dispatch(ring([target]))
      assert.equal(first?.result.kind, 'delivered')
      assert.equal(first?.attempts, 3)
    })
  }

  test('a ring whose retries outlive it: no push after its end', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'ios', token: apnsToken() })
    // APNs asks to come back in 2 s; the ring ends in 300 ms.
    world.apns.failToken(target.device.token, { status: 503, reason: 'ServiceUnavailable', times: 1, retryAfterS: 2 })
    const intent = ring([target], { lifeMs: 300 })
    const [first] = await r.dispatcher.dispatch(intent)
    assert.equal(first?.result.kind, 'expired')
    await new Promise((res) => setTimeout(res, 400))
    assert.equal(apnsPushes(world.apns, target.device.token).length, 0)
  })

  test('a push stalled at APNs is given up when its ring ends, not before; pushes ending together share the deadline', async (t) => {
    const r = await rig(t)
    const targets = await Promise.all([
      device(r, { platform: 'ios', token: apnsToken() }),
      device(r, { platform: 'ios', token: apnsToken() }),
    ])
    world.apns.stall(3_000)
    t.after(() => world.apns.stall(0))
    const started = performance.now()
    const outcomes = await Promise.all(targets.map((target) => r.dispatcher.dispatch(ring([target], { lifeMs: 400 }))))
    const tookMs = performance.now() - started
    for (const [o] of outcomes)
      assert.equal(
        o?.result.kind,
        'expired',
        `${o?.result.kind}: ${'reason' in (o?.result ?? {}) ? (o?.result as { reason: string }).reason : ''}`,
      )
    // Never before the ring's end; at most one deadline slice (100 ms) after it, plus scheduling.
    assert.ok(tookMs >= 390, `gave up after ${tookMs.toFixed(0)} ms, before the ring ended`)
    assert.ok(tookMs < 1_000, `gave up after ${tookMs.toFixed(0)} ms: the stall (3 s) was waited out`)
  })

  test('a burst of pushes sharing one deadline: every one still stalled is given up at the ring end, none before, none twice', async (t) => {
    const r = await rig(t)
    const targets = await Promise.all(
      Array.from({ length: 120 }, () => device(r, { platform: 'ios', token: apnsToken() })),
    )
    world.apns.stall(3_000)
    t.after(() => world.apns.stall(0))
    const started = performance.now()
    const outcomes = (
      await Promise.all(targets.map((target) => r.dispatcher.dispatch(ring([target], { lifeMs: 400 }))))
    ).flat()
    const tookMs = performance.now() - started
    assert.equal(outcomes.length, targets.length, 'one outcome per push')
    assert.deepEqual(
      [...new Set(outcomes.map((o) => o.result.kind))],
      ['expired'],
      'every stalled push is given up when its ring ends',
    )
    assert.ok(tookMs >= 390, `gave up after ${tookMs.toFixed(0)} ms, before the ring ended`)
    assert.ok(tookMs < 1_500, `gave up after ${tookMs.toFixed(0)} ms: the stall (3 s) was waited out`)
  })

  test('403 InvalidProviderToken raises an alarm and keeps the token; the next delivery clears it', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'ios', token: apnsToken() })
    world.apns.failToken(target.device.token, { status: 403, reason: 'InvalidProviderToken', times: 1 })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'failed')
    assert.ok(await r.store.getDevice(target.device.token), 'tokens are kept on a configuration error')
    assert.equal(r.alarms.readiness().ok, false)
    assert.equal(r.alarms.active()[0]?.provider, 'apns')
    const [second] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(second?.result.kind, 'delivered')
    assert.equal(r.alarms.readiness().ok, true)
  })

  test('BadDeviceToken from the registered environment: delivered through the other one, which the device keeps', async (t) => {
    const r = await rig(t, { twoApnsHosts: true })
    // Registered as production, but it is a development (sandbox) token: production refuses it.
    const target = await device(r, { platform: 'ios', token: apnsToken(), environment: 'production' })
    production.failToken(target.device.token, { status: 400, reason: 'BadDeviceToken' })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'delivered')
    assert.equal(apnsPushes(world.apns, target.device.token).length, 1)
    assert.equal((await r.store.getDevice(target.device.token))?.environment, 'sandbox')
    const [second] = await r.dispatcher.dispatch(
      ring([{ ...target, device: (await r.store.getDevice(target.device.token))! }]),
    )
    assert.equal(second?.result.kind, 'delivered')
    assert.equal(
      production.rejected.filter((x) => x.token === target.device.token).length,
      1,
      'production is not asked again',
    )
  })

  test('BadDeviceToken in both environments: the device is removed', async (t) => {
    const r = await rig(t, { twoApnsHosts: true })
    const target = await device(r, { platform: 'ios', token: apnsToken(), environment: 'production' })
    production.failToken(target.device.token, { status: 400, reason: 'BadDeviceToken' })
    world.apns.failToken(target.device.token, { status: 400, reason: 'BadDeviceToken' })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'invalid-token')
    assert.equal(await r.store.getDevice(target.device.token), undefined)
  })

  test('DeviceTokenNotForTopic with APNS_URL (one host for both environments): removed without a second ask', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'ios', token: apnsToken() })
    world.apns.failToken(target.device.token, { status: 400, reason: 'DeviceTokenNotForTopic' })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'invalid-token')
    assert.equal(world.apns.rejected.filter((x) => x.token === target.device.token).length, 1)
    assert.equal(await r.store.getDevice(target.device.token), undefined)
  })
})

describe('FCM answers', () => {
  for (const errorCode of ['UNREGISTERED', 'INVALID_ARGUMENT', 'SENDER_ID_MISMATCH'] as const) {
    const status = errorCode === 'UNREGISTERED' ? 404 : errorCode === 'SENDER_ID_MISMATCH' ? 403 : 400
    test(`${status} ${errorCode}: the token is removed`, async (t) => {
      const r = await rig(t)
      const target = await device(r, { platform: 'android', token: fcmToken() })
      world.fcm.failToken(target.device.token, { status, errorCode })
      const [first] = await r.dispatcher.dispatch(ring([target]))
      assert.equal(first?.result.kind, 'invalid-token')
      assert.equal(await r.store.getDevice(target.device.token), undefined)
    })
  }

  test('401 THIRD_PARTY_AUTH_ERROR: alarm, token kept, no retry', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'android', token: fcmToken() })
    world.fcm.failToken(target.device.token, { status: 401, errorCode: 'THIRD_PARTY_AUTH_ERROR', times: 1 })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'failed')
    assert.equal(first?.attempts, 1)
    assert.ok(await r.store.getDevice(target.device.token))
    assert.equal(r.alarms.active()[0]?.provider, 'fcm')
  })

  test('429 QUOTA_EXCEEDED honours Retry-After within the ring', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'android', token: fcmToken() })
    world.fcm.failToken(target.device.token, { status: 429, errorCode: 'QUOTA_EXCEEDED', retryAfterS: 1, times: 1 })
    const started = Date.now()
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'delivered')
    assert.ok(Date.now() - started >= 950, 'waited what FCM asked')
    assert.equal(fcmPushes(target.device.token).length, 1)
  })

  test('503 UNAVAILABLE then 200: one delivery', async (t) => {
    const r = await rig(t)
    const target = await device(r, { platform: 'android', token: fcmToken() })
    world.fcm.failToken(target.device.token, { status: 503, errorCode: 'UNAVAILABLE', times: 1 })
    const [first] = await r.dispatcher.dispatch(ring([target]))
    assert.equal(first?.result.kind, 'delivered')
    assert.equal(fcmPushes(target.device.token).length, 1)
  })
})

describe('Web Push answers', () => {
  for (const status of [404, 410]) {
    test(`${status}: the subscription is removed and not pushed again`, async (t) => {
      const r = await rig(t)
      const subscription = world.webpush.subscribe({ applicationServerKey: world.vapid.publicKey })
      const target = await device(r, { platform: 'web', token: subscription.endpoint, subscription })
      world.webpush.failSubscription(subscription.endpoint, { status })
      const [first] = await r.dispatcher.dispatch(ring([target]))
      assert.equal(first?.result.kind, 'invalid-token')
      assert.equal(await r.store.getDevice(subscription.endpoint), undefined)
    })
  }

  test('a ring and its cancel arrive decrypted, Urgency high, TTL = what is left of the ring, same Topic', async (t) => {
    const r = await rig(t)
    const subscription = world.webpush.subscribe({ applicationServerKey: world.vapid.publicKey })
    const target = await device(r, { platform: 'web', token: subscription.endpoint, subscription })
    const intent = ring([target], { lifeMs: 20_000 })
    await r.dispatcher.dispatch(intent)
    await r.dispatcher.dispatch({ ...intent, action: 'cancel', reason: 'abandoned' })
    const got = world.webpush.accepted.filter((p) => p.endpoint === subscription.endpoint)
    assert.deepEqual(
      got.map((p) => p.payload?.action),
      ['ring', 'cancel_ring'],
    )
    assert.equal(got[0]?.urgency, 'high')
    assert.ok(got[0] && got[0].ttl <= 20 && got[0].ttl >= 19)
    assert.equal(got[0]?.payload?.genesys_conversation_id, intent.ring.conversationId)
    assert.equal(got[0]?.topic, got[1]?.topic)
  })
})

test('one slow device does not delay another of the same agent', async (t) => {
  const r = await rig(t)
  const slow = await device(r, { platform: 'ios', token: apnsToken() })
  const fast = await device(r, { platform: 'android', token: fcmToken() })
  world.apns.failToken(slow.device.token, { status: 503, reason: 'ServiceUnavailable', times: 1, retryAfterS: 1 })
  r.outcomes.length = 0
  const all = r.dispatcher.dispatch(ring([slow, fast]))
  const fastDone = await new Promise<number>((resolve) => {
    const started = Date.now()
    const poll = setInterval(() => {
      if (r.outcomes.some((x) => x.target.device.token === fast.device.token)) {
        clearInterval(poll)
        resolve(Date.now() - started)
      }
    }, 5)
  })
  await all
  assert.ok(fastDone < 900, `the Android push finished in ${fastDone} ms while APNs asked for 1 s`)
})
