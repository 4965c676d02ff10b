// The push services misbehaving under a stream of calls, through the whole gateway: APNs sending
// GOAWAY, resetting and refusing streams, answering 503 to 30% of requests and stalling its answers;
// FCM answering 503 with Retry-After. Then, with the provider's request timeout scaled down to
// 300 ms, APNs stalling past it. Checked per call and device: rung once, cancelled once after the
// ring, FCM's Retry-After honoured, nothing crashed.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { systemClock } from '../../src/clock.js'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import type { Device, PushIntent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { createApnsProvider } from '../../src/providers/apns.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { lostIn, verdict } from '../support/ledger.js'
import { recordTrial } from '../support/trials.js'
import { ProcessFaults } from '../support/process-faults.js'

const CALLS_PER_PHASE = 8
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
let h: Harness
const processFaults = new ProcessFaults()
const faults = processFaults.seen
before(async () => {
  processFaults.start()
  h = await startHarness({ RING_TIMEOUT_S: '30', RATE_LIMIT_PER_MINUTE: '0' })
})
after(async () => {
  await h.close()
  processFaults.stop()
})

async function agents(n: number): Promise<Array<{ userId: string; tokens: string[] }>> {
  const out = []
  for (let i = 0; i < n; i++) {
    const a = h.world.genesys.addAgent()
    const tokens = [apnsToken(), fcmToken()]
    assert.equal(
      (await h.register(a.accessToken, { platform: 'ios', token: tokens[0], environment: 'sandbox' })).status,
      201,
    )
    assert.equal((await h.register(a.accessToken, { platform: 'android', token: tokens[1] })).status, 201)
    await subscribed(h, a.userId)
    out.push({ userId: a.userId, tokens })
  }
  return out
}

/** Offers CALLS_PER_PHASE calls 250 ms apart while `fault` runs; each is answered 2 s after its offer. */
async function phase(
  people: Array<{ userId: string; tokens: string[] }>,
  fault: (n: number) => void,
): Promise<Map<string, string[]>> {
  const calls = new Map<string, string[]>()
  const ends: Array<Promise<void>> = []
  for (let n = 0; n < CALLS_PER_PHASE; n++) {
    const p = people[n % people.length]!
    fault(n)
    const { conversationId } = h.world.genesys.offer({ userId: p.userId, mediaType: n % 3 === 2 ? 'chat' : 'voice' })
    calls.set(conversationId, p.tokens)
    ends.push(sleep(2_000).then(() => h.world.genesys.answer(conversationId)))
    await sleep(250)
  }
  await Promise.all(ends)
  await waitFor('every ring and cancel', () => lostIn(verdict(h.world, calls)) === 0, 15_000).catch(() => undefined)
  return calls
}

test('APNs GOAWAY, resets, 30% 503s and stalls, FCM 503 with Retry-After, under a stream of calls: each device rung once and cancelled once', async () => {
  const people = await agents(3)
  const results: Record<string, { calls: Map<string, string[]>; injected: number }> = {}

  let goaways = 0
  results.goaway = { calls: await phase(people, (n) => n % 2 === 1 && (goaways++, h.world.apns.goAway())), injected: 0 }
  results.goaway.injected = goaways

  let seq = 0
  let chaos = 0
  h.world.apns.setChaos(() => {
    const i = seq++
    if (i % 10 < 3) return (chaos++, { status: 503, reason: 'ServiceUnavailable' })
    if (i % 10 === 4) return (chaos++, i % 20 === 4 ? 'reset' : 'refuse')
    return undefined
  })
  results.apnsErrors = { calls: await phase(people, () => undefined), injected: 0 }
  h.world.apns.setChaos(undefined)
  results.apnsErrors.injected = chaos

  let stalls = 0
  results.stall = {
    calls: await phase(people, (n) => n % 3 === 0 && (stalls++, h.world.apns.stall(1_500))),
    injected: 0,
  }
  results.stall.injected = stalls

  // FCM: the next 12 sends answer 503 UNAVAILABLE with Retry-After: 1.
  const fcmFirst = performance.now()
  h.world.fcm.failNext(12, { status: 503, errorCode: 'UNAVAILABLE', retryAfterS: 1 })
  results.fcm = { calls: await phase(people, () => undefined), injected: 12 }
  const fcmTokens = new Set(people.map((p) => p.tokens[1]))
  const firstFcm = h.world.fcm.accepted.filter(
    (m) => m.hrtime > fcmFirst && fcmTokens.has((m.message as { token?: string }).token ?? ''),
  )
  const earliest = Math.min(...firstFcm.map((m) => m.hrtime)) - fcmFirst

  const rows: Array<[string, string, string]> = [
    ['goaway', 'fault.apns-goaway', 'APNs GOAWAY (NO_ERROR, last stream 0) on every connection, every other call'],
    [
      'apnsErrors',
      'fault.apns-503-and-resets',
      'APNs answering 503 to 30% of requests and resetting (REFUSED_STREAM / INTERNAL_ERROR) 10%',
    ],
    ['stall', 'fault.apns-stall', 'APNs holding every answer 1.5 s (under the request timeout), every third call'],
    ['fcm', 'fault.fcm-503-retry-after', 'FCM answering 503 UNAVAILABLE with Retry-After: 1 to 12 sends in a row'],
  ]
  const verdicts = Object.fromEntries(Object.entries(results).map(([k, r]) => [k, verdict(h.world, r.calls)]))
  for (const [key, id, what] of rows) {
    const v = verdicts[key]!
    recordTrial(
      {
        id,
        area: 'fault',
        what: `${what}, during ${CALLS_PER_PHASE} calls to an iPhone and an Android phone each`,
        tried: CALLS_PER_PHASE,
        unit: 'calls',
        held: 'each device rang once and was cancelled once, after the ring; no crash',
        lost: lostIn(v) + (key === 'goaway' ? faults.length : 0),
        observed: `${results[key]!.injected} injected; ${v.rings} rings, ${v.cancels} cancels${key === 'fcm' ? `; first FCM delivery after ${Math.round(earliest)} ms` : ''}`,
      },
      import.meta.url,
    )
  }
  assert.deepEqual(faults, [])
  for (const [key, v] of Object.entries(verdicts)) {
    assert.deepEqual(v.notRung, [], `${key}: every call rang`)
    assert.deepEqual(v.duplicateRings, [], `${key}: no device rang twice`)
    assert.deepEqual(v.notEnded, [], `${key}: every ring cancelled once`)
  }
  assert.ok(chaos >= 10, `APNs errors were injected (${chaos})`)
  assert.ok(earliest >= 1_000, `FCM's Retry-After was honoured (${Math.round(earliest)} ms)`)
})

