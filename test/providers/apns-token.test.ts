// Apple's provider-token rules, checked by a sandbox on the same fake clock as the provider:
// one JWT for everything, renewed at ~50 minutes, and never more often than every 20.
import { afterEach, beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { clampRefreshMs } from '../../src/providers/apns-token.js'
import { alertMessage, apnsWorld, voipMessage, type ApnsWorld } from '../sim/apns/world.js'

const MIN = 60_000

function distinctJwts(world: ApnsWorld): Set<string> {
  return new Set(world.sandbox.accepted.map((p) => p.headers.authorization ?? ''))
}

describe('APNs provider token', () => {
  let world: ApnsWorld
  beforeEach(async () => {
    world = await apnsWorld()
  })
  afterEach(() => world.close())

  test('1,000 pushes share ONE provider token', async () => {
    const apns = world.provider()
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => apns.send(i % 2 ? alertMessage() : voipMessage())),
    )
    assert.equal(results.filter((r) => r.kind === 'delivered').length, 1000)
    assert.equal(world.sandbox.accepted.length, 1000)
    assert.equal(distinctJwts(world).size, 1)
  })

  test('the token is renewed after 50 minutes, and the sandbox accepts the new one', async () => {
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.clock.advance(49 * MIN)
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    assert.equal(distinctJwts(world).size, 1, 'still the first token at 49 minutes')
    world.clock.advance(1 * MIN)
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    assert.equal(distinctJwts(world).size, 2, 'renewed at 50 minutes')
    assert.equal(world.sandbox.rejected.length, 0)
  })

  test('a token left unused past an hour is replaced before sending, never sent stale', async () => {
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.clock.advance(3 * 60 * MIN)
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    assert.equal(world.sandbox.rejected.length, 0)
  })

  test('403 ExpiredProviderToken: renew and resend that push once', async () => {
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.clock.advance(25 * MIN)
    world.sandbox.failNext(1, { status: 403, reason: 'ExpiredProviderToken' })
    const msg = alertMessage()
    assert.equal((await apns.send(msg)).kind, 'delivered')
    assert.equal(world.sandbox.rejected.filter((r) => r.reason === 'ExpiredProviderToken').length, 1)
    assert.equal(world.sandbox.accepted.filter((p) => p.token === msg.token).length, 1)
    assert.equal(distinctJwts(world).size, 2)
  })

  test('ExpiredProviderToken twice in a row is a config failure after a single resend', async () => {
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.clock.advance(25 * MIN)
    world.sandbox.failNext(5, { status: 403, reason: 'ExpiredProviderToken' })
    const result = await apns.send(alertMessage())
    assert.deepEqual([result.kind, result.kind === 'failed' && result.config], ['failed', true])
    assert.equal(world.sandbox.rejected.length, 2, 'one try plus one resend')
  })

  test('ExpiredProviderToken on a token under 20 minutes old does not renew (Apple would answer 429)', async () => {
    const apns = world.provider()
    world.sandbox.failNext(1, { status: 403, reason: 'ExpiredProviderToken' })
    const result = await apns.send(alertMessage())
    assert.deepEqual([result.kind, result.kind === 'failed' && result.config], ['failed', true])
    assert.equal(world.sandbox.rejected.length, 1, 'no resend')
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    assert.equal(distinctJwts(world).size, 1)
  })

  test('many pushes rejected together with ExpiredProviderToken cause one renewal', async () => {
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.clock.advance(30 * MIN)
    world.sandbox.failNext(20, { status: 403, reason: 'ExpiredProviderToken' })
    const results = await Promise.all(Array.from({ length: 20 }, () => apns.send(alertMessage())))
    assert.equal(results.filter((r) => r.kind === 'delivered').length, 20)
    assert.equal(distinctJwts(world).size, 2)
    assert.equal(world.sandbox.rejected.filter((r) => r.reason === 'TooManyProviderTokenUpdates').length, 0)
  })

  test('tokenRefreshMs is clamped to Apple window [20, 60) minutes', () => {
    assert.equal(clampRefreshMs(undefined), 50 * MIN)
    assert.equal(clampRefreshMs(1000), 20 * MIN)
    assert.equal(clampRefreshMs(2 * 60 * MIN), 59 * MIN)
    assert.equal(clampRefreshMs(30 * MIN), 30 * MIN)
  })
})
