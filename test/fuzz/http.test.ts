// Property-based fuzzing (fast-check) of every HTTP route of a running gateway: odd methods and
// paths, every kind of credential, wrong content types, and bodies that are valid-looking, random
// JSON, deeply nested, huge or binary. Checked for every case: no 5xx, no dropped connection, the
// error shape on the API, no device changed by a refused request; and for the whole run: no
// unhandled rejection or exception, and the gateway still registers and rings afterwards.
// FUZZ_RUNS=n sets the number of cases per property (CI default below, a few seconds).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { request, Agent } from 'node:http'
import fc from 'fast-check'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { concrete, listRoutes } from '../support/routes.js'
import { fuzzRuns, recordTrial } from '../support/trials.js'
import { bodies, eventBridgeEvent, eventStreamEvent } from './payloads.js'

const ADMIN = 'admin-token-fuzz-0123456789abcdef'
const SECRET = 'webhook-secret-fuzz-0123456789'
let h: Harness
const faults: string[] = []
const onRejection = (err: unknown): void => void faults.push(`unhandledRejection: ${String(err)}`)
const onException = (err: unknown): void => void faults.push(`uncaughtException: ${String(err)}`)

before(async () => {
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  h = await startHarness({
    ADMIN_TOKEN: ADMIN,
    WEBHOOK_SECRET: SECRET,
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_PER_IP_PER_MINUTE: '0',
    RING_TIMEOUT_S: '5',
  })
})
after(async () => {
  await h.close()
  process.off('unhandledRejection', onRejection)
  process.off('uncaughtException', onException)
})

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}
const agent = new Agent({ keepAlive: true, maxSockets: 4 })

/** Raw node:http, so any method, header and body can be sent (fetch refuses some). */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<Answer> {
  const url = new URL(h.api)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        agent,
        timeout: 5_000,
      },
      (res) => {
        // The dashboard's live stream never ends by design: its head is the answer.
        if (String(res.headers['content-type']).startsWith('text/event-stream')) {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' })
          return void req.destroy()
        }
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        )
        res.on('error', reject)
      },
    )
    // A server that answers 413 before reading a huge body may close while we still write: the
    // answer is what counts, a write error after it is not.
    req.on('error', (err) => reject(err))
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')))
    req.end(body)
  })
}

async function snapshot(userIds: string[]): Promise<string> {
  const lists = await Promise.all(userIds.map((u) => h.gateway.store.listDevices(u)))
  return JSON.stringify([
    (await h.gateway.store.countDevices()).total,
    ...lists.map((l) => l.map((d) => `${d.token}|${d.userId}|${d.registeredAt}`).sort()),
  ])
}

