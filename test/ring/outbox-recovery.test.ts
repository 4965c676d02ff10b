// The ring engine's outbox: a ring or cancel claimed in the store by an instance that died before
// pushing it is pushed by recovery, once, after a grace; what a live instance pushed is never
// pushed again. "A dead instance" is simulated by writing its claims straight into the store.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import { ringKey, type PushIntent, type RingRecord, type RoutingEvent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { RingEngine } from '../../src/ring/engine.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { routingEvent } from '../support/routing-events.js'

const FCM = 'fcm-token-0123456789:APA91bexample'
const ALERT = 'b'.repeat(64)
const RING_TIMEOUT_MS = 30_000
const GRACE_MS = 2_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function setup(graceMs = GRACE_MS) {
  const clock = new FakeClock()
  const store = createMemoryStore({ clock })
  const intents: PushIntent[] = []
  const engine = new RingEngine({
    store,
    clock,
    logger: silentLogger(),
    pushes: { dispatch: async (intent) => void intents.push(intent) },
    ringTimeoutMs: RING_TIMEOUT_MS,
    dedupWindowMs: 5_000,
    recoveryGraceMs: graceMs,
  })
  await store.upsertDevice({ userId: 'agent-1', platform: 'android', token: FCM, registeredAt: clock.now() })
  await store.upsertDevice({
    userId: 'agent-1',
    platform: 'ios',
    token: ALERT,
    pushType: 'alert',
    registeredAt: clock.now(),
  })
  const event = (kind: 'offer' | 'answered', extra: Partial<RoutingEvent> = {}): RoutingEvent =>
    routingEvent(clock, kind, extra)
  // What a dead instance leaves behind: the ring claimed (createRing), nothing pushed, nothing marked.
  const deadInstanceRing = async (): Promise<RingRecord> => {
    const record: RingRecord = {
      conversationId: 'conv-1',
      userId: 'agent-1',
      participantId: 'part-1',
      mediaType: 'voice',
      state: 'ringing',
      rungTokens: [FCM],
      cancelledTokens: [],
      offeredAt: clock.now(),
      expiresAt: clock.now() + RING_TIMEOUT_MS,
    }
    assert.equal(await store.createRing(record, RING_TIMEOUT_MS + 5_000), true)
    return record
  }
  const summary = () =>
    intents.map(
      (i) =>
        `${i.action}:${i.targets.map((t) => t.device.token.slice(0, 4)).join(',')}${i.reason ? `:${i.reason}` : ''}`,
    )
  return { clock, store, engine, intents, event, deadInstanceRing, summary }
}

test('a ring claimed by a dead instance and never sent is sent by recovery after the grace, exactly once', async () => {
  const w = await setup()
  await w.deadInstanceRing()
  // A live offer of the same conversation (webhook, another instance) is a duplicate: it never re-rings.
  w.clock.advance(GRACE_MS * 2)
  await w.engine.handle(w.event('offer'))
  assert.deepEqual(w.summary(), [])
  // Gap recovery reads the conversation again: still alerting, so the claimed ring goes out.
  await w.engine.handle(w.event('offer', { recovered: true }))
  assert.deepEqual(w.summary(), ['ring:fcm-'], 'to the device the ring was claimed for')
  assert.equal(
    w.intents[0]?.expiresAt,
    (await w.store.getRing('conv-1:agent-1:part-1'))?.expiresAt,
    'the ring keeps its original end',
  )
  // A second recovery (another reconnect) finds it marked sent.
  await sleep(0)
  assert.ok((await w.store.getRing('conv-1:agent-1:part-1'))?.dispatchedAt !== undefined, 'marked sent after the push')
  await w.engine.handle(w.event('offer', { recovered: true }))
  w.clock.advance(GRACE_MS)
  await w.engine.handle(w.event('offer', { recovered: true }))
  assert.deepEqual(w.summary(), ['ring:fcm-'])
  w.engine.stop()
})

