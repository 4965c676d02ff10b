// The ring engine's newer paths on a fake clock: answered on one device, the soft presence filter
// with its lag rule, queue names that never block a ring, and what the audit log keeps.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import type { Device, PushIntent, RoutingEvent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { AuditLog } from '../../src/ring/audit.js'
import { RingEngine } from '../../src/ring/engine.js'
import { PresenceFilter, type PresenceState } from '../../src/ring/presence.js'
import { NameCache } from '../../src/ring/names.js'
import { createMemoryStore } from '../../src/store/memory.js'
import type { RingDecision } from '../../src/outcomes.js'
import { routingEvent } from '../support/routing-events.js'

const VOIP = 'a'.repeat(64)
const ALERT = 'b'.repeat(64)
const FCM = 'fcm-token-0123456789:APA91bexample'
const WEB = 'https://push.example.net/push/abc'

function setup(o: { presence?: PresenceFilter; queueNames?: NameCache; clock?: FakeClock } = {}) {
  const clock = o.clock ?? new FakeClock()
  const store = createMemoryStore({ clock })
  const intents: PushIntent[] = []
  const audit = new AuditLog({ maxEntries: 100, clock, logger: silentLogger() })
  const engine = new RingEngine({
    store,
    clock,
    logger: silentLogger(),
    pushes: { dispatch: async (intent) => void intents.push(intent) },
    onDecision: (d: RingDecision) => audit.recordDecision(d),
    ringTimeoutMs: 30_000,
    dedupWindowMs: 5_000,
    ...(o.presence ? { presence: o.presence } : {}),
    ...(o.queueNames ? { queueName: (id: string) => o.queueNames?.peek(id) } : {}),
  })
  const addDevice = (d: Partial<Device> & Pick<Device, 'token' | 'platform'>) =>
    store.upsertDevice({ userId: 'agent-1', registeredAt: clock.now(), ...d })
  const event = (kind: 'offer' | 'answered' | 'ended', extra: Partial<RoutingEvent> = {}): RoutingEvent =>
    routingEvent(clock, kind, extra)
  return { clock, store, engine, intents, audit, addDevice, event }
}

const cancelled = (intents: PushIntent[]) =>
  intents
    .filter((i) => i.action === 'cancel')
    .flatMap((i) => i.targets.map((t) => t.device.token))
    .sort()

async function phones(w: ReturnType<typeof setup>) {
  await w.addDevice({ platform: 'ios', token: VOIP, pushType: 'voip' })
  await w.addDevice({ platform: 'ios', token: ALERT, pushType: 'alert' })
  await w.addDevice({ platform: 'android', token: FCM })
  await w.addDevice({ platform: 'web', token: WEB, subscription: { endpoint: WEB, keys: { p256dh: 'x', auth: 'y' } } })
}

test('answered on the Android phone: the iPhone and the browser get a cancel, the Android phone none', async () => {
  const w = setup()
  await phones(w)
  await w.engine.handle(w.event('offer'))
  const result = await w.engine.answeredOnDevice({ conversationId: 'conv-1', userId: 'agent-1', tokens: [FCM] })
  assert.deepEqual(result, { rings: 1, cancelled: 2 })
  // The PushKit ring is cancelled through the iPhone's alert token.
  assert.deepEqual(cancelled(w.intents), [ALERT, WEB].sort())
  assert.equal(w.intents.at(-1)?.reason, 'answered-on-device')
})

test('answered on the device, then Genesys reports connected: each device still gets at most one cancel', async () => {
  const w = setup()
  await phones(w)
  await w.engine.handle(w.event('offer'))
  await w.engine.answeredOnDevice({
    conversationId: 'conv-1',
    userId: 'agent-1',
    tokens: [FCM],
    participantId: 'part-1',
  })
  await w.engine.handle(w.event('answered'))
  await w.engine.handle(w.event('ended', { reason: 'ended' } as Partial<RoutingEvent>))
  assert.deepEqual(cancelled(w.intents), [ALERT, WEB].sort(), 'no second cancel, and none to the phone that answered')
})

test('answered on the iPhone (both of its tokens named): only the other devices are cancelled', async () => {
  const w = setup()
  await phones(w)
  await w.engine.handle(w.event('offer'))
  await w.engine.answeredOnDevice({ conversationId: 'conv-1', userId: 'agent-1', tokens: [VOIP, ALERT] })
  assert.deepEqual(cancelled(w.intents), [FCM, WEB].sort())
})

test('Genesys connected first, the app report after: nothing more is sent', async () => {
  const w = setup()
  await phones(w)
  await w.engine.handle(w.event('offer'))
  await w.engine.handle(w.event('answered'))
  const before = w.intents.length
  assert.deepEqual(await w.engine.answeredOnDevice({ conversationId: 'conv-1', userId: 'agent-1', tokens: [FCM] }), {
    rings: 0,
    cancelled: 0,
  })
  assert.equal(w.intents.length, before)
})

test("another agent's answer does not touch this agent's ring", async () => {
  const w = setup()
  await phones(w)
  await w.engine.handle(w.event('offer'))
  assert.deepEqual(await w.engine.answeredOnDevice({ conversationId: 'conv-1', userId: 'agent-2', tokens: [FCM] }), {
    rings: 0,
    cancelled: 0,
  })
  assert.equal(cancelled(w.intents).length, 0)
})

test('two offers of one conversation within a second ring once (the second is audited as a duplicate)', async () => {
  const w = setup()
  await w.addDevice({ platform: 'android', token: FCM })
  await Promise.all([w.engine.handle(w.event('offer')), (w.clock.advance(400), w.engine.handle(w.event('offer')))])
  assert.equal(w.intents.filter((i) => i.action === 'ring').length, 1)
  assert.equal(w.audit.query({ conversationId: 'conv-1' })[0]?.reason, 'duplicate')
})

