// Graceful shutdown: SIGTERM stops taking events, lets the push in flight finish, closes the
// Genesys socket and exits 0; a push that outlives the grace period does not hold the exit.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { apnsToken, startHarness, subscribed, waitFor } from '../e2e/harness.js'

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts')]
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^(GENESYS_|APNS_|FCM_|RING_|DEDUP_|STORE_|WEBPUSH_|WEBHOOK_|ADMIN_TOKEN$|PORT$|HOST$)/.test(k),
  ),
)

let world: TestWorld
before(async () => {
  world = await startTestWorld()
})
after(() => world.close())

test('SIGTERM with a push in flight: readiness fails, the push is delivered, the socket closes, exit 0', async () => {
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const child = spawn(process.execPath, [...CLI, 'start'], {
    env: {
      ...cleanEnv,
      ...world.env,
      NODE_EXTRA_CA_CERTS: world.caFile,
      PORT: String(port),
      HOST: '127.0.0.1',
      STORE_URL: `sqlite:${join(world.dir, 'shutdown.db')}`,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let logs = ''
  child.stdout.on('data', (d: Buffer) => (logs += d.toString()))
  child.stderr.on('data', (d: Buffer) => (logs += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const api = `http://127.0.0.1:${port}`
  const token = apnsToken()
  try {
    await waitFor(
      'readiness',
      async () => (await fetch(`${api}/readyz`).catch(() => undefined))?.status === 200,
      15_000,
    )
    const agent = world.genesys.addAgent()
    const res = await fetch(`${api}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'ios', token, pushType: 'alert', environment: 'sandbox' }),
    })
    assert.equal(res.status, 201)
    await waitFor('the subscription', () =>
      world.genesys.channels().some((c) => c.connected && c.topics.includes(`v2.users.${agent.userId}.conversations`)),
    )

    // APNs holds its answer for 1.5 s: the ring is in flight when SIGTERM arrives.
    world.apns.resetStats()
    world.apns.stall(1_500)
    const { conversationId } = world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
    await waitFor('the push to be in flight', () => world.apns.peakConcurrentStreams() >= 1)
    const signalled = performance.now()
    child.kill('SIGTERM')
    // While draining, readiness says so (a load balancer stops sending), the process still answers.
    const draining = await waitFor(
      'readiness to fail',
      async () => {
        const r = await fetch(`${api}/readyz`).catch(() => undefined)
        return r?.status === 503 && ((await r.json()) as { checks: Record<string, { ok: boolean }> })
      },
      1_000,
    ).catch(() => undefined)
    assert.equal(await exited, 0, logs)
    const tookMs = performance.now() - signalled
    assert.ok(
      world.apns.accepted.some((p) => p.token === token && p.payload.genesys_conversation_id === conversationId),
      'the push in flight was delivered',
    )
    assert.ok(tookMs >= 1_000, `waited for the push (${Math.round(tookMs)} ms)`)
    if (draining) assert.equal(draining.checks.shutdown?.ok, false)
    assert.equal(
      world.genesys.channels().some((c) => c.connected),
      false,
      'the Genesys socket is closed',
    )
    assert.match(logs, /"msg":"gateway stopped"[^\n]*|"abandonedPushes":0[^\n]*"msg":"gateway stopped"/)
    assert.match(logs, /"abandonedPushes":0/)
  } finally {
    child.kill('SIGKILL')
  }
})

test('a push that outlives the grace period does not hold the stop, and stop() twice is one stop', async () => {
  const h = await startHarness()
  try {
    const agent = h.world.genesys.addAgent()
    assert.equal(
      (
        await h.register(agent.accessToken, {
          platform: 'ios',
          token: apnsToken(),
          pushType: 'alert',
          environment: 'sandbox',
        })
      ).status,
      201,
    )
    await subscribed(h, agent.userId)
    h.world.apns.stall(20_000)
    h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
    await waitFor('the push to be in flight', () => h.gateway.dispatcher.pending >= 1)
    const started = performance.now()
    const first = h.gateway.stop(300)
    const second = h.gateway.stop(300)
    await Promise.all([first, second])
    const tookMs = performance.now() - started
    assert.ok(tookMs < 3_000, `stopped in ${Math.round(tookMs)} ms despite a 20 s stall`)
    assert.equal(first, second)
    assert.equal(
      await fetch(`${h.api}/healthz`).then(
        () => 'open',
        () => 'closed',
      ),
      'closed',
      'the HTTP port is closed',
    )
  } finally {
    await h.close()
  }
})
