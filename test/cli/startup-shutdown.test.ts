// Start-up and shutdown as an operator meets them, with the built CLI in real processes: a store
// that cannot be reached keeps the gateway not ready, SIGTERM stops it within its bound whether
// the store was never, not yet or long ago reached, and a port already taken is one line naming PORT.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { SHUTDOWN_BOUND_MS } from '../../src/app.js'
import { cleanEnv, ensureBuilt, runBuilt, startBuilt, type RunningCli } from '../support/built-cli.js'
import { freePort } from '../support/ports.js'

const dir = mkdtempSync(join(tmpdir(), 'pgw-start-'))
const keyFile = join(dir, 'AuthKey.p8')
writeFileSync(
  keyFile,
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
)
const servers: Server[] = []
after(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  rmSync(dir, { recursive: true, force: true })
})
before(() => ensureBuilt())

/** A loopback port where nothing listens. */
async function closedPort(): Promise<number> {
  return freePort()
}

/** A TCP server that accepts and never answers: a Redis reached at the TCP level, stuck in its handshake. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('close', () => sockets.forEach((socket) => socket.destroy()))
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return typeof address === 'object' && address ? address.port : 0
}

async function settings(overrides: Record<string, string>): Promise<Record<string, string>> {
  const genesys = `https://127.0.0.1:${await closedPort()}`
  return cleanEnv({
    GENESYS_API_URL: genesys,
    GENESYS_LOGIN_URL: genesys,
    GENESYS_CLIENT_ID: 'client',
    GENESYS_CLIENT_SECRET: 'client-secret-value',
    APNS_KEY_FILE: keyFile,
    APNS_KEY_ID: 'ABC123DEFG',
    APNS_TEAM_ID: 'TEAM123456',
    APNS_TOPIC: 'com.example.agent',
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
    ...overrides,
  })
}

/** Sends SIGTERM and returns how long the process took to exit, and its exit code. */
async function terminate(running: RunningCli): Promise<{ ms: number; status: number | null }> {
  const sent = performance.now()
  running.child.kill('SIGTERM')
  const result = await running.finished
  return { ms: performance.now() - sent, status: result.status }
}

test('a Redis store unreachable at start keeps /readyz at 503 naming the store; SIGTERM stops it within the bound', async () => {
  const env = await settings({ STORE_URL: `redis://127.0.0.1:${await closedPort()}` })
  const running = startBuilt(['start'], env)
  await running.waitFor(/"gateway started"/)
  const res = await fetch(`http://127.0.0.1:${env.PORT}/readyz`)
  const body = (await res.json()) as { checks: { store: { ok: boolean; detail: string } } }
  assert.equal(res.status, 503)
  assert.equal(body.checks.store.ok, false)
  assert.match(body.checks.store.detail, /^redis unreachable since start \(.*\): check STORE_URL$/)
  const stopped = await terminate(running)
  assert.equal(stopped.status, 0, running.stderr())
  assert.ok(stopped.ms < SHUTDOWN_BOUND_MS, `stopped in ${Math.round(stopped.ms)} ms`)
})

test('SIGTERM before the store was ever reached and while a connection hangs in its handshake stops within the bound', async () => {
  // Before: the signal arrives as soon as the configuration is read.
  const early = startBuilt(['start'], await settings({ STORE_URL: `redis://127.0.0.1:${await closedPort()}` }))
  await early.waitFor(/"configuration loaded"/)
  const first = await terminate(early)
  assert.equal(first.status, 0, early.stderr())
  assert.ok(first.ms < SHUTDOWN_BOUND_MS, `stopped in ${Math.round(first.ms)} ms`)

  // During: Redis accepts the TCP connection and never answers.
  const stuck = startBuilt(['start'], await settings({ STORE_URL: `redis://127.0.0.1:${await silentServer()}` }))
  await stuck.waitFor(/"configuration loaded"/)
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const second = await terminate(stuck)
  assert.equal(second.status, 0, stuck.stderr())
  assert.ok(second.ms < SHUTDOWN_BOUND_MS, `stopped in ${Math.round(second.ms)} ms`)
})

test('PORT already in use: start and demo print one line naming PORT and exit 2', async () => {
  const holder = createServer()
  servers.push(holder)
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  const address = holder.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const expected = `push-gateway: PORT: ${port} is already in use on 127.0.0.1: stop the process listening there or set PORT to a free port\n`

  const start = await runBuilt(['start'], await settings({ STORE_URL: 'memory:', PORT: String(port) }))
  assert.equal(start.status, 2)
  assert.equal(
    start.stderr
      .split('\n')
      .filter((line) => line.startsWith('push-gateway:'))
      .join('\n') + '\n',
    expected,
  )
  assert.ok(!start.stderr.includes('    at '), 'no stack trace')

  const demo = await runBuilt(['demo', '--port', String(port), '--loops', '0'], cleanEnv())
  assert.equal(demo.status, 2)
  assert.equal(demo.stderr, expected)
})
