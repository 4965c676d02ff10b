// Measures (does not assert targets: those belong to the benchmarks) offer → push latency through
// the whole gateway, and raw pushes per second through the dispatcher, against the sandboxes.
// The figures are printed as test diagnostics.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import type { PushIntent, PushTarget } from '../../src/model.js'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

let h: Harness
before(async () => {
  h = await startHarness()
})
after(() => h.close())

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN
const fmt = (xs: number[]): string =>
  `p50 ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`

test('offer → push latency, first ring included (providers warmed at start)', async (t) => {
  const agent = h.world.genesys.addAgent({ name: 'Latency' })
  const voip = apnsToken()
  const android = fcmToken()
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'ios', token: voip, pushType: 'voip', environment: 'sandbox' }))
      .status,
    201,
  )
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: android })).status, 201)
  await subscribed(h, agent.userId)

  const apns: number[] = []
  const fcm: number[] = []
  for (let i = 0; i < 40; i++) {
    const offeredAt = performance.now()
    const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
    const a = await waitFor('apns', () =>
      h.world.apns.accepted.find((p) => p.payload.genesys_conversation_id === conversationId),
    )
    const f = await waitFor('fcm', () =>
      h.world.fcm.accepted.find(
        (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
      ),
    )
    apns.push(a.hrtime - offeredAt)
    fcm.push(f.hrtime - offeredAt)
    h.world.genesys.abandon(conversationId)
  }
  t.diagnostic(`first ring: APNs ${apns[0]?.toFixed(1)} ms, FCM ${fcm[0]?.toFixed(1)} ms`)
  t.diagnostic(`offer → APNs accepted: ${fmt(apns)}`)
  t.diagnostic(`offer → FCM accepted: ${fmt(fcm)}`)
})

test('pushes per second through the dispatcher (APNs + FCM + Web Push, 3,000 devices)', async (t) => {
  const n = 1_000
  const targets: PushTarget[] = []
  for (let i = 0; i < n; i++) {
    targets.push({
      via: 'alert',
      device: {
        userId: 'bench',
        platform: 'ios',
        token: apnsToken(),
        pushType: 'alert',
        environment: 'sandbox',
        registeredAt: 0,
      },
    })
    targets.push({ via: 'data', device: { userId: 'bench', platform: 'android', token: fcmToken(), registeredAt: 0 } })
    const sub = h.world.webpush.subscribe()
    targets.push({
      via: 'data',
      device: { userId: 'bench', platform: 'web', token: sub.endpoint, subscription: sub, registeredAt: 0 },
    })
  }
  const intent: PushIntent = {
    action: 'ring',
    ring: {
      conversationId: 'bench-conversation',
      userId: 'bench',
      participantId: 'p',
      mediaType: 'chat',
      offeredAt: Date.now(),
    },
    targets,
    expiresAt: Date.now() + 30_000,
  }
  const started = performance.now()
  const outcomes = await h.gateway.dispatcher.dispatch(intent)
  const seconds = (performance.now() - started) / 1000
  const byProvider = new Map<string, number>()
  for (const o of outcomes)
    if (o.result.kind === 'delivered') byProvider.set(o.provider ?? '?', (byProvider.get(o.provider ?? '?') ?? 0) + 1)
  assert.equal(outcomes.filter((o) => o.result.kind === 'delivered').length, 3 * n)
  t.diagnostic(
    `${3 * n} pushes in ${(seconds * 1000).toFixed(0)} ms: ${Math.round((3 * n) / seconds)} pushes/s (${[...byProvider].map(([p, c]) => `${p} ${c}`).join(', ')})`,
  )
  // Each provider alone, so a slow one is visible (the sandboxes run in this same process).
  for (const platform of ['ios', 'android', 'web'] as const) {
    const only = targets.filter((x) => x.device.platform === platform)
    const t0 = performance.now()
    await h.gateway.dispatcher.dispatch({
      ...intent,
      ring: { ...intent.ring, conversationId: `bench-${platform}` },
      targets: only,
    })
    t.diagnostic(`${platform}: ${Math.round(only.length / ((performance.now() - t0) / 1000))} pushes/s`)
  }
})
