// The Genesys Notifications WebSocket killed (TCP reset, no close frame) 1.2 s after every reconnect during a steady
// stream of offers and registrations. Genesys replays nothing after a drop, so what is checked is
// what an agent feels: every call still alerting after the reconnect rings each device once, every
// ring is cancelled once when the call ends, no registration answered 201 is lost, nothing crashes.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { lostIn, verdict } from '../support/ledger.js'
import { recordTrial } from '../support/trials.js'
import { NotificationsSource } from '../../src/sources/notifications.js'

const OFFERS = 30
const KILLS = 4
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
let h: Harness
before(async () => {
  h = await startHarness({
    RING_TIMEOUT_S: '20',
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: '0',
    MAX_DEVICES_PER_AGENT: '1000',
  })
})
after(() => h.close())

test(`the Genesys socket killed ${KILLS} times during ${OFFERS} offers: every call rings once per device and is cancelled once`, async () => {
  const agents = Array.from({ length: 3 }, (_, i) => h.world.genesys.addAgent({ name: `Kill ${i}` }))
  const devices = new Map<string, string[]>()
  for (const a of agents) {
    const tokens = [fcmToken(), apnsToken()]
    assert.equal((await h.register(a.accessToken, { platform: 'android', token: tokens[0] })).status, 201)
    assert.equal(
      (await h.register(a.accessToken, { platform: 'ios', token: tokens[1], environment: 'sandbox' })).status,
      201,
    )
    devices.set(a.userId, tokens)
    await subscribed(h, a.userId)
  }
  const attemptsBefore = h.world.genesys.stats.connectionAttempts

  // Registrations of other agents' phones all along (the app retries a 503 as told).
  const registered: Array<{ userId: string; token: string }> = []
  let running = true
  const registrants = Array.from({ length: 4 }, () => h.world.genesys.addAgent())
  const registrations = (async () => {
    for (let n = 0; running; n++) {
      const agent = registrants[n % registrants.length]!
      const token = fcmToken()
      const res = await h.register(agent.accessToken, { platform: 'android', token })
      if (res.status === 201) registered.push({ userId: agent.userId, token })
      await sleep(50)
    }
  })()
  // When the gateway could hear a call: its socket was up (connects are polled, so seen late; the
  // kills are noted as they happen), or a gap recovery finished while the call alerted. A call that
  // began and ended inside one gap cannot ring (Genesys replays nothing); every other call must.
  const source = h.gateway.source
  assert.ok(source instanceof NotificationsSource)
  const up: Array<{ from: number; to: number }> = []
  const recovered: number[] = []
  let lastReport = source.lastRecovery
  const poll = setInterval(() => {
    const connected = h.world.genesys.channels().some((c) => c.connected)
    const last = up.at(-1)
    if (connected && (!last || last.to !== Infinity)) up.push({ from: Date.now(), to: Infinity })
    // A drop the test did not cause (the killer notes its own at once).
    if (!connected && last && last.to === Infinity) last.to = Date.now()
    if (source.lastRecovery !== lastReport) {
      lastReport = source.lastRecovery
      recovered.push(Date.now())
    }
  }, 20)
  const killer = (async () => {
    for (let k = 0; k < KILLS; k++) {
      // Each kill hits a live socket: 1.2 s after the previous reconnect.
      await waitFor('the socket to be back', () => h.world.genesys.channels().some((c) => c.connected), 10_000)
      await sleep(1_200)
      const last = up.at(-1)
      if (last && last.to === Infinity) last.to = Date.now()
      h.world.genesys.dropSockets()
    }
  })()

  // Offers every 300 ms, each answered or abandoned 3 s later (time enough to reconnect and recover).
  const calls = new Map<string, string[]>()
  const alerting = new Map<string, { from: number; to: number }>()
  const ends: Array<Promise<void>> = []
  for (let n = 0; n < OFFERS; n++) {
    const agent = agents[n % agents.length]!
    const { conversationId } = h.world.genesys.offer({
      userId: agent.userId,
      mediaType: n % 4 === 3 ? 'chat' : 'voice',
    })
    calls.set(conversationId, devices.get(agent.userId)!)
    const window = { from: Date.now(), to: Infinity }
    alerting.set(conversationId, window)
    ends.push(
      sleep(3_000).then(() => {
        window.to = Date.now()
        if (n % 2 === 0) h.world.genesys.answer(conversationId)
        else h.world.genesys.abandon(conversationId)
      }),
    )
    await sleep(300)
  }
  await Promise.all([killer, ...ends])
  running = false
  await registrations
  // Every reconnect is followed by a gap recovery (the last one may still be backing off).
  await waitFor('a recovery after each reconnect', () => recovered.length >= KILLS, 20_000).catch(() => undefined)
  clearInterval(poll)
  // Offered while the socket was up, or alerting (with 200 ms to spare) when a recovery finished.
  const mustRing = new Set(
    [...alerting]
      .filter(
        ([, a]) =>
          up.some((u) => u.from <= a.from && a.from < u.to) || recovered.some((r) => a.from < r && r < a.to - 200),
      )
      .map(([id]) => id),
  )
  await waitFor('every ring and cancel', () => lostIn(verdict(h.world, calls, mustRing)) === 0, 10_000).catch(
    () => undefined,
  )
  const v = verdict(h.world, calls, mustRing)
  const missing: string[] = []
  for (const r of registered)
    if ((await h.gateway.store.getDevice(r.token))?.userId !== r.userId) missing.push(r.token.slice(0, 8))
  const status = h.gateway.source.status()
  recordTrial(
    {
      id: 'fault.genesys-socket-killed',
      area: 'fault',
      what: `Genesys Notifications WebSocket killed 1.2 s after each reconnect during a stream of offers (${OFFERS} calls to phones with an Android and an iOS device) and registrations`,
      tried: KILLS,
      unit: 'socket kills',
      held: 'every call alerting while the socket was up rang each device once; every ring cancelled once; no 201 registration lost; no crash',
      lost: lostIn(v) + missing.length,
      observed: `${h.world.genesys.stats.connectionAttempts - attemptsBefore} new sockets; ${calls.size - mustRing.size} calls ended before the socket was back (Genesys replays nothing); ${v.rings} rings, ${v.cancels} cancels; ${registered.length} registrations`,
    },
    import.meta.url,
  )
  assert.ok(recovered.length >= KILLS, `a gap recovery after each reconnect (${recovered.length})`)
  assert.ok(mustRing.size >= OFFERS / 2, `most calls alerted while the socket was up (${mustRing.size})`)
  const t0 = [...alerting.values()][0]?.from ?? 0
  const span = (w: { from: number; to: number }) => `${w.from - t0}–${w.to === Infinity ? '…' : w.to - t0}`
  const timeline = (ids: string[]) =>
    `alerting ${[...new Set(ids.map((p) => p.split('/')[0]))]
      .map((c) => [...alerting].find(([id]) => id.startsWith(c ?? '?')))
      .map((e) => (e ? span(e[1]) : '?'))
      .join(
        ', ',
      )} ms; socket up ${up.map(span).join(', ')} ms; recoveries done at ${recovered.map((r) => r - t0).join(', ')} ms`
  assert.deepEqual(v.notRung, [], `every call alerting while the socket was up rang (${timeline(v.notRung)})`)
  assert.deepEqual(v.duplicateRings, [], 'no device rang twice for one call')
  assert.deepEqual(v.notEnded, [], 'every ring was cancelled exactly once')
  assert.deepEqual(missing, [], 'no registration lost')
  const attempts = h.world.genesys.stats.connectionAttempts - attemptsBefore
  assert.ok(attempts >= KILLS, `a new WebSocket after each kill (${attempts} connections)`)
  assert.equal(status.connected, true)
})