test('a claim younger than the grace is left to its instance, and looked at again once the grace has passed', async () => {
  const w = await setup(60)
  await w.deadInstanceRing()
  await w.engine.handle(w.event('offer', { recovered: true }))
  assert.deepEqual(w.summary(), [], 'a live instance may be pushing it right now')
  w.clock.advance(60)
  await sleep(150)
  assert.deepEqual(w.summary(), ['ring:fcm-'], 'nobody marked it sent: recovery sent it')
  w.engine.stop()
})

test('a ring this instance sent is never sent again by recovery, nor one that already ended', async () => {
  const w = await setup()
  await w.engine.handle(w.event('offer'))
  await sleep(0)
  w.clock.advance(GRACE_MS * 2)
  await w.engine.handle(w.event('offer', { recovered: true }))
  assert.deepEqual(w.summary(), ['ring:fcm-,bbbb'])

  const ended = await setup()
  const r = await ended.deadInstanceRing()
  await ended.store.transitionRing(ringKey(r), ['ringing'], 'cancelled', RING_TIMEOUT_MS)
  ended.clock.advance(GRACE_MS * 2)
  await ended.engine.handle(ended.event('offer', { recovered: true }))
  assert.deepEqual(ended.summary(), [])
})

test('a cancel claimed by a dead instance and never sent is sent by the sweep after the grace, exactly once', async () => {
  const w = await setup()
  const r = await w.deadInstanceRing()
  const key = ringKey(r)
  // The dead instance sent the ring, then took the answer: ring moved, cancel claimed, nothing pushed.
  await w.store.markSent(key, { ring: true }, w.clock.now())
  await w.store.transitionRing(key, ['ringing'], 'answered', RING_TIMEOUT_MS + 5_000)
  assert.deepEqual(await w.store.claimCancels(key, [FCM]), [FCM])
  // The Genesys event seen again (webhook, recovery) finds nothing to do: the ring is no longer ringing.
  await w.engine.handle(w.event('answered', { recovered: true }))
  await w.engine.sweep()
  assert.deepEqual(w.summary(), [], 'within the grace the claiming instance may still push it')
  w.clock.advance(GRACE_MS)
  await w.engine.sweep()
  assert.deepEqual(w.summary(), ['cancel:fcm-:answered'])
  await sleep(0)
  w.clock.advance(GRACE_MS * 2)
  await w.engine.sweep()
  assert.deepEqual(w.summary(), ['cancel:fcm-:answered'], 'marked sent: never again')
})

test('cancels this instance sent are not resent, and the phone that answered never gets one', async () => {
  const w = await setup()
  await w.engine.handle(w.event('offer', { mediaType: 'chat' }))
  // The Android phone answered; the iPhone is cancelled at once and the Android phone never.
  assert.deepEqual(await w.engine.answeredOnDevice({ conversationId: 'conv-1', userId: 'agent-1', tokens: [FCM] }), {
    rings: 1,
    cancelled: 1,
  })
  await w.engine.handle(w.event('answered'))
  await sleep(0)
  w.clock.advance(GRACE_MS * 2)
  await w.engine.sweep()
  assert.deepEqual(w.summary(), ['ring:fcm-,bbbb', 'cancel:bbbb:answered-on-device'])
})

/**
 * Instances sharing one memory store (real timers for the outbox's beats, a fake clock for the
 * store): `instance(name, hold, store?)` is an engine whose dispatcher records `name:action` and
 * then waits for `hold(intent)`; `store` overrides the store that instance sees.
 */
async function sharedStore(graceMs: number) {
  const clock = new FakeClock()
  const store = createMemoryStore({ clock })
  const sent: string[] = []
  const engines: RingEngine[] = []
  const instance = (
    name: string,
    hold: (intent: PushIntent) => Promise<void> = async () => undefined,
    seen: typeof store = store,
  ): RingEngine => {
    const engine = new RingEngine({
      store: seen,
      clock,
      logger: silentLogger(),
      pushes: {
        dispatch: async (intent) => {
          sent.push(`${name}:${intent.action}`)
          await hold(intent)
        },
      },
      ringTimeoutMs: RING_TIMEOUT_MS,
      dedupWindowMs: 5_000,
      recoveryGraceMs: graceMs,
    })
    engines.push(engine)
    return engine
  }
  await store.upsertDevice({ userId: 'agent-1', platform: 'android', token: FCM, registeredAt: clock.now() })
  const event = (kind: 'offer' | 'answered'): RoutingEvent => routingEvent(clock, kind)
  const stopAll = (): void => engines.forEach((e) => e.stop())
  return { clock, store, sent, instance, event, stopAll }
}

