// Connection behaviour of the APNs provider: GOAWAY, dropped sessions, and the server's
// SETTINGS_MAX_CONCURRENT_STREAMS.
import { afterEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { startApnsSandbox } from '../../src/sim/apns/index.js'
import { alertMessage, apnsWorld, BUNDLE, type ApnsWorld } from '../sim/apns/world.js'

describe('APNs provider connections', () => {
  let world: ApnsWorld | undefined
  afterEach(async () => {
    await world?.close()
    world = undefined
  })

  test('GOAWAY in the middle of a burst loses no push', async () => {
    world = await apnsWorld({ responseDelayMs: 100 })
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    const sends: Array<ReturnType<typeof apns.send>> = []
    for (let i = 0; i < 100; i++) sends.push(apns.send(alertMessage()))
    await sleep(40)
    // With 100 streams in flight, GOAWAY; the next 100 race it onto the old session (the server
    // refuses those streams) or go to a new one.
    world.sandbox.goAway()
    for (let i = 0; i < 100; i++) sends.push(apns.send(alertMessage()))
    const results = await Promise.all(sends)
    assert.deepEqual(
      results.filter((r) => r.kind !== 'delivered'),
      [],
    )
    assert.equal(new Set(world.sandbox.accepted.map((p) => p.token)).size, 201)
    assert.ok(world.sandbox.connections() >= 2, 'a new session was opened after GOAWAY')
  })

  test('after GOAWAY the next push goes out on a new session', async () => {
    world = await apnsWorld()
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.sandbox.goAway()
    await sleep(50)
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    assert.equal(world.sandbox.connections(), 2)
  })

  test('never more streams at once than the server allows: the rest wait their turn', async () => {
    world = await apnsWorld({ maxConcurrentStreams: 3, responseDelayMs: 15 })
    const apns = world.provider({ sessionsPerOrigin: 1 })
    const results = await Promise.all(Array.from({ length: 30 }, () => apns.send(alertMessage())))
    assert.equal(results.filter((r) => r.kind === 'delivered').length, 30)
    assert.equal(world.sandbox.peakConcurrentStreams(), 3)
    assert.equal(world.sandbox.connections(), 1)
  })

  test('a full session opens a second one, up to sessionsPerOrigin', async () => {
    world = await apnsWorld({ maxConcurrentStreams: 2, responseDelayMs: 15 })
    const apns = world.provider({ sessionsPerOrigin: 2 })
    const results = await Promise.all(Array.from({ length: 12 }, () => apns.send(alertMessage())))
    assert.equal(results.filter((r) => r.kind === 'delivered').length, 12)
    assert.equal(world.sandbox.connections(), 2)
    assert.ok(world.sandbox.peakConcurrentStreams() <= 2)
  })

  test('a dropped connection mid-request is a retry, and the next push reconnects', async () => {
    world = await apnsWorld()
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.sandbox.stall(5000)
    const pending = apns.send(alertMessage())
    await sleep(50)
    // The sandbox dies with the request in flight, then a new one comes up on the same port.
    const port = Number(new URL(world.sandbox.url).port)
    await world.sandbox.close()
    const result = await pending
    assert.equal(result.kind, 'retry')
    const reborn = await startApnsSandbox({
      port,
      tls: world.pki,
      keys: [world.key],
      topics: [BUNDLE],
      clock: world.clock,
    })
    try {
      assert.equal((await apns.send(alertMessage())).kind, 'delivered')
      assert.equal(reborn.accepted.length, 1)
    } finally {
      await reborn.close()
    }
  })

  test('no server at all is a retry, not a hang', async () => {
    world = await apnsWorld()
    const port = Number(new URL(world.sandbox.url).port)
    await world.sandbox.close()
    const apns = world.provider({ url: `https://localhost:${port}`, requestTimeoutMs: 1000 })
    const result = await apns.send(alertMessage())
    assert.equal(result.kind, 'retry')
  })
})