test('thousands of generated requests to every route: no 5xx, no crash, refused requests change no device', async () => {
  const a = h.world.genesys.addAgent({ name: 'Fuzz A' })
  const b = h.world.genesys.addAgent({ name: 'Fuzz B' })
  const aDevice = fcmToken()
  assert.equal((await h.register(a.accessToken, { platform: 'android', token: aDevice })).status, 201)
  assert.equal(
    (await h.register(b.accessToken, { platform: 'ios', token: apnsToken(), environment: 'sandbox' })).status,
    201,
  )
  const users = [a.userId, b.userId]
  const routes = listRoutes(h.gateway.api)

  const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,200}$/)
  const authorization = fc.oneof(
    fc.constant(undefined),
    fc.constant(`Bearer ${a.accessToken}`),
    fc.constant(`Bearer ${b.accessToken}`),
    fc.constant(`Bearer ${ADMIN}`),
    headerValue.map((s) => `Bearer ${s}`),
    headerValue,
    fc.constant(`Bearer ${'A'.repeat(8000)}`),
  )
  const contentType = fc.constantFrom(
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/xml',
    '*/*',
    'application/json, text/plain',
    'garbage',
  )
  const method = fc.constantFrom(
    'GET',
    'GET',
    'POST',
    'POST',
    'POST',
    'PUT',
    'DELETE',
    'DELETE',
    'PATCH',
    'HEAD',
    'OPTIONS',
    'PROPFIND',
    'SEARCH',
    'TRACE',
  )
  const known = fc.constantFrom(...routes.map((r) => r.path))
  const path = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          known,
          fc.constantFrom(
            aDevice,
            'x',
            '%00',
            '..',
            'c0ffee00-0000-4000-8000-000000000000',
            '%2e%2e%2f',
            'A'.repeat(5000),
          ),
        )
        .map(([p, fill]) => concrete(p, fill)),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(known, fc.webSegment(), fc.webQueryParameters())
        .map(([p, seg, q]) => `${concrete(p)}/${seg}?${q}`),
    },
    { weight: 1, arbitrary: fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '//api/v1/devices',
        '/api/v1/../v1/devices',
        '/API/V1/DEVICES',
        '/api/v1/devices/',
        '/api/v1/devices?userId=x&userId=y',
        `/${'a/'.repeat(2000)}`,
      ),
    },
  )
  const request_ = fc.record({
    method,
    path,
    authorization,
    contentType,
    secret: fc.constantFrom(undefined, SECRET, `${SECRET}x`, ''),
    requestId: fc.option(headerValue, { nil: undefined }),
    body: bodies({ tokens: [aDevice], users, conversations: ['c0ffee00-0000-4000-8000-000000000000'] }),
  })

  const problems: string[] = []
  let tried = 0
  let refused = 0
  let accepted = 0
  let baseline = await snapshot(users)
  await fc
    .assert(
      fc.asyncProperty(request_, async (r) => {
        tried++
        const known = problems.length
        const headers: Record<string, string> = {}
        if (r.authorization !== undefined) headers.authorization = r.authorization
        if (r.contentType !== undefined) headers['content-type'] = r.contentType
        if (r.secret !== undefined) headers['x-webhook-secret'] = r.secret
        if (r.requestId !== undefined) headers['x-request-id'] = r.requestId
        let answer: Answer
        try {
          answer = await send(r.method, r.path, headers, r.body)
        } catch (err) {
          problems.push(`${r.method} ${r.path.slice(0, 60)}: no answer (${(err as Error).message})`)
          return false
        }
        if (answer.status >= 500)
          problems.push(`${r.method} ${r.path.slice(0, 60)}: ${answer.status} ${answer.body.slice(0, 200)}`)
        const api = r.path.startsWith('/api/') || r.path === '/register-token' || r.path === '/metrics'
        if (api && answer.status >= 400 && r.method !== 'HEAD') {
          let shape = false
          try {
            const json = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } }
            shape = typeof json.error?.code === 'string' && typeof json.error.message === 'string'
          } catch {
            shape = false
          }
          if (!shape)
            problems.push(
              `${r.method} ${r.path.slice(0, 60)}: ${answer.status} without the error shape: ${answer.body.slice(0, 100)}`,
            )
        }
        const now = await snapshot(users)
        if (answer.status >= 200 && answer.status < 300) {
          accepted++
          baseline = now
        } else {
          refused++
          if (now !== baseline)
            problems.push(`${r.method} ${r.path.slice(0, 60)}: refused with ${answer.status} but devices changed`)
          baseline = now
        }
        return problems.length === known
      }),
      { numRuns: fuzzRuns(3000) },
    )
    .catch((err: unknown) => {
      throw new Error(`${problems.slice(0, 5).join('\n')}\n${String(err).slice(0, 2000)}`)
    })

  // Webhook events on their own: the right secret, EventBridge envelopes and event-stream events with
  // arbitrary (often Genesys-shaped) contents, single or batched.
  let events = 0
  await fc
    .assert(
      fc.asyncProperty(
        fc.oneof(
          eventBridgeEvent(users),
          eventStreamEvent(users),
          fc.array(fc.oneof(eventBridgeEvent(users), eventStreamEvent(users)), { minLength: 0, maxLength: 120 }),
        ),
        async (e) => {
          events++
          const known = problems.length
          const answer = await send(
            'POST',
            '/api/v1/events',
            { 'content-type': 'application/json', 'x-webhook-secret': SECRET },
            Buffer.from(JSON.stringify(e)),
          )
          if (answer.status >= 500 || ![202, 400, 413].includes(answer.status))
            problems.push(`webhook: ${answer.status} ${answer.body.slice(0, 200)}`)
          const now = await snapshot(users)
          if (now !== baseline) problems.push('webhook event changed devices')
          return problems.length === known
        },
      ),
      { numRuns: fuzzRuns(1000) },
    )
    .catch((err: unknown) => {
      throw new Error(`${problems.slice(0, 5).join('\n')}\n${String(err).slice(0, 2000)}`)
    })

  // Still whole: a new registration, and a call that rings and is cancelled.
  const healthy = await fetch(`${h.api}/healthz`)
  const c = h.world.genesys.addAgent({ name: 'After Fuzz' })
  const device = fcmToken()
  const registered = await h.register(c.accessToken, { platform: 'android', token: device })
  await subscribed(h, c.userId)
  const { conversationId } = h.world.genesys.offer({ userId: c.userId, mediaType: 'voice' })
  const rang = await waitFor(
    'a ring after the fuzzing',
    () =>
      h.world.fcm.accepted.some(
        (m) =>
          (m.message as { token?: string }).token === device &&
          (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
      ),
    5_000,
  ).catch(() => false)

  recordTrial(
    {
      id: 'input.http-routes',
      area: 'input',
      what: 'Generated requests to every route: odd methods (PROPFIND, TRACE…) and paths (traversal, NUL, 5 KB segments), any credential, 12 content types, random/deep (10,000 levels)/huge (up to 1 MB)/binary/invalid UTF-8 bodies',
      tried,
      unit: 'requests',
      held: 'no 5xx, no dropped connection, API errors in the { error: { code, message } } shape, refused requests changed no device',
      lost: problems.filter((p) => !p.startsWith('webhook')).length + faults.length,
      observed: `${refused} refused, ${accepted} accepted`,
    },
    import.meta.url,
  )
  recordTrial(
    {
      id: 'input.webhook-events',
      area: 'input',
      what: 'Generated webhook deliveries with the right secret: EventBridge envelopes and event-stream events with random and Genesys-shaped contents, single and batches of 0 to 120',
      tried: events,
      unit: 'deliveries',
      held: '202 or 400 (413 above 256 KB), never 5xx, no device changed, the gateway still rings afterwards',
      lost: problems.filter((p) => p.startsWith('webhook')).length + (rang ? 0 : 1),
    },
    import.meta.url,
  )
  assert.deepEqual(problems, [])
  assert.deepEqual(faults, [], 'no unhandled rejection or exception')
  assert.equal(healthy.status, 200)
  assert.equal(registered.status, 201)
  assert.equal(rang, true, 'a call still rings after the fuzzing')
  agent.destroy()
})