test('a cancel still being sent by a live, slow instance past the grace is not sent again by another instance', async () => {
  // Two instances on one store. The first's push service answers only after several graces
  // (retries, a slow network); the second sweeps every beat. The phone must get one cancel.
  const graceMs = 200
  const w = await sharedStore(graceMs)
  let releaseSlowPush: () => void = () => undefined
  const slowPush = new Promise<void>((resolve) => (releaseSlowPush = resolve))
  const first = w.instance('first', (intent) => (intent.action === 'cancel' ? slowPush : Promise.resolve()))
  const second = w.instance('second')
  try {
    await first.handle(w.event('offer'))
    await first.handle(w.event('answered'))
    // Five graces pass on the store's clock while the first instance's cancel is still under way;
    // the first beats (every quarter grace) and the second sweeps as time goes.
    for (let step = 0; step < 50; step++) {
      w.clock.advance(graceMs / 10)
      await sleep(graceMs / 10)
      await second.sweep()
    }
    assert.deepEqual(w.sent, ['first:ring', 'first:cancel'], 'the live instance alone sends the cancel')
  } finally {
    releaseSlowPush()
    w.stopAll()
  }
  await sleep(graceMs / 2)
  w.clock.advance(graceMs * 3)
  await second.sweep()
  assert.deepEqual(w.sent, ['first:ring', 'first:cancel'], 'marked once the push service answered: never again')
})

test('a cancel whose instance stopped beating (it died mid-send) is sent by another instance', async () => {
  const graceMs = 200
  const w = await sharedStore(graceMs)
  const dying = w.instance('dying', (intent) =>
    intent.action === 'cancel' ? new Promise<void>(() => undefined) : Promise.resolve(),
  )
  const survivor = w.instance('survivor')
  await dying.handle(w.event('offer'))
  await dying.handle(w.event('answered'))
  dying.stop() // its heartbeat ends as a killed process's would; its push never completes
  for (let step = 0; step < 40 && !w.sent.includes('survivor:cancel'); step++) {
    w.clock.advance(graceMs / 10)
    await sleep(graceMs / 20)
    await survivor.sweep()
  }
  assert.deepEqual(w.sent, ['dying:ring', 'dying:cancel', 'survivor:cancel'])
  w.stopAll()
})

test('a mark the store refuses for a while (an outage) is retried, and no other instance resends the cancel meanwhile', async () => {
  const graceMs = 200
  const w = await sharedStore(graceMs)
  let refuseMarks = true
  // The first instance's view of the store: its marks fail while the outage lasts.
  const flaky = {
    ...w.store,
    markSent: async (...args: Parameters<typeof w.store.markSent>) => {
      if (refuseMarks) throw new Error('store unavailable')
      return w.store.markSent(...args)
    },
  }
  const first = w.instance('first', undefined, flaky)
  const second = w.instance('second')
  try {
    await first.handle(w.event('offer'))
    await first.handle(w.event('answered'))
    for (let step = 0; step < 30; step++) {
      if (step === 20) refuseMarks = false // the store is back
      w.clock.advance(graceMs / 10)
      await sleep(graceMs / 5)
      await second.sweep()
    }
    // The mark's next try (its back-off doubles to 2 s) lands once the store is back.
    for (let waited = 0; waited < 3_000 && (await w.store.listUnsentCancels(0)).length > 0; waited += 50) {
      await sleep(50)
      await second.sweep()
    }
    assert.deepEqual(await w.store.listUnsentCancels(0), [], 'it is marked sent once the store is back')
    assert.deepEqual(w.sent, ['first:ring', 'first:cancel'], 'the cancel went out once, from the live instance')
  } finally {
    w.stopAll()
  }
})
