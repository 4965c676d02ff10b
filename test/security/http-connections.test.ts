// Connections that never finish: headers sent a byte at a time, bodies that never end, idle sockets,
// more sockets than the gateway allows, and bodies still coming after the gateway said no. None may
// hold a connection past HTTP_REQUEST_TIMEOUT_MS, and the probes keep answering.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { startHarness, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const TIMEOUT_MS = 1_000
const MAX_CONNECTIONS = 40
// Short limits, for the stalled-request trials; the defaults (10 s request timeout), for the early
// answers, so a connection closed within a second was closed by the answer, not by a timeout.
let short: Harness
let normal: Harness
before(async () => {
  ;[short, normal] = await Promise.all([
    startHarness({ HTTP_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS), HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS) }),
    startHarness({ RATE_LIMIT_PER_IP_PER_MINUTE: '3' }),
  ])
})
after(() => Promise.all([short.close(), normal.close()]))

interface Held {
  socket: Socket
  opened: number
  closedAt?: number
  received: string
  closed: Promise<void>
}

function open(api: string, first?: string): Held {
  const { hostname, port } = new URL(api)
  const socket = connect(Number(port), hostname)
  const held: Held = { socket, opened: performance.now(), received: '', closed: Promise.resolve() }
  held.closed = new Promise((resolve) => {
    socket.on('data', (d: Buffer) => void (held.received += d.toString('latin1')))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      held.closedAt = performance.now()
      resolve()
    })
  })
  if (first !== undefined) socket.write(first)
  return held
}

const within = (held: Held[], ms: number): Promise<void> =>
  Promise.race([
    Promise.all(held.map((x) => x.closed)).then(() => undefined),
    new Promise<void>((resolve) => setTimeout(resolve, ms)),
  ])

async function healthz(api: string): Promise<number> {
  try {
    return (await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(2_000) })).status
  } catch {
    return 0
  }
}

test('headers a byte at a time, bodies that never end and silent sockets are closed within the request timeout', async () => {
  const agent = short.world.genesys.addAgent()
  const { host } = new URL(short.api)
  const held: Held[] = []
  for (let i = 0; i < 10; i++) held.push(open(short.api, `POST /api/v1/devices HTTP/1.1\r\nHost: ${host}\r\nX-Slow: `))
  for (let i = 0; i < 10; i++) {
    held.push(
      open(
        short.api,
        `POST /api/v1/devices HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${agent.accessToken}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"platform":`,
      ),
    )
  }
  for (let i = 0; i < 10; i++) held.push(open(short.api))
  // Trickle a byte now and then, as slowloris does, so no socket is ever idle for long.
  const trickle = setInterval(() => {
    for (const x of held.slice(0, 20)) if (x.closedAt === undefined) x.socket.write('a')
  }, 200)
  const probe = await healthz(short.api)
  await within(held, TIMEOUT_MS + 3_000)
  clearInterval(trickle)
  const open_ = held.filter((x) => x.closedAt === undefined)
  const slowest = Math.max(...held.map((x) => (x.closedAt ?? performance.now()) - x.opened))
  recordTrial(
    {
      id: 'security.http-stalled-requests',
      area: 'security',
      what: "Requests that never finish: headers trickled a byte at a time, an agent's body that stops, sockets that send nothing (HTTP_REQUEST_TIMEOUT_MS scaled down to 1 s)",
      tried: held.length,
      unit: 'connections',
      held: 'every one closed by the gateway within the request timeout plus the 1 s check interval; /healthz answered meanwhile',
      lost: open_.length + (probe === 200 ? 0 : 1),
      observed: `slowest closed after ${Math.round(slowest)} ms`,
    },
    import.meta.url,
  )
  for (const x of open_) x.socket.destroy()
  assert.equal(probe, 200)
  assert.equal(open_.length, 0, `${open_.length} connections still open`)
  assert.equal(await healthz(short.api), 200)
})

test('past HTTP_MAX_CONNECTIONS new connections are closed at once, and the gateway serves again when they go', async () => {
  const held: Held[] = []
  for (let i = 0; i < MAX_CONNECTIONS + 20; i++) held.push(open(short.api))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const refusedAtOnce = held.filter((x) => x.closedAt !== undefined).length
  await within(held, TIMEOUT_MS + 3_000)
  const stillOpen = held.filter((x) => x.closedAt === undefined)
  for (const x of stillOpen) x.socket.destroy()
  const probe = await healthz(short.api)
  recordTrial(
    {
      id: 'security.http-max-connections',
      area: 'security',
      what: `${MAX_CONNECTIONS + 20} silent connections against HTTP_MAX_CONNECTIONS=${MAX_CONNECTIONS}`,
      tried: MAX_CONNECTIONS + 20,
      unit: 'connections',
      held: 'those past the limit closed at once, the rest at the request timeout; /healthz answers afterwards',
      lost: stillOpen.length + (refusedAtOnce >= 20 ? 0 : 1) + (probe === 200 ? 0 : 1),
      observed: `${refusedAtOnce} closed within 300 ms`,
    },
    import.meta.url,
  )
  assert.ok(refusedAtOnce >= 20, `${refusedAtOnce} closed at once`)
  assert.equal(stillOpen.length, 0)
  assert.equal(probe, 200)
})

test('after an early 401, 413 or 429 the connection is closed, not kept reading the body', async () => {
  const agent = normal.world.genesys.addAgent()
  const { host } = new URL(normal.api)
  const post = (headers: string, length: number): string =>
    `POST /api/v1/devices HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${headers}\r\n{"platform":"android","token":"`
  const cases: Array<[string, string, number]> = [
    ['401', post('', 1_000_000), 401],
    ['413', post(`Authorization: Bearer ${agent.accessToken}\r\n`, 1_000_000), 413],
    ['429', post('', 1_000_000), 429],
  ]
  const results: Array<{ name: string; status: number; closedMs: number | undefined }> = []
  // Two more 401s spend the address's allowance of 3, so the third case is the one over the limit.
  for (const [name, request] of cases) {
    if (name === '429') for (let i = 0; i < 2; i++) await fetch(`${normal.api}/api/v1/devices`)
    const held = open(normal.api, request)
    // The client keeps sending, slowly, as an attacker holding the socket would.
    const more = setInterval(() => held.closedAt === undefined && held.socket.write('x'.repeat(100)), 100)
    await within([held], 3_000)
    clearInterval(more)
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(held.received)?.[1] ?? 0)
    results.push({ name, status, closedMs: held.closedAt === undefined ? undefined : held.closedAt - held.opened })
    if (held.closedAt === undefined) held.socket.destroy()
  }
  recordTrial(
    {
      id: 'security.http-early-answers',
      area: 'security',
      what: 'Bodies of 1 MB still being sent after the gateway answered 401 (no token), 413 (over 16 KB) and 429 (over the address limit)',
      tried: cases.length,
      unit: 'requests',
      held: 'the answer, with Connection: close, and the connection closed long before the 10 s request timeout',
      lost: results.filter((r, i) => r.status !== cases[i]?.[2] || r.closedMs === undefined).length,
      observed: results
        .map((r) => `${r.name} closed after ${r.closedMs === undefined ? 'never' : `${Math.round(r.closedMs)} ms`}`)
        .join(', '),
    },
    import.meta.url,
  )
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, cases[i]?.[2], r.name)
    assert.ok(r.closedMs !== undefined, `${r.name}: connection closed`)
  }
})
