// The one contract suite every store backend runs (gorush's storage tests, shared across backends).
// A backend supplies a harness: a fresh, empty store per test and a way to let time pass that
// its TTLs notice (a fake clock for memory/sqlite, real waiting for Redis PX TTLs).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Device, RingRecord } from '../../src/model.js'
import { ringKey } from '../../src/model.js'
import { registerBySteps, type Store } from '../../src/store/store.js'

export interface StoreHarness {
  store: Store
  /** The clock the store was given; its now() is the basis of registeredAt and record expiries. */
  now(): number
  /** Lets `ms` pass as far as the store's TTLs are concerned. */
  passTime(ms: number): Promise<void>
  /** A TTL short enough for `passTime` to outlive it quickly. */
  shortTtlMs: number
  cleanup(): Promise<void>
}

export function device(userId: string, token: string, overrides: Partial<Device> = {}): Device {
  return { userId, token, platform: 'ios', pushType: 'voip', environment: 'sandbox', registeredAt: 1_000, ...overrides }
}

export function ring(overrides: Partial<RingRecord> = {}): RingRecord {
  return {
    conversationId: 'conv-1',
    userId: 'agent-1',
    participantId: 'part-1',
    mediaType: 'voice',
    state: 'ringing',
    rungTokens: ['tok-a', 'tok-b'],
    cancelledTokens: [],
    queueId: 'queue-1',
    offeredAt: 5_000,
    expiresAt: 35_000,
    ...overrides,
  }
}

const RING_TTL = 60_000

