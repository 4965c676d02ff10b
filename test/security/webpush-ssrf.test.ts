// Request forgery through Web Push: an agent token registers an endpoint and the gateway POSTs to it
// on every ring. Endpoints outside the push services' hosts are refused at registration, a host that
// resolves to a private address is never connected to, redirects are not followed, and a push
// service's answer body never reaches a log line or the audit.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import webpush from 'web-push'
import { createLogger } from '../../src/observability/logger.js'
import type { PushProvider, WebPushSend } from '../../src/providers/provider.js'
import { createWebPushProvider } from '../../src/providers/webpush.js'
import { WebPushEndpointPolicy } from '../../src/providers/webpush-endpoints.js'
import { createTestPki, type TestPki } from '../../src/sim/tls.js'
import { startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const ADMIN = 'admin-token-ssrf-test-0123456789'
const BODY_MARKER = 'INTERNAL-ONLY-7f3e9c'
let pki: TestPki
let trap: Server
let trapPort: number
let trapConnections = 0
let trapRequests: string[] = []
let h: Harness

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))
}

before(async () => {
  pki = await createTestPki()
  // An internal service the attacker wants the gateway to reach: it answers everything with a body
  // worth stealing, and redirects /redirect elsewhere on the internal network.
  trap = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    trapRequests.push(req.url ?? '')
    if (req.url?.startsWith('/redirect'))
      res.writeHead(307, { location: `https://localhost:${trapPort}/followed` }).end()
    else res.writeHead(404, { 'content-type': 'text/plain' }).end(`${BODY_MARKER} admin console: root password hunter2`)
  })
  trap.on('connection', () => void trapConnections++)
  trapPort = await listen(trap)
  // The operator allow-lists a host name that (through a mistake, or DNS rebinding) resolves to loopback.
  h = await startHarness({ ADMIN_TOKEN: ADMIN, WEBPUSH_ALLOWED_HOSTS: `default,localhost:${trapPort}` })
})
after(async () => {
  await h.close()
  await new Promise((resolve) => trap.close(resolve))
})

const keys = (): { p256dh: string; auth: string } => {
  const sub = h.world.webpush.subscribe()
  return sub.keys
}

test('hostile endpoints are refused at registration and nothing is stored', async () => {
  const agent = h.world.genesys.addAgent()
  const hostile = [
    'http://fcm.googleapis.com/fcm/send/a',
    'https://127.0.0.1/push',
    'https://127.0.0.1:6379/',
    'https://2130706433/push',
    'https://0x7f000001/push',
    'https://0177.0.0.1/push',
    'https://127.1/push',
    'https://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'https://[::1]/push',
    'https://[::ffff:169.254.169.254]/',
    'https://[fd00::1]/push',
    'https://10.0.0.5/push',
    'https://192.168.1.1/push',
    'https://100.64.0.1/push',
    'https://user:pass@fcm.googleapis.com/fcm/send/a',
    'https://fcm.googleapis.com@127.0.0.1/fcm/send/a',
    'https://fcm.googleapis.com:8443/fcm/send/a',
    'https://fcm.googleapis.com.attacker.example/fcm/send/a',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://localhost/push',
    `https://localhost:${trapPort + 1}/push`,
    'https://internal-admin.corp.example/',
    'file:///etc/passwd',
    'javascript:alert(1)',
  ]
  const answers: Array<{ status: number; code?: string }> = []
  for (const endpoint of hostile) {
    const res = await h.register(agent.accessToken, { platform: 'web', subscription: { endpoint, keys: keys() } })
    answers.push({ status: res.status, code: (res.json.error as { code?: string } | undefined)?.code })
  }
  const stored = await h.gateway.store.listDevices(agent.userId)
  recordTrial(
    {
      id: 'security.webpush-endpoints',
      area: 'security',
      what: "Web Push endpoints aimed at the gateway's network: loopback, RFC 1918, link-local (cloud metadata), CGNAT, unique-local, IPv4 in decimal/hex/octal/short and IPv6-mapped spellings, user:password@, other ports, look-alike and internal host names, other schemes",
      tried: hostile.length,
      unit: 'registrations',
      held: '400 ENDPOINT_NOT_ALLOWED naming the rule; nothing stored, nothing contacted',
      lost: answers.filter((a) => a.status !== 400 || a.code !== 'ENDPOINT_NOT_ALLOWED').length + stored.length,
    },
    import.meta.url,
  )
  assert.deepEqual(
    answers.filter((a) => a.status !== 400 || a.code !== 'ENDPOINT_NOT_ALLOWED'),
    [],
  )
  assert.deepEqual(stored, [])
  assert.equal(trapConnections, 0)
})