function presence(clock: FakeClock, states: Record<string, PresenceState>, fetched: string[]) {
  return new PresenceFilter({
    mode: 'soft',
    suppress: ['offline', 'away', 'break'],
    lagMs: 3_000,
    clock,
    logger: silentLogger(),
    fetch: async (userId) => {
      fetched.push(userId)
      const s = states[userId]
      if (!s) throw new Error('no such user')
      return s
    },
  })
}

test('presence soft: Away for a while is suppressed and audited; Away for 1 s is trusted to lag and rings', async () => {
  const clock = new FakeClock()
  const fetched: string[] = []
  const filter = presence(clock, {}, fetched)
  const w = setup({ presence: filter, clock })
  await w.addDevice({ platform: 'android', token: FCM })
  filter.update('agent-1', 'AWAY', clock.now() - 60_000)
  await w.engine.handle(w.event('offer'))
  assert.equal(w.intents.length, 0)
  const [entry] = w.audit.query({ userId: 'agent-1' })
  assert.equal(entry?.kind, 'suppressed')
  assert.match(entry?.reason ?? '', /^presence: presence AWAY since/)

  // The agent comes back on queue, but Genesys still shows Break, changed one second ago: ring.
  filter.update('agent-1', 'Break', clock.now() - 1_000)
  await w.engine.handle(w.event('offer', { conversationId: 'conv-2' }))
  assert.equal(w.intents.length, 1)
  assert.deepEqual(fetched, [], 'the cache fed by the topic answered; no REST call')
})

test('presence soft: On Queue and Available ring, whatever the spelling', async () => {
  const clock = new FakeClock()
  const filter = presence(clock, {}, [])
  for (const p of ['On Queue', 'ON_QUEUE', 'available', 'Busy']) {
    filter.update('agent-1', p, clock.now() - 60_000)
    assert.equal((await filter.check('agent-1')).deliver, true, p)
  }
  for (const p of ['Offline', 'OFFLINE', 'Away', 'BREAK']) {
    filter.update('agent-1', p, clock.now() - 60_000 + 1)
    clock.advance(1)
    assert.equal((await filter.check('agent-1')).deliver, false, p)
  }
})

test('presence soft: an agent not in the cache is looked up once over REST, then served from the cache', async () => {
  const clock = new FakeClock()
  const fetched: string[] = []
  const filter = presence(
    clock,
    { 'agent-1': { systemPresence: 'Offline', changedAt: clock.now() - 600_000 } },
    fetched,
  )
  assert.equal((await filter.check('agent-1')).deliver, false)
  assert.equal((await filter.check('agent-1')).deliver, false)
  assert.deepEqual(fetched, ['agent-1'])
  // A REST failure never stops a ring.
  assert.equal((await filter.check('agent-unknown')).deliver, true)
})

test('presence soft: an older update arriving late does not overwrite a newer one', async () => {
  const clock = new FakeClock()
  const filter = presence(clock, {}, [])
  filter.update('agent-1', 'On Queue', clock.now() - 10_000)
  filter.update('agent-1', 'Away', clock.now() - 20_000)
  assert.equal(filter.get('agent-1')?.systemPresence, 'On Queue')
})

test('presence off: every offer rings', async () => {
  const clock = new FakeClock()
  const filter = new PresenceFilter({
    mode: 'off',
    suppress: ['away'],
    lagMs: 0,
    clock,
    logger: silentLogger(),
    fetch: () => Promise.reject(new Error('never asked')),
  })
  filter.update('agent-1', 'Away', 0)
  assert.equal((await filter.check('agent-1')).deliver, true)
})

test('a queue name not cached yet: the ring goes without it at once, the next ring carries it', async () => {
  const clock = new FakeClock()
  let release: (() => void) | undefined
  const lookups: string[] = []
  const queueNames = new NameCache({
    what: 'queue',
    clock,
    logger: silentLogger(),
    fetch: (id) => {
      lookups.push(id)
      return new Promise((resolve) => (release = () => resolve({ name: 'Sales Support' })))
    },
  })
  const w = setup({ queueNames, clock })
  await w.addDevice({ platform: 'android', token: FCM })
  await w.engine.handle(w.event('offer', { queueId: 'q-1' }))
  assert.equal(w.intents[0]?.ring.queueName, undefined, 'not blocked by the lookup')
  release?.()
  await new Promise((r) => setImmediate(r))
  await w.engine.handle(w.event('offer', { conversationId: 'conv-2', queueId: 'q-1' }))
  assert.equal(w.intents[1]?.ring.queueName, 'Sales Support')
  assert.deepEqual(lookups, ['q-1'])
})

test('the audit log keeps the newest entries up to its bound and filters by agent and conversation', () => {
  const clock = new FakeClock()
  const audit = new AuditLog({ maxEntries: 100, clock, logger: silentLogger() })
  for (let i = 0; i < 250; i++) {
    clock.advance(1)
    audit.record({ kind: 'expired', userId: `u-${i % 2}`, conversationId: `c-${i}`, reason: `r-${i}` })
  }
  assert.equal(audit.size, 100)
  assert.equal(audit.query({ limit: 1000 }).length, 100)
  assert.equal(audit.query()[0]?.reason, 'r-249', 'newest first')
  assert.equal(audit.query({ limit: 1000 }).at(-1)?.reason, 'r-150')
  assert.equal(audit.query({ userId: 'u-1', limit: 1000 }).length, 50)
  assert.deepEqual(
    audit.query({ conversationId: 'c-200' }).map((e) => e.reason),
    ['r-200'],
  )
  assert.deepEqual(audit.query({ conversationId: 'c-10' }), [], 'overwritten')
})
