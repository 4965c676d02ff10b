// The network between the gateway and APNs / FCM breaking, through a TCP proxy on loopback that the
// test controls (src/sim/net-proxy.ts): a path that goes silent under an open connection (a NAT or
// firewall that forgot the flow), and a service refusing connections while pushes wait.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { systemClock } from '../../src/clock.js'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import type { Device, PushIntent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { createApnsProvider } from '../../src/providers/apns.js'
import { AuditLog } from '../../src/ring/audit.js'
import { startNetProxy, type NetProxy } from '../../src/sim/net-proxy.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { pushes } from '../support/ledger.js'
import { recordTrial } from '../support/trials.js'
import type { PushOutcome } from '../../src/outcomes.js'

let h: Harness
let apnsProxy: NetProxy
let fcmProxy: NetProxy
before(async () => {
  h = await startHarness({ RING_TIMEOUT_S: '30', RATE_LIMIT_PER_MINUTE: '0' }, async (world) => {
    apnsProxy = await startNetProxy({ target: { port: Number(new URL(world.apns.url).port) } })
    fcmProxy = await startNetProxy({ target: { port: Number(new URL(world.fcm.url).port) } })
    return { APNS_URL: apnsProxy.url, FCM_URL: fcmProxy.url }
  })
})
after(async () => {
  await h.close()
  await Promise.all([apnsProxy.close(), fcmProxy.close()])
})

const ringsOf = (conversationId: string, token: string): number[] =>
  pushes(h.world)
    .filter((p) => p.conversationId === conversationId && p.token === token && p.action === 'ring')
    .map((p) => p.at)

test('the path to APNs and FCM goes silent mid-stream: the next ring reaches each phone within 5 s of the offer, exactly once', async () => {
  const agent = h.world.genesys.addAgent()
  const tokens = [apnsToken(), fcmToken()]
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'ios', token: tokens[0], environment: 'sandbox' })).status,
    201,
  )
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: tokens[1] })).status, 201)
  await subscribed(h, agent.userId)

  // A first call opens the connections through the proxies.
  const first = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  await waitFor(
    'the first ring on both phones',
    () => tokens.every((t) => ringsOf(first.conversationId, t).length === 1),
    10_000,
  )
  h.world.genesys.answer(first.conversationId)
  await waitFor(
    'the first cancels',
    () =>
      pushes(h.world).filter((p) => p.conversationId === first.conversationId && p.action === 'cancel_ring').length ===
      2,
    10_000,
  )
  const connectsBefore = apnsProxy.connects + fcmProxy.connects

  // The NAT forgets both flows: bytes vanish both ways, nothing is closed. New flows still pass.
  apnsProxy.blackHoleExisting()
  fcmProxy.blackHoleExisting()
  const offeredAt = performance.now()
  const second = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  await waitFor(
    'the second ring on both phones',
    () => tokens.every((t) => ringsOf(second.conversationId, t).length > 0),
    10_000,
  ).catch(() => undefined)
  // Long enough for a stray duplicate to show.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const arrivals = tokens.map((t) => ringsOf(second.conversationId, t))
  const latest = Math.max(...arrivals.map((at) => (at[0] ?? Number.POSITIVE_INFINITY) - offeredAt))
  h.world.genesys.answer(second.conversationId)

  recordTrial(
    {
      id: 'fault.push-path-black-holed',
      area: 'fault',
      what: 'the network path to APNs and FCM going silent under open connections (a NAT forgetting the flows), then a call offered to an iPhone and an Android phone',
      tried: 2,
      unit: 'devices',
      held: 'each phone rang exactly once, within 5 s of the offer, over a new connection',
      lost: arrivals.filter((at) => at.length !== 1 || (at[0] as number) - offeredAt > 5_000).length,
      observed: `rang ${Math.round(latest)} ms after the offer; ${apnsProxy.connects + fcmProxy.connects - connectsBefore} new connections`,
    },
    import.meta.url,
  )
  assert.deepEqual(
    arrivals.map((at) => at.length),
    [1, 1],
    'each phone rang exactly once',
  )
  assert.ok(latest <= 5_000, `both rings within 5 s of the offer (${Math.round(latest)} ms)`)
  assert.ok(apnsProxy.connects + fcmProxy.connects - connectsBefore >= 2, 'new connections replaced the silent ones')
})

