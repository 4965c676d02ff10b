// The packaged command as an operator runs it: a child process, configured only by environment
// variables, trusting the test CA through NODE_EXTRA_CA_CERTS like any private CA.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { fcmToken, waitFor } from './harness.js'

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts')]
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(GENESYS_|APNS_|FCM_|RING_|DEDUP_|STORE_|PORT$|HOST$)/.test(k)),
)

let world: TestWorld
before(async () => {
  world = await startTestWorld()
})
after(() => world.close())

test('a wrong setting stops the start with one line naming it and exit code 2', () => {
  const run = spawnSync(process.execPath, [...CLI, 'start'], {
    env: { ...cleanEnv, ...world.env, APNS_KEY_ID: 'nope' },
    encoding: 'utf8',
    timeout: 20_000,
  })
  assert.equal(run.status, 2)
  const lines = run.stderr.trim().split('\n')
  assert.equal(lines.length, 1, run.stderr)
  assert.match(lines[0] ?? '', /^push-gateway: configuration error: APNS_KEY_ID: /)
})

test('a missing required setting is named too', () => {
  const run = spawnSync(process.execPath, [...CLI, 'start'], {
    env: { ...cleanEnv, ...world.env, GENESYS_CLIENT_SECRET: '' },
    encoding: 'utf8',
    timeout: 20_000,
  })
  assert.equal(run.status, 2)
  assert.match(run.stderr, /GENESYS_CLIENT_SECRET/)
})

test('push-gateway start runs from the environment, rings a device, and stops cleanly on SIGTERM', async () => {
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const child = spawn(process.execPath, [...CLI, 'start'], {
    env: {
      ...cleanEnv,
      ...world.env,
      NODE_EXTRA_CA_CERTS: world.caFile,
      PORT: String(port),
      HOST: '127.0.0.1',
      STORE_URL: `sqlite:${join(world.dir, 'cli.db')}`,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let logs = ''
  child.stdout.on('data', (d: Buffer) => (logs += d.toString()))
  child.stderr.on('data', (d: Buffer) => (logs += d.toString()))
  const token = fcmToken()
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    const api = `http://127.0.0.1:${port}`
    await waitFor(
      'readiness',
      async () => (await fetch(`${api}/readyz`).catch(() => undefined))?.status === 200,
      15_000,
    )
    const agent = world.genesys.addAgent()
    const res = await fetch(`${api}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'android', token }),
    })
    assert.equal(res.status, 201)
    await waitFor('the subscription', () =>
      world.genesys.channels().some((c) => c.topics.includes(`v2.users.${agent.userId}.conversations`)),
    )
    const { conversationId } = world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
    await waitFor('the ring', () =>
      world.fcm.accepted.some(
        (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
      ),
    )
  } finally {
    child.kill('SIGTERM')
  }
  assert.equal(await exited, 0, logs)
  // Logs are JSON lines and carry no secret: not the client secret, not the full device token.
  assert.equal(logs.includes(world.client.clientSecret), false, 'client secret in logs')
  assert.equal(logs.includes(token), false, 'full device token in logs')
  assert.match(logs, /"msg":"gateway started"/)
})
