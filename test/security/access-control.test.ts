// Who may call what: every admin route (found in Fastify's route tree, so new ones are covered)
// needs ADMIN_TOKEN; the webhook needs its secret, compared with crypto.timingSafeEqual over digests
// so a wrong length is refused without throwing; pages carry their security headers.
import { after, before, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { syncBuiltinESMExports } from 'node:module'
import { secretMatches } from '../../src/api/routes/events.js'
import { startHarness, type Harness } from '../e2e/harness.js'
import { listRoutes } from '../support/routes.js'
import { recordTrial } from '../support/trials.js'

const ADMIN = 'admin-token-access-control-0123456789'
const SECRET = 'webhook-secret-access-control-0123'
let h: Harness
let off: Harness
before(async () => {
  ;[h, off] = await Promise.all([
    startHarness({
      ADMIN_TOKEN: ADMIN,
      WEBHOOK_SECRET: SECRET,
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_PER_IP_PER_MINUTE: '0',
    }),
    startHarness({ WEBHOOK_SECRET: SECRET }),
  ])
})
after(() => Promise.all([h.close(), off.close()]))

// Routes anyone may call, by design (README, HTTP API): docs, probes, the dashboard page's files.
const PUBLIC = /^\/(docs(\/.*)?|healthz|readyz|dashboard|dashboard\/(app\.js|app\.css|favicon\.svg))$/
const AGENT = /^\/(api\/v1\/devices(\/:token)?|register-token|api\/v1\/agent\/(answered|received)\/:conversationId)$/
const WEBHOOK = '/api/v1/events'

async function status(url: string, method: string, headers: Record<string, string> = {}): Promise<number> {
  const ac = new AbortController()
  const res = await fetch(url, { method, headers, signal: ac.signal })
  // The dashboard stream never ends: its status is enough.
  ac.abort()
  return res.status
}

test('every admin route refuses a missing, wrong, odd-length or misplaced admin token, and serves the right one', async () => {
  const routes = listRoutes(h.gateway.api)
  const admin = routes.filter((r) => !PUBLIC.test(r.path) && !AGENT.test(r.path) && r.path !== WEBHOOK)
  assert.deepEqual([...new Set(admin.map((r) => r.path))].sort(), [
    '/api/v1/admin/alarms',
    '/api/v1/admin/audit',
    '/api/v1/admin/reachability',
    '/dashboard/api/state',
    '/dashboard/api/stream',
    '/metrics',
  ])
  const wrong: Record<string, Record<string, string>> = {
    none: {},
    'wrong token': { authorization: `Bearer ${ADMIN.slice(0, -1)}X` },
    'token prefix': { authorization: `Bearer ${ADMIN.slice(0, 16)}` },
    'token with suffix': { authorization: `Bearer ${ADMIN}0` },
    'one character': { authorization: 'Bearer a' },
    '4 KB token': { authorization: `Bearer ${'a'.repeat(4096)}` },
    'basic scheme': { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` },
    'lower-case scheme, two spaces': { authorization: `bearer  ${ADMIN}` },
    'in another header': { 'x-admin-token': ADMIN },
    'as a cookie': { cookie: `token=${ADMIN}` },
  }
  const letIn: string[] = []
  let tried = 0
  for (const r of admin) {
    for (const [what, headers] of Object.entries(wrong)) {
      tried++
      const s = await status(`${h.api}${r.path}?token=${ADMIN}&access_token=${ADMIN}`, r.method, headers)
      if (s !== 401) letIn.push(`${r.method} ${r.path} ${what}: ${s}`)
    }
    assert.equal(
      await status(`${h.api}${r.path}`, r.method, { authorization: `Bearer ${ADMIN}` }),
      200,
      `${r.method} ${r.path} with the admin token`,
    )
  }
  // Without ADMIN_TOKEN the admin queries and dashboard data are off; /metrics is open (documented).
  for (const r of admin) {
    tried++
    const s = await status(`${off.api}${r.path}`, r.method, { authorization: `Bearer ${ADMIN}` })
    if (s !== (r.path === '/metrics' ? 200 : 403)) letIn.push(`no ADMIN_TOKEN: ${r.method} ${r.path}: ${s}`)
  }
  recordTrial(
    {
      id: 'security.admin-token',
      area: 'security',
      what: 'Admin routes (audit, alarms, reachability, /metrics, dashboard state and stream; GET and HEAD) with no, wrong, partial, 4 KB, Basic, cookie, query-string admin tokens; and on a gateway without ADMIN_TOKEN',
      tried,
      unit: 'requests',
      held: '401 (403 ADMIN_DISABLED without ADMIN_TOKEN, where only /metrics is open by design)',
      lost: letIn.length,
    },
    import.meta.url,
  )
  assert.deepEqual(letIn, [])
})

test('the webhook secret is compared with crypto.timingSafeEqual on equal-length digests; no length throws', async (t) => {
  const calls: number[][] = []
  const original = crypto.timingSafeEqual
  const spy = mock.method(crypto, 'timingSafeEqual', (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
    calls.push([a.byteLength, b.byteLength])
    return original(a, b)
  })
  syncBuiltinESMExports()
  t.after(() => {
    spy.mock.restore()
    syncBuiltinESMExports()
  })
  const candidates = [
    '',
    'x',
    SECRET.slice(0, -1),
    `${SECRET}x`,
    SECRET.toUpperCase(),
    'é'.repeat(40),
    '\u0000'.repeat(16),
    'a'.repeat(100_000),
  ]
  for (const c of candidates) assert.equal(secretMatches(c, SECRET), false, `${c.slice(0, 10)}… refused`)
  assert.equal(secretMatches(undefined, SECRET), false)
  assert.equal(secretMatches(SECRET, SECRET), true)
  assert.equal(calls.length, candidates.length + 1, 'every present candidate went through timingSafeEqual')
  assert.ok(
    calls.every(([a, b]) => a === 32 && b === 32),
    'both sides are SHA-256 digests: the length of the guess does not matter',
  )

  // Over HTTP: wrong secrets of every length are 401 before the body is read; the right one is 202.
  const letIn: string[] = []
  const event = JSON.stringify({
    eventType: 'routing.conversation.created',
    timestamp: new Date().toISOString(),
    data: {},
  })
  const headers = (secret: string | undefined): Record<string, string> => ({
    'content-type': 'application/json',
    ...(secret === undefined ? {} : { 'x-webhook-secret': secret }),
  })
  const wrong = [undefined, ...candidates.filter((c) => !/[^\x20-\x7e]/.test(c) && c.length < 8000)]
  for (const secret of wrong) {
    const res = await fetch(`${h.api}/api/v1/events`, { method: 'POST', headers: headers(secret), body: event })
    if (res.status !== 401) letIn.push(`${String(secret).slice(0, 10)}: ${res.status}`)
  }
  const ok = await fetch(`${h.api}/api/v1/events`, { method: 'POST', headers: headers(SECRET), body: event })
  recordTrial(
    {
      id: 'security.webhook-secret',
      area: 'security',
      what: 'Webhook secret: empty, 1 character, one short, one long, wrong case, multibyte, NUL bytes, 100 KB (timingSafeEqual spied) and over HTTP',
      tried: candidates.length + 1 + wrong.length,
      unit: 'comparisons and requests',
      held: 'refused (401), no exception, always two 32-byte digests compared',
      lost: letIn.length,
    },
    import.meta.url,
  )
  assert.deepEqual(letIn, [])
  assert.notEqual(ok.status, 401, 'the right secret is let in')
})

test('the dashboard page and assets carry a strict CSP, nosniff, DENY framing and no-referrer; API answers nosniff and no-store', async () => {
  for (const path of ['/dashboard', '/dashboard/app.js', '/dashboard/app.css', '/dashboard/favicon.svg']) {
    const res = await fetch(`${h.api}${path}`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/)
    assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /unsafe-inline|unsafe-eval/)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('x-frame-options'), 'DENY')
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer')
  }
  const agent = h.world.genesys.addAgent()
  for (const res of [
    await fetch(`${h.api}/api/v1/devices`, { headers: { authorization: `Bearer ${agent.accessToken}` } }),
    await fetch(`${h.api}/api/v1/devices`),
    await fetch(`${h.api}/nope`),
  ]) {
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('cache-control'), 'no-store', 'device lists are never cached by a proxy')
  }
})
