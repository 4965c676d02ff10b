// Genesys Cloud's REST API answering 429 (Retry-After: 1) and then 500 to every request for a
// scaled-down "minute" (3 s), while the Notifications socket drops at its start (so the reconnect's
// gap recovery meets the errors), calls are offered in and around the gap, and agents register.
// Checked: agents are told 503 + Retry-After (never a 5xx they cannot act on), every registration
// retried as told lands, every call rings each device once and is cancelled once, nothing crashes.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { lostIn, verdict } from '../support/ledger.js'
import { recordTrial } from '../support/trials.js'
import { ProcessFaults } from '../support/process-faults.js'

const WINDOW_MS = 3_000
const REGISTRANTS = 6
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

test('Genesys REST answering 429 then 500 for a scaled-down minute: registrations land when retried, every call rings and is cancelled once', async () => {
  const agents = Array.from({ length: 2 }, (_, i) => h.world.genesys.addAgent({ name: `Rest ${i}` }))
  const devices = new Map<string, string[]>()
  for (const a of agents) {
    const token = fcmToken()
    assert.equal((await h.register(a.accessToken, { platform: 'android', token })).status, 201)
    devices.set(a.userId, [token])
    await subscribed(h, a.userId)
  }
  const calls = new Map<string, string[]>()
  const offer = (i: number): string => {
    const agent = agents[i % agents.length]!
    const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
    calls.set(conversationId, devices.get(agent.userId)!)
    return conversationId
  }
  offer(0)
  offer(1)
  await waitFor('the first rings', () => verdict(h.world, calls).rings === 2)

  // The window opens: every REST call fails, and the socket drops (Genesys replays nothing).
  h.world.genesys.failNext({ pathPrefix: '/api/v2/', status: 429, retryAfterS: 1, count: 1_000_000 })
  h.world.genesys.dropSockets()
  offer(2) // made while the socket is down: only gap recovery (REST) can find it
  const registrations = Array.from({ length: REGISTRANTS }, () => h.world.genesys.addAgent()).map(async (agent) => {
    const token = fcmToken()
    const answers: Array<{ status: number; retryAfter: string | null }> = []
    for (let attempt = 0; attempt < 40; attempt++) {
      const res = await fetch(`${h.api}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'android', token }),
      })
      await res.arrayBuffer()
      answers.push({ status: res.status, retryAfter: res.headers.get('retry-after') })
      if (res.status === 201) break
      // The app waits as told, scaled down 10× like the outage.
      await sleep(Number(res.headers.get('retry-after') ?? '5') * 100)
    }
    return { userId: agent.userId, token, answers }
  })
  await sleep(WINDOW_MS / 2)
  offer(3)
  h.world.genesys.clearFailures()
  h.world.genesys.failNext({ pathPrefix: '/api/v2/', status: 500, count: 1_000_000 })
  await sleep(WINDOW_MS / 2)
  offer(4)
  h.world.genesys.clearFailures()
  const restErrors = h.world.genesys.stats.requests

  const regs = await Promise.all(registrations)
  await waitFor('every call to ring', () => verdict(h.world, calls).notRung.length === 0, 15_000).catch(() => undefined)
  for (const id of calls.keys()) h.world.genesys.answer(id)
  await waitFor('every cancel', () => lostIn(verdict(h.world, calls)) === 0, 10_000).catch(() => undefined)
  const v = verdict(h.world, calls)
  const lostRegs = []
  for (const r of regs)
    if ((await h.gateway.store.getDevice(r.token))?.userId !== r.userId) lostRegs.push(r.token.slice(0, 8))
  const refusals = regs.flatMap((r) => r.answers.filter((a) => a.status !== 201))
  const unhelpful = refusals.filter((a) => a.status !== 503 || !(Number(a.retryAfter) > 0))
  recordTrial(
    {
      id: 'fault.genesys-rest-errors',
      area: 'fault',
      what: 'Genesys REST answering 429 (Retry-After 1) then 500 to every call for a scaled-down minute (3 s), socket dropped at its start, calls offered before, in the gap and during it, agents registering',
      tried: calls.size + REGISTRANTS,
      unit: 'calls and registrations',
      held: 'agents told 503 + Retry-After; every registration retried as told landed; every call rang each device once and was cancelled once; no crash',
      lost: lostIn(v) + lostRegs.length + unhelpful.length + faults.length,
      observed: `${refusals.length} registration attempts refused with 503; ${[...restErrors.values()].reduce((s, n) => s + n, 0)} REST requests to Genesys in all`,
    },
    import.meta.url,
  )
  assert.deepEqual(faults, [])
  assert.deepEqual(unhelpful, [], 'every refusal is 503 with Retry-After')
  assert.ok(refusals.length > 0, 'the outage was felt by registrations')
  assert.deepEqual(lostRegs, [], 'every registration landed')
  assert.deepEqual(v.notRung, [], 'every call rang, the one offered in the gap too')
  assert.deepEqual(v.duplicateRings, [])
  assert.deepEqual(v.notEnded, [])
})