test('APNs stalling past the request timeout (300 ms here): the push is retried on a fresh stream and delivered once', async () => {
  const store = createMemoryStore()
  const logger = silentLogger()
  const apns = createApnsProvider({
    key: { keyId: h.world.apnsKey.keyId, teamId: h.world.apnsKey.teamId, privateKeyPem: h.world.apnsKey.privateKeyPem },
    url: h.world.apns.url,
    ca: h.world.pki.caCert,
    logger,
    requestTimeoutMs: 300,
  })
  const dispatcher = new Dispatcher({
    providers: { apns },
    store,
    clock: systemClock,
    logger,
    payload: { apnsTopic: h.world.bundleId, apnsEnvironment: 'sandbox', redactCaller: false },
    retryBaseMs: 20,
    retryMaxMs: 100,
  })
  const PUSHES = 6
  const devices: Device[] = Array.from({ length: PUSHES }, () => ({
    userId: 'stall-agent',
    platform: 'ios',
    token: randomBytes(32).toString('hex'),
    pushType: 'alert',
    environment: 'sandbox',
    registeredAt: Date.now(),
  }))
  h.world.apns.stall(1_000)
  const started = performance.now()
  const outcomes = await Promise.all(
    devices.map((device, i) => {
      const intent: PushIntent = {
        action: 'ring',
        ring: {
          conversationId: `stall-${i}`,
          userId: device.userId,
          participantId: `p-${i}`,
          mediaType: 'chat',
          offeredAt: Date.now(),
        },
        targets: [{ device, via: 'alert' }],
        expiresAt: Date.now() + 10_000,
      }
      return dispatcher.dispatch(intent)
    }),
  )
  const took = performance.now() - started
  await apns.close()
  const delivered = outcomes.flat().filter((o) => o.result.kind === 'delivered')
  const accepted = devices.map((d) => h.world.apns.accepted.filter((p) => p.token === d.token).length)
  recordTrial(
    {
      id: 'fault.apns-stall-timeout',
      area: 'fault',
      what: 'APNs holding its answers 1 s, past the request timeout (scaled down to 300 ms)',
      tried: PUSHES,
      unit: 'pushes',
      held: 'timed-out requests retried; each push accepted exactly once',
      lost: accepted.filter((n) => n !== 1).length,
      observed: `all delivered after ${Math.round(took)} ms; ${outcomes.flat().reduce((s, o) => s + o.attempts, 0)} attempts`,
    },
    import.meta.url,
  )
  assert.equal(delivered.length, PUSHES)
  assert.deepEqual(
    accepted,
    Array(PUSHES).fill(1),
    'each push accepted once: the stalled streams were abandoned, not answered',
  )
  assert.ok(
    outcomes.flat().every((o) => o.attempts >= 2),
    'each push timed out at least once first',
  )
})