test('an allow-listed host that resolves to loopback is never connected to, and the push is not retried', async () => {
  const agent = h.world.genesys.addAgent()
  const endpoint = `https://LOCALHOST:${trapPort}/push/abc#x`
  const res = await h.register(agent.accessToken, { platform: 'web', subscription: { endpoint, keys: keys() } })
  assert.equal(res.status, 201, JSON.stringify(res.json))
  assert.equal(res.json.token, `https://localhost:${trapPort}/push/abc`, 'the normalised URL is stored')
  await subscribed(h, agent.userId)
  const rings = 3
  const outcomes: Array<{ kind: string; attempts: number; reason: string }> = []
  for (let i = 0; i < rings; i++) {
    const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
    const entry = await waitFor('the refused push in the audit', async () => {
      const audit = await fetch(`${h.api}/api/v1/admin/audit?conversationId=${conversationId}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      })
      const json = (await audit.json()) as { entries: Array<{ kind: string; attempts?: number; reason: string }> }
      return json.entries.find((e) => e.kind === 'failed')
    })
    outcomes.push({ kind: entry.kind, attempts: entry.attempts ?? 0, reason: entry.reason })
  }
  recordTrial(
    {
      id: 'security.webpush-private-address',
      area: 'security',
      what: 'Rings to an allow-listed Web Push host that resolves to loopback (an operator mistake, or DNS rebinding after registration)',
      tried: rings,
      unit: 'rings',
      held: 'refused at connect time (every resolved address checked): no connection made, failed after one attempt, the device kept',
      lost: trapConnections + outcomes.filter((o) => o.attempts !== 1).length,
    },
    import.meta.url,
  )
  assert.equal(trapConnections, 0, 'no TCP connection reached the internal service')
  for (const o of outcomes) {
    assert.equal(o.attempts, 1, 'not retried')
    assert.match(o.reason, /non-public address/)
  }
  assert.equal(
    (await h.gateway.store.listDevices(agent.userId)).length,
    1,
    'kept: a configuration problem, not a dead token',
  )
})

test('redirects are not followed and an answer body never reaches the result, a log line or the audit', async () => {
  const lines: string[] = []
  const logger = createLogger({ level: 'trace' }, { write: (s: string) => void lines.push(s) })
  const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.com' }
  // The trap made reachable on purpose (as the sandbox is in tests), to see what the provider does with its answers.
  const provider: PushProvider<WebPushSend> = createWebPushProvider({
    vapid,
    ca: pki.caCert,
    logger,
    endpoints: new WebPushEndpointPolicy({ allowedHosts: [], sandboxHosts: [`localhost:${trapPort}`] }),
  })
  try {
    trapRequests = []
    const send = (path: string): WebPushSend => ({
      provider: 'webpush',
      subscription: { endpoint: `https://localhost:${trapPort}${path}`, keys: keys() },
      payload: { action: 'ring' },
      ttlSeconds: 30,
      urgency: 'high',
    })
    const redirected = await provider.send(send('/redirect/1'))
    const withBody = await provider.send(send('/push/2'))
    const results = JSON.stringify([redirected, withBody])
    recordTrial(
      {
        id: 'security.webpush-answers',
        area: 'security',
        what: 'A push service answering 307 to an internal URL, and 404 with an internal page as its body',
        tried: 2,
        unit: 'answers',
        held: 'the redirect not followed (failed, not retried); results, log lines and the audit carry the status and its phrase only',
        lost:
          trapRequests.filter((u) => u === '/followed').length +
          (results.includes(BODY_MARKER) ? 1 : 0) +
          lines.filter((l) => l.includes(BODY_MARKER)).length,
      },
      import.meta.url,
    )
    assert.deepEqual(trapRequests, ['/redirect/1', '/push/2'])
    assert.equal(redirected.kind, 'failed')
    assert.match(redirected.kind === 'failed' ? redirected.reason : '', /^HTTP 307 Temporary Redirect/)
    assert.equal(withBody.kind, 'invalid-token')
    assert.equal(withBody.kind === 'invalid-token' && withBody.reason, 'HTTP 404 Not Found')
    assert.ok(!lines.some((l) => l.includes(BODY_MARKER) || l.includes('hunter2')))
  } finally {
    await provider.close()
  }
})
