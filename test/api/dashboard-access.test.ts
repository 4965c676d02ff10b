// Who may see the dashboard's data, and the headers that keep the page safe in a browser.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startHarness, type Harness } from '../e2e/harness.js'

const ADMIN = 'admin-token-for-dashboard-0123'
let h: Harness
let open: Harness
before(async () => {
  h = await startHarness({ ADMIN_TOKEN: ADMIN })
  open = await startHarness()
})
after(async () => {
  await h.close()
  await open.close()
})

test('the page is served with a strict CSP, nosniff, no framing and no referrer', async () => {
  for (const path of ['/dashboard', '/dashboard/app.js', '/dashboard/app.css']) {
    const res = await fetch(`${h.api}${path}`)
    assert.equal(res.status, 200, path)
    const csp = res.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer')
    assert.equal(res.headers.get('x-frame-options'), 'DENY')
  }
  const html = await (await fetch(`${h.api}/dashboard`)).text()
  assert.doesNotMatch(html, /<script>|<style>|style="|onclick=/i, 'no inline script or style for the CSP to allow')
})

test('the data needs the admin token as a bearer token; the page itself holds none', async () => {
  assert.equal((await fetch(`${h.api}/dashboard/api/state`)).status, 401)
  assert.equal(
    (
      await fetch(`${h.api}/dashboard/api/state`, {
        headers: { authorization: 'Bearer admin-token-for-dashboard-0124' },
      })
    ).status,
    401,
  )
  assert.equal((await fetch(`${h.api}/dashboard/api/stream`)).status, 401)
  // A cookie or a query parameter is not a credential here (no CSRF, no token in URLs or logs).
  assert.equal(
    (await fetch(`${h.api}/dashboard/api/state?token=${ADMIN}`, { headers: { cookie: `token=${ADMIN}` } })).status,
    401,
  )
  const res = await fetch(`${h.api}/dashboard/api/state`, { headers: { authorization: `Bearer ${ADMIN}` } })
  assert.equal(res.status, 200)
  const state = (await res.json()) as {
    source: { connected: boolean }
    store: { kind: string; up: boolean }
    totals: object
    recent: unknown[]
  }
  assert.equal(state.source.connected, true)
  assert.deepEqual(state.store, { kind: 'sqlite', up: true })
  assert.ok(Array.isArray(state.recent))
})

test('without ADMIN_TOKEN the dashboard data is off (403) and /metrics is open', async () => {
  const res = await fetch(`${open.api}/dashboard/api/state`, {
    headers: { authorization: 'Bearer anything-at-all-here' },
  })
  assert.equal(res.status, 403)
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ADMIN_DISABLED')
  assert.equal((await fetch(`${open.api}/metrics`)).status, 200)
})

test('the stream sends the state at once, then each ring as it happens', async () => {
  const ac = new AbortController()
  const res = await fetch(`${h.api}/dashboard/api/stream`, {
    headers: { authorization: `Bearer ${ADMIN}` },
    signal: ac.signal,
  })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  const reader = res.body!.getReader()
  let text = ''
  const until = async (pattern: RegExp): Promise<void> => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`stream ended before ${pattern}`)
      text += new TextDecoder().decode(value)
    }
  }
  await until(/event: state\ndata: \{/)
  const agent = h.world.genesys.addAgent()
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'android', token: `${'a'.repeat(30)}:APA91b${'b'.repeat(100)}` }))
      .status,
    201,
  )
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (h.world.genesys.channels().some((c) => c.topics.includes(`v2.users.${agent.userId}.conversations`)))
        resolve(clearInterval(t))
    }, 10)
  })
  const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  await until(new RegExp(`event: feed\\ndata: \\{"type":"ring"[^\\n]*"${conversationId}"`))
  await until(new RegExp(`event: feed\\ndata: \\{"type":"push"[^\\n]*"${conversationId}"[^\\n]*"outcome":"delivered"`))
  assert.equal(text.includes('b'.repeat(100)), false, 'the feed shows device prefixes, never the token')
  ac.abort()
})