test('APNs refusing connections while 50 pushes wait: connect attempts follow the back-off; in-deadline pushes delivered once, the rest audited expired', async () => {
  const proxy = await startNetProxy({ target: { port: Number(new URL(h.world.apns.url).port) } })
  const logger = silentLogger()
  const apns = createApnsProvider({
    key: { keyId: h.world.apnsKey.keyId, teamId: h.world.apnsKey.teamId, privateKeyPem: h.world.apnsKey.privateKeyPem },
    url: proxy.url,
    ca: h.world.pki.caCert,
    logger,
  })
  const audit = new AuditLog({ maxEntries: 1_000, clock: systemClock, logger })
  const dispatcher = new Dispatcher({
    providers: { apns },
    store: createMemoryStore(),
    clock: systemClock,
    logger,
    payload: { apnsTopic: h.world.bundleId, apnsEnvironment: 'sandbox', redactCaller: false },
    onOutcome: (outcome: PushOutcome) => audit.recordOutcome(outcome),
  })
  const OUTAGE_MS = 2_500
  const PUSHES = 50
  proxy.setMode('refuse')
  const refusingFrom = performance.now()
  const devices: Device[] = Array.from({ length: PUSHES }, () => ({
    userId: 'outage-agent',
    platform: 'ios',
    token: randomBytes(32).toString('hex'),
    pushType: 'alert',
    environment: 'sandbox',
    registeredAt: Date.now(),
  }))
  // Half the rings end during the outage (1.5 s), half outlive it (12 s).
  const lifetime = (i: number): number => (i % 2 === 0 ? 1_500 : 12_000)
  const done = Promise.all(
    devices.map((device, i) => {
      const intent: PushIntent = {
        action: 'ring',
        ring: {
          conversationId: `outage-${i}`,
          userId: device.userId,
          participantId: `p-${i}`,
          mediaType: 'chat',
          offeredAt: Date.now(),
        },
        targets: [{ device, via: 'alert' }],
        expiresAt: Date.now() + lifetime(i),
      }
      return dispatcher.dispatch(intent)
    }),
  )
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
  const attempts = [...proxy.connectTimes]
  proxy.setMode('pass')
  const outcomes = (await done).flat()
  await apns.close()
  await proxy.close()

  const accepted = devices.map((d) => h.world.apns.accepted.filter((p) => p.token === d.token).length)
  const expired = new Set(
    audit
      .query({ limit: 1_000 })
      .filter((e) => e.kind === 'expired')
      .map((e) => e.conversationId),
  )
  // Attempt n waits at most min(5 s, 100 ms × 2^(n-1)) after failure n; the slack covers a loaded host.
  const gaps = attempts.slice(1).map((at, n) => at - (attempts[n] as number))
  const overBackoff = gaps.filter((gap, n) => gap > Math.min(5_000, 100 * 2 ** n) + 250)
  const shortLost = devices.filter(
    (_, i) => lifetime(i) < OUTAGE_MS && (accepted[i] !== 0 || !expired.has(`outage-${i}`)),
  ).length
  const longLost = devices.filter((_, i) => lifetime(i) > OUTAGE_MS && accepted[i] !== 1).length
  recordTrial(
    {
      id: 'fault.apns-refusing-connections',
      area: 'fault',
      what: `APNs refusing every connection for ${OUTAGE_MS / 1000} s while ${PUSHES} pushes wait (half of them with rings ending during the outage)`,
      tried: PUSHES,
      unit: 'pushes',
      held: 'connect attempts paced by the back-off, one at a time, not one per push; every push whose ring outlived the outage delivered once, the others audited as expired and never sent',
      lost: shortLost + longLost + (attempts.length > 12 ? 1 : 0),
      observed: `${attempts.length} connect attempts during the outage (gaps ${gaps.map((g) => Math.round(g)).join(', ')} ms); ${outcomes.filter((o) => o.result.kind === 'delivered').length} delivered, ${expired.size} expired`,
    },
    import.meta.url,
  )
  assert.ok(performance.now() - refusingFrom < 20_000)
  assert.ok(
    attempts.length >= 3 && attempts.length <= 12,
    `connect attempts paced by the back-off, not one per push (${attempts.length})`,
  )
  assert.deepEqual(
    overBackoff,
    [],
    `no wait longer than its back-off step (gaps ${gaps.map((g) => Math.round(g)).join(', ')} ms)`,
  )
  assert.equal(
    longLost,
    0,
    `rings that outlived the outage delivered exactly once (${accepted.filter((n, i) => lifetime(i) > OUTAGE_MS && n !== 1).join(',')})`,
  )
  assert.equal(shortLost, 0, 'rings that ended during the outage were never sent and are audited as expired')
})
