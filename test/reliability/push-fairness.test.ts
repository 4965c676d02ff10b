// One agent's burst must not hold back another agent's ring: PUSH_MAX_IN_FLIGHT bounds the requests
// out at once, and a free slot goes to the agents waiting in turn. Real dispatcher, real APNs
// provider, an APNs sandbox that takes 20 ms to answer each push.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { systemClock } from '../../src/clock.js'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import { FairSlots } from '../../src/fair-slots.js'
import type { PushIntent, PushTarget } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { createApnsProvider } from '../../src/providers/apns.js'
import type { ApnsMessage, PushProvider } from '../../src/providers/provider.js'
import { startApnsSandbox, type ApnsSandbox } from '../../src/sim/apns/index.js'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { recordTrial } from '../support/trials.js'

const MAX_IN_FLIGHT = 4
const ANSWER_MS = 20
let world: TestWorld
let slow: ApnsSandbox
before(async () => {
  world = await startTestWorld()
  slow = await startApnsSandbox({
    tls: world.pki,
    keys: [world.apnsKey],
    topics: [world.bundleId],
    responseDelayMs: ANSWER_MS,
  })
})
after(async () => {
  await slow.close()
  await world.close()
})

const target = (userId: string): PushTarget => ({
  via: 'alert',
  device: {
    userId,
    platform: 'ios',
    token: randomBytes(32).toString('hex'),
    pushType: 'alert',
    environment: 'sandbox',
    registeredAt: 0,
  },
})
let n = 0
const ring = (userId: string, targets: PushTarget[]): PushIntent => ({
  action: 'ring',
  ring: {
    conversationId: `c0ffee00-0000-4000-8000-${(++n).toString().padStart(12, '0')}`,
    userId,
    participantId: `p-${n}`,
    mediaType: 'chat',
    offeredAt: Date.now(),
  },
  targets,
  expiresAt: Date.now() + 30_000,
})

test("bursts of other agents (40 offers to 10 devices; one ring to 500 devices): an agent's ring waits for one slot, not for the bursts", async () => {
  const inner = createApnsProvider({
    key: { keyId: world.apnsKey.keyId, teamId: world.apnsKey.teamId, privateKeyPem: world.apnsKey.privateKeyPem },
    url: slow.url,
    ca: world.pki.caCert,
    logger: silentLogger(),
  })
  let out = 0
  let mostOut = 0
  // Counts requests on the wire around the real provider.
  const counted: PushProvider<ApnsMessage> = {
    name: 'apns',
    async send(message, signal, context) {
      mostOut = Math.max(mostOut, ++out)
      try {
        return await inner.send(message, signal, context)
      } finally {
        out--
      }
    },
    close: () => inner.close(),
  }
  const store = createMemoryStore()
  const dispatcher = new Dispatcher({
    providers: { apns: counted },
    store,
    clock: systemClock,
    logger: silentLogger(),
    payload: { apnsTopic: world.bundleId, apnsEnvironment: 'sandbox', redactCaller: false },
    maxInFlight: MAX_IN_FLIGHT,
  })
  try {
    // Pushes to one device go one after another, so a capped agent's burst queues at most one push
    // per device; a list of 500 devices (kept from before MAX_DEVICES_PER_AGENT) queues 500 at once.
    const burstDevices = Array.from({ length: 10 }, () => target('burst-agent'))
    const burst = Array.from({ length: 40 }, () => dispatcher.dispatch(ring('burst-agent', burstDevices)))
    burst.push(
      dispatcher.dispatch(
        ring(
          'wide-agent',
          Array.from({ length: 500 }, () => target('wide-agent')),
        ),
      ),
    )
    await new Promise((resolve) => setTimeout(resolve, 15 * ANSWER_MS))
    const others: number[] = []
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      const [outcome] = await dispatcher.dispatch(ring(`other-agent-${i}`, [target(`other-agent-${i}`)]))
      assert.equal(outcome?.result.kind, 'delivered')
      others.push(performance.now() - started)
    }
    const queuedWhileOthersRang = dispatcher.slotUse.queued
    const burstOutcomes = (await Promise.all(burst)).flat()
    const worst = Math.max(...others)
    // First come, first served would make each wait for the queue: ~500 pushes / 4 slots × 20 ms ≈ 2.5 s.
    const bound = 25 * ANSWER_MS
    recordTrial(
      {
        id: 'fault.push-burst-fairness',
        area: 'fault',
        what: `One agent with 10 devices offered 40 interactions at once (400 pushes) and one ring to an agent with 500 devices, against PUSH_MAX_IN_FLIGHT=${MAX_IN_FLIGHT} and a push service taking ${ANSWER_MS} ms per answer; 5 other agents rung meanwhile`,
        tried: others.length,
        unit: "other agents' rings",
        held: `never more than ${MAX_IN_FLIGHT} requests out; each other agent's ring delivered within ${bound} ms (a free slot in turn) while the burst still queued; every burst push delivered`,
        lost:
          others.filter((ms) => ms > bound).length +
          (mostOut > MAX_IN_FLIGHT ? 1 : 0) +
          burstOutcomes.filter((o) => o.result.kind !== 'delivered').length,
        observed: `other agents' rings in ${others.map((ms) => Math.round(ms)).join(', ')} ms; ${queuedWhileOthersRang} burst pushes still queued after them`,
      },
      import.meta.url,
    )
    assert.ok(mostOut <= MAX_IN_FLIGHT, `${mostOut} requests out at once`)
    assert.ok(worst <= bound, `another agent's ring took ${Math.round(worst)} ms`)
    assert.ok(queuedWhileOthersRang > 0, 'the burst was still queued: the others did not just come after it')
    assert.equal(burstOutcomes.filter((o) => o.result.kind === 'delivered').length, 900)
  } finally {
    await counted.close()
    await store.close()
  }
})

test('slots: at most the limit taken, handed round robin between agents, FIFO within one', async () => {
  const slots = new FairSlots(2)
  assert.equal(slots.tryAcquire(), true)
  assert.equal(slots.tryAcquire(), true)
  assert.equal(slots.tryAcquire(), false)
  const order: string[] = []
  const wait = (agent: string, label: string): Promise<void> => slots.acquire(agent).then(() => void order.push(label))
  const waits = [wait('a', 'a1'), wait('a', 'a2'), wait('a', 'a3'), wait('b', 'b1'), wait('c', 'c1'), wait('b', 'b2')]
  assert.equal(slots.queued, 6)
  for (let i = 0; i < 6; i++) {
    slots.release()
    await Promise.resolve()
  }
  await Promise.all(waits)
  assert.deepEqual(order, ['a1', 'b1', 'c1', 'a2', 'b2', 'a3'])
  assert.equal(slots.busy, 2, 'each release handed its slot on')
  slots.release()
  slots.release()
  assert.equal(slots.busy, 0)
  assert.equal(slots.tryAcquire(), true)
})