export function storeContract(name: string, open: () => Promise<StoreHarness>): void {
  async function withStore(fn: (h: StoreHarness) => Promise<void>): Promise<void> {
    const h = await open()
    try {
      await fn(h)
    } finally {
      await h.cleanup()
    }
  }
  const it = (title: string, fn: (h: StoreHarness) => Promise<void>): void => {
    test(`${name}: ${title}`, () => withStore(fn))
  }

  it('a registered device can be listed, fetched and removed', async ({ store }) => {
    const web: Device = {
      userId: 'agent-1',
      token: 'https://push.example/ep/1',
      platform: 'web',
      subscription: { endpoint: 'https://push.example/ep/1', keys: { p256dh: 'p', auth: 'a' } },
      registeredAt: 1_000,
    }
    const returned = await store.upsertDevice(device('agent-1', 'tok-1'))
    assert.deepEqual(returned, device('agent-1', 'tok-1'))
    await store.upsertDevice(web)
    const listed = await store.listDevices('agent-1')
    assert.deepEqual(
      listed.sort((a, b) => a.token.localeCompare(b.token)),
      [web, device('agent-1', 'tok-1')].sort((a, b) => a.token.localeCompare(b.token)),
    )
    assert.deepEqual(await store.getDevice('tok-1'), device('agent-1', 'tok-1'))
    assert.equal(await store.getDevice('nope'), undefined)
    assert.deepEqual(await store.listDevices('agent-2'), [])
    assert.equal(await store.removeDevice('agent-1', 'tok-1'), true)
    assert.equal(await store.getDevice('tok-1'), undefined)
    assert.equal(await store.removeDevice('agent-1', 'tok-1'), false)
    assert.deepEqual(await store.listDevices('agent-1'), [web])
  })

  it('re-registering a token refreshes it in place', async ({ store }) => {
    await store.upsertDevice(device('agent-1', 'tok-1', { registeredAt: 1 }))
    await store.upsertDevice(device('agent-1', 'tok-1', { registeredAt: 2, environment: 'production' }))
    assert.deepEqual(await store.listDevices('agent-1'), [
      device('agent-1', 'tok-1', { registeredAt: 2, environment: 'production' }),
    ])
  })

  it('a token registered by another user moves to that user', async ({ store }) => {
    await store.upsertDevice(device('agent-1', 'shared-phone'))
    await store.upsertDevice(device('agent-2', 'shared-phone', { registeredAt: 2_000 }))
    assert.deepEqual(await store.listDevices('agent-1'), [])
    assert.deepEqual(await store.listDevices('agent-2'), [device('agent-2', 'shared-phone', { registeredAt: 2_000 })])
    assert.equal((await store.getDevice('shared-phone'))?.userId, 'agent-2')
    assert.deepEqual(await store.listUserIds(), ['agent-2'])
  })

  it('a registration answers who held the token, whether the agent is new, and how many tokens it has', async ({
    store,
  }) => {
    const native = store.registerDevice !== undefined
    const first = await registerBySteps(store, device('agent-1', 'tok-1'))
    assert.deepEqual(first.device, device('agent-1', 'tok-1'))
    assert.equal(first.movedFrom, undefined)
    assert.equal(first.firstOfAgent, true)
    const second = await registerBySteps(store, device('agent-1', 'tok-2', { platform: 'android' }))
    const again = await registerBySteps(store, device('agent-1', 'tok-1', { registeredAt: 2_000 }))
    assert.equal(again.movedFrom, undefined, 'the same agent again is no move')
    if (native) {
      assert.equal(first.agentTokens, 1)
      assert.deepEqual([second.firstOfAgent, second.agentTokens], [false, 2])
      assert.deepEqual([again.firstOfAgent, again.agentTokens], [false, 2])
    }
    const moved = await registerBySteps(store, device('agent-2', 'tok-1', { registeredAt: 3_000 }))
    assert.equal(moved.movedFrom, 'agent-1')
    assert.equal(moved.firstOfAgent, true)
    if (native) assert.equal(moved.agentTokens, 1)
    // A token registered again under another platform (never seen, but the counts must not drift).
    await registerBySteps(store, device('agent-2', 'tok-1', { platform: 'android', registeredAt: 4_000 }))
    assert.deepEqual(await store.countDevices(), { total: 2, byPlatform: { android: 2 } })
    assert.deepEqual(await store.listDevices('agent-1'), [device('agent-1', 'tok-2', { platform: 'android' })])
    assert.deepEqual((await store.listUserIds()).sort(), ['agent-1', 'agent-2'])
  })

  it('removeDevice for the wrong user returns false and keeps the device', async ({ store }) => {
    await store.upsertDevice(device('agent-1', 'tok-1'))
    assert.equal(await store.removeDevice('agent-2', 'tok-1'), false)
    assert.deepEqual(await store.getDevice('tok-1'), device('agent-1', 'tok-1'))
  })

  it('a phone: its deviceId is stored and listed, and removePhone removes all its tokens and nothing else', async ({
    store,
  }) => {
    const voip = device('agent-1', 'iphone-voip', { deviceId: 'iphone-1' })
    const alert = device('agent-1', 'iphone-alert', { pushType: 'alert', deviceId: 'iphone-1' })
    const ipad = device('agent-1', 'ipad-alert', { pushType: 'alert', deviceId: 'ipad-1' })
    const legacy = device('agent-1', 'legacy-voip')
    const otherAgent = device('agent-2', 'other-voip', { deviceId: 'iphone-1' })
    for (const d of [voip, alert, ipad, legacy, otherAgent]) await store.upsertDevice(d)
    assert.deepEqual(await store.getDevice('iphone-alert'), alert)
    const byToken = (list: Device[]): Device[] => list.sort((a, b) => a.token.localeCompare(b.token))
    assert.deepEqual(byToken(await store.listDevices('agent-1')), byToken([voip, alert, ipad, legacy]))

    assert.deepEqual((await store.removePhone('agent-1', 'iphone-1')).sort(), ['iphone-alert', 'iphone-voip'])
    assert.deepEqual(byToken(await store.listDevices('agent-1')), byToken([ipad, legacy]))
    assert.deepEqual(await store.listDevices('agent-2'), [otherAgent], "another agent's phone with the same id stays")
    assert.equal(await store.getDevice('iphone-voip'), undefined)
    assert.deepEqual(await store.countDevices(), { total: 3, byPlatform: { ios: 3 } })
    assert.deepEqual(await store.removePhone('agent-1', 'iphone-1'), [], 'a phone is removed once')
    assert.deepEqual(await store.removePhone('agent-1', 'no-such-phone'), [])

    assert.deepEqual(await store.removePhone('agent-1', 'ipad-1'), ['ipad-alert'])
    await store.removeDevice('agent-1', 'legacy-voip')
    assert.deepEqual(await store.listUserIds(), ['agent-2'], 'an agent without phones is no longer listed')
  })

  it('a token re-registered with another deviceId, or none, belongs to that phone only', async ({ store }) => {
    await store.upsertDevice(device('agent-1', 'tok-1', { deviceId: 'phone-a' }))
    await store.upsertDevice(device('agent-1', 'tok-1', { deviceId: 'phone-b', registeredAt: 2_000 }))
    assert.deepEqual(await store.removePhone('agent-1', 'phone-a'), [])
    assert.deepEqual(await store.listDevices('agent-1'), [
      device('agent-1', 'tok-1', { deviceId: 'phone-b', registeredAt: 2_000 }),
    ])
    await store.upsertDevice(device('agent-1', 'tok-1', { registeredAt: 3_000 }))
    assert.deepEqual(await store.removePhone('agent-1', 'phone-b'), [])
    assert.deepEqual(await store.listDevices('agent-1'), [device('agent-1', 'tok-1', { registeredAt: 3_000 })])
  })

  it('pruneToken removes a dead token but keeps one re-registered at or after registeredBefore', async ({ store }) => {
    await store.upsertDevice(device('agent-1', 'old', { registeredAt: 1_000 }))
    await store.upsertDevice(device('agent-1', 'fresh', { registeredAt: 5_000 }))
    await store.upsertDevice(device('agent-1', 'edge', { registeredAt: 3_000 }))
    assert.equal(await store.pruneToken('old', 3_000), true)
    assert.equal(await store.pruneToken('fresh', 3_000), false)
    assert.equal(await store.pruneToken('edge', 3_000), false)
    assert.deepEqual((await store.listDevices('agent-1')).map((d) => d.token).sort(), ['edge', 'fresh'])
    assert.equal(await store.pruneToken('fresh'), true)
    assert.equal(await store.pruneToken('fresh'), false)
    assert.equal(await store.pruneToken('never-seen', 3_000), false)
  })

  it('listUserIds names exactly the agents that still have devices', async ({ store }) => {
    assert.deepEqual(await store.listUserIds(), [])
    await store.upsertDevice(device('agent-1', 'a'))
    await store.upsertDevice(device('agent-1', 'b'))
    await store.upsertDevice(device('agent-2', 'c'))
    assert.deepEqual((await store.listUserIds()).sort(), ['agent-1', 'agent-2'])
    await store.removeDevice('agent-2', 'c')
    await store.pruneToken('a')
    assert.deepEqual(await store.listUserIds(), ['agent-1'])
  })

  it('countDevices counts by platform', async ({ store }) => {
    assert.deepEqual(await store.countDevices(), { total: 0, byPlatform: {} })
    await store.upsertDevice(device('agent-1', 'a'))
    await store.upsertDevice(device('agent-1', 'b', { platform: 'android' }))
    await store.upsertDevice(device('agent-2', 'c', { platform: 'android' }))
    await store.upsertDevice(device('agent-3', 'd', { platform: 'web' }))
    assert.deepEqual(await store.countDevices(), { total: 4, byPlatform: { ios: 1, android: 2, web: 1 } })
  })

  it('createRing creates once: true then false, and the first record stays', async ({ store }) => {
    const r = ring()
    assert.equal(await store.createRing(r, RING_TTL), true)
    assert.equal(await store.createRing({ ...r, rungTokens: ['other'] }, RING_TTL), false)
    assert.deepEqual(await store.getRing(ringKey(r)), r)
    assert.equal(await store.getRing('conv-x:agent-1:part-1'), undefined)
    const rerouted = ring({ participantId: 'part-2' })
    assert.equal(await store.createRing(rerouted, RING_TTL), true, 'a new participant is a new ring')
  })

  it('concurrent createRing for one key: exactly one wins', async ({ store }) => {
    const results = await Promise.all(Array.from({ length: 10 }, () => store.createRing(ring(), RING_TTL)))
    assert.equal(results.filter(Boolean).length, 1)
  })

  it('transitionRing is a compare-and-set: ringing→cancelled once, then undefined', async ({ store }) => {
    const r = ring()
    const key = ringKey(r)
    await store.createRing(r, RING_TTL)
    assert.equal(await store.transitionRing(key, ['answered'], 'cancelled', RING_TTL), undefined)
    const [first, second] = await Promise.all([
      store.transitionRing(key, ['ringing'], 'cancelled', RING_TTL),
      store.transitionRing(key, ['ringing'], 'answered', RING_TTL),
    ])
    assert.deepEqual(first, r, 'returns the record as it was before the move')
    assert.equal(second, undefined, 'the racing transition lost')
    assert.equal((await store.getRing(key))?.state, 'cancelled')
    assert.equal(await store.transitionRing(key, ['ringing'], 'cancelled', RING_TTL), undefined)
    assert.equal(await store.transitionRing('missing', ['ringing'], 'cancelled', RING_TTL), undefined)
  })

  it('claimCancels hands out each token once and records them on the ring', async ({ store }) => {
    const r = ring({ rungTokens: ['a', 'b', 'c'] })
    const key = ringKey(r)
    await store.createRing(r, RING_TTL)
    assert.deepEqual((await store.claimCancels(key, ['a', 'b'])).sort(), ['a', 'b'])
    assert.deepEqual(await store.claimCancels(key, ['a', 'b', 'c']), ['c'])
    assert.deepEqual(await store.claimCancels(key, ['c', 'a']), [])
    assert.deepEqual((await store.getRing(key))?.cancelledTokens.sort(), ['a', 'b', 'c'])
  })

  it('claimCancels under 20 overlapping concurrent calls: every token handed out exactly once', async ({ store }) => {
    const tokens = Array.from({ length: 30 }, (_, i) => `tok-${i}`)
    const r = ring({ rungTokens: tokens })
    const key = ringKey(r)
    await store.createRing(r, RING_TTL)
    const batches = Array.from({ length: 20 }, (_, i) => tokens.slice(i % 10, (i % 10) + 20))
    const results = await Promise.all(batches.map((b) => store.claimCancels(key, b)))
    const handedOut = results.flat()
    assert.equal(handedOut.length, new Set(handedOut).size, 'no token handed out twice')
    assert.deepEqual(handedOut.sort(), tokens.slice(0, 29).sort())
  })

  it('endRing with the right guess of the rung devices ends the ring and claims its cancels in one step', async ({
    store,
    passTime,
    shortTtlMs,
  }) => {
    const r = ring({ rungTokens: ['tok-a', 'tok-b'] })
    const key = ringKey(r)
    await store.createRing(r, RING_TTL)
    await store.claimCancels(key, [], ['tok-b']) // the phone that answered, as the app reported it
    const ended = await store.endRing(key, ['ringing'], 'answered', RING_TTL, {
      ifRung: ['tok-b', 'tok-a'],
      tokens: ['tok-a', 'tok-b', 'tok-alert'],
    })
    assert.deepEqual(ended?.before, { ...r, cancelledTokens: ['tok-b'] }, 'the record as it was before the move')
    assert.deepEqual(ended?.claimed?.sort(), ['tok-a', 'tok-alert'], 'only tokens no one claimed before')
    assert.equal((await store.getRing(key))?.state, 'answered')
    assert.deepEqual((await store.getRing(key))?.cancelledTokens.sort(), ['tok-a', 'tok-alert', 'tok-b'])
    await passTime(shortTtlMs * 2)
    assert.deepEqual(
      (await store.listUnsentCancels(shortTtlMs)).map((u) => u.tokens.sort()),
      [['tok-a', 'tok-alert']],
      'claims wait for their mark like any other',
    )
    assert.equal(
      await store.endRing(key, ['ringing'], 'cancelled', RING_TTL, { ifRung: ['tok-a', 'tok-b'], tokens: ['tok-c'] }),
      undefined,
      'a ring ends once',
    )
    assert.deepEqual(
      (await store.getRing(key))?.cancelledTokens.sort(),
      ['tok-a', 'tok-alert', 'tok-b'],
      'and a losing end claims nothing',
    )
    assert.equal(
      await store.endRing('missing', ['ringing'], 'cancelled', RING_TTL, { ifRung: [], tokens: [] }),
      undefined,
    )
  })

  it('endRing with a wrong guess of the rung devices changes nothing: the end and its claims go together or not at all', async ({
    store,
  }) => {
    for (const [i, ifRung] of [['tok-a'], ['tok-a', 'tok-b', 'tok-new'], ['tok-a', 'tok-c'], []].entries()) {
      const r = ring({ conversationId: `conv-${i}`, rungTokens: ['tok-a', 'tok-b'] })
      const key = ringKey(r)
      await store.createRing(r, RING_TTL)
      const ended = await store.endRing(key, ['ringing'], 'cancelled', RING_TTL, { ifRung, tokens: ifRung })
      assert.deepEqual(ended, { before: r }, `guess ${JSON.stringify(ifRung)}`)
      assert.equal((await store.getRing(key))?.state, 'ringing', 'not ended')
      assert.deepEqual((await store.getRing(key))?.cancelledTokens, [])
      const again = await store.endRing(key, ['ringing'], 'cancelled', RING_TTL, {
        ifRung: ended?.before.rungTokens ?? [],
        tokens: ['tok-a', 'tok-b'],
      })
      assert.deepEqual(
        again?.claimed?.sort(),
        ['tok-a', 'tok-b'],
        "ended with the record's own rung devices, claims and all",
      )
      assert.equal((await store.getRing(key))?.state, 'cancelled')
    }
  })

  it('claimOnce is true once per key until its TTL passes', async ({ store, passTime, shortTtlMs }) => {
    assert.equal(await store.claimOnce('dedup:x', shortTtlMs), true)
    assert.equal(await store.claimOnce('dedup:x', shortTtlMs), false)
    assert.equal(await store.claimOnce('dedup:y', shortTtlMs), true)
    const racing = await Promise.all(Array.from({ length: 10 }, () => store.claimOnce('dedup:z', shortTtlMs)))
    assert.equal(racing.filter(Boolean).length, 1)
    await passTime(shortTtlMs * 2)
    assert.equal(await store.claimOnce('dedup:x', shortTtlMs), true)
  })

  it('listOpenRings lists ringing records only, not expired or finished ones', async ({
    store,
    passTime,
    shortTtlMs,
  }) => {
    const open = ring({ conversationId: 'open' })
    const answered = ring({ conversationId: 'answered' })
    const expiring = ring({ conversationId: 'expiring' })
    await store.createRing(open, shortTtlMs * 100)
    await store.createRing(answered, shortTtlMs * 100)
    await store.createRing(expiring, shortTtlMs)
    await store.transitionRing(ringKey(answered), ['ringing'], 'answered', shortTtlMs * 100)
    assert.deepEqual((await store.listOpenRings()).map((r) => r.conversationId).sort(), ['expiring', 'open'])
    await passTime(shortTtlMs * 2)
    assert.deepEqual(await store.listOpenRings(), [open])
    assert.equal(await store.getRing(ringKey(expiring)), undefined, 'an expired ring is invisible')
    assert.equal(await store.createRing(expiring, shortTtlMs), true, 'and its key can ring again')
  })

  it('listOpenRings with a due time lists only the ringing records whose timeout has passed by then', async ({
    store,
  }) => {
    await store.createRing(ring({ conversationId: 'due-early', expiresAt: 10_000 }), RING_TTL)
    await store.createRing(ring({ conversationId: 'due-late', expiresAt: 20_000 }), RING_TTL)
    const answered = ring({ conversationId: 'answered-early', expiresAt: 10_000 })
    await store.createRing(answered, RING_TTL)
    await store.transitionRing(ringKey(answered), ['ringing'], 'answered', RING_TTL)
    const due = async (by: number): Promise<string[]> =>
      (await store.listOpenRings(by)).map((r) => r.conversationId).sort()
    assert.deepEqual(await due(9_999), [], 'nothing has timed out yet')
    assert.deepEqual(await due(10_000), ['due-early'], 'a ring is due at its expiresAt')
    assert.deepEqual(await due(25_000), ['due-early', 'due-late'])
    assert.deepEqual((await store.listOpenRings()).map((r) => r.conversationId).sort(), ['due-early', 'due-late'])
  })

  it('the outbox: a ring carries dispatchedAt once marked sent; claimed cancels are listed as unsent until marked, silent ones never', async ({
    store,
    passTime,
    shortTtlMs,
  }) => {
    const r = ring({ rungTokens: ['a', 'b', 'c'] })
    const key = ringKey(r)
    await store.createRing(r, RING_TTL)
    assert.equal((await store.getRing(key))?.dispatchedAt, undefined, 'only claimed')
    await store.markSent(key, { ring: true }, 7_000)
    assert.equal((await store.getRing(key))?.dispatchedAt, 7_000)
    assert.equal((await store.listOpenRings())[0]?.dispatchedAt, 7_000)
    assert.equal((await store.transitionRing(key, ['ringing'], 'answered', RING_TTL))?.dispatchedAt, 7_000)

    // 'c' is the phone that answered: claimed, but never to be cancelled.
    assert.deepEqual((await store.claimCancels(key, ['a', 'b'], ['c'])).sort(), ['a', 'b', 'c'])
    assert.deepEqual(await store.listUnsentCancels(shortTtlMs), [], 'a fresh claim is within its grace')
    await passTime(shortTtlMs * 2)
    const unsent = await store.listUnsentCancels(shortTtlMs)
    assert.deepEqual(
      unsent.map((u) => ({ conversationId: u.ring.conversationId, state: u.ring.state, tokens: u.tokens.sort() })),
      [{ conversationId: 'conv-1', state: 'answered', tokens: ['a', 'b'] }],
    )
    await store.markSent(key, { cancelTokens: ['a'] }, 8_000)
    assert.deepEqual(
      (await store.listUnsentCancels(shortTtlMs)).map((u) => u.tokens),
      [['b']],
    )
    await store.markSent(key, { cancelTokens: ['b'] }, 8_000)
    assert.deepEqual(await store.listUnsentCancels(0), [])
    assert.deepEqual((await store.getRing(key))?.cancelledTokens.sort(), ['a', 'b', 'c'], 'marking does not un-claim')

    // Marks for a ring that is gone are ignored; a claim without a ring has nothing to resend from.
    await store.markSent('gone:agent-1:part-1', { ring: true, cancelTokens: ['x'] }, 9_000)
    assert.equal(await store.getRing('gone:agent-1:part-1'), undefined)
    assert.deepEqual(await store.claimCancels('gone:agent-1:part-1', ['x']), ['x'])
    await passTime(shortTtlMs * 2)
    assert.deepEqual(await store.listUnsentCancels(shortTtlMs), [])
  })

  it('delivery records: fields merge, other conversations and tokens stay apart, the TTL ends them', async ({
    store,
    passTime,
    shortTtlMs,
  }) => {
    assert.equal(await store.getDelivery('conv-1', 'tok-a'), undefined)
    await store.noteDelivery('conv-1', 'tok-a', { userId: 'agent-1', ringSentAt: '1000' }, shortTtlMs)
    await store.noteDelivery('conv-1', 'tok-a', { ringAcceptedAt: '1010' }, shortTtlMs)
    await store.noteDelivery('conv-2', 'tok-a', { userId: 'agent-1' }, 60_000)
    assert.deepEqual(await store.getDelivery('conv-1', 'tok-a'), {
      userId: 'agent-1',
      ringSentAt: '1000',
      ringAcceptedAt: '1010',
    })
    assert.equal(await store.getDelivery('conv-1', 'tok-b'), undefined)
    await passTime(shortTtlMs * 2)
    assert.equal(await store.getDelivery('conv-1', 'tok-a'), undefined, 'expired')
    assert.deepEqual(await store.getDelivery('conv-2', 'tok-a'), { userId: 'agent-1' })
    // Written again after expiry: a fresh record, nothing of the old one.
    await store.noteDelivery('conv-1', 'tok-a', { cancelSentAt: '5' }, 60_000)
    assert.deepEqual(await store.getDelivery('conv-1', 'tok-a'), { cancelSentAt: '5' })
  })

  it('reach documents: compare-and-set by version, listed while alive, gone after the TTL', async ({
    store,
    passTime,
    shortTtlMs,
  }) => {
    assert.equal(await store.getReach('agent-1'), undefined)
    assert.equal(await store.putReach('agent-1', '{"n":1}', 1, shortTtlMs), false, 'no document has version 1')
    assert.equal(await store.putReach('agent-1', '{"n":1}', 0, shortTtlMs), true)
    assert.equal(await store.putReach('agent-1', '{"n":9}', 0, shortTtlMs), false, 'another writer created it first')
    assert.deepEqual(await store.getReach('agent-1'), { doc: '{"n":1}', version: 1 })
    // Two writers read version 1: exactly one write lands.
    const raced = await Promise.all([
      store.putReach('agent-1', '{"n":2}', 1, shortTtlMs),
      store.putReach('agent-1', '{"n":3}', 1, shortTtlMs),
    ])
    assert.deepEqual(raced.filter(Boolean).length, 1)
    const now = await store.getReach('agent-1')
    assert.equal(now?.version, 2)
    assert.ok(now?.doc === '{"n":2}' || now?.doc === '{"n":3}')
    await store.putReach('agent-2', '{}', 0, 60_000)
    assert.deepEqual((await store.listReachUsers()).sort(), ['agent-1', 'agent-2'])
    await passTime(shortTtlMs * 2)
    assert.equal(await store.getReach('agent-1'), undefined, 'expired')
    assert.deepEqual(await store.listReachUsers(), ['agent-2'])
    assert.equal(await store.putReach('agent-1', '{"n":4}', 0, 60_000), true, 'an expired document counts as none')
    assert.deepEqual(await store.getReach('agent-1'), { doc: '{"n":4}', version: 1 })
  })

  it('ping succeeds on a working backend', async ({ store }) => {
    await store.ping()
  })
}
