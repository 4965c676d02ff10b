// The Web Push provider against the strict sandbox: every RFC 8030 answer classified as docs/PLATFORMS.md
// and the issue say (404/410 prune, 429/5xx retry, 401/403 alarm), VAPID signed once per origin.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import webpush from 'web-push'
import { FakeClock } from '../../src/clock.js'
import { silentLogger } from '../../src/observability/logger.js'
import type { PushProvider, WebPushSend } from '../../src/providers/provider.js'
import { createWebPushProvider } from '../../src/providers/webpush.js'
import { WebPushEndpointPolicy } from '../../src/providers/webpush-endpoints.js'
import { createTestPki, type TestPki } from '../../src/sim/tls.js'
import { startWebPushSandbox, type SandboxSubscription, type WebPushSandbox } from '../../src/sim/webpush/index.js'

let pki: TestPki
let sandbox: WebPushSandbox
let provider: PushProvider<WebPushSend>
const clock = new FakeClock(Date.now())
const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.com' }

before(async () => {
  pki = await createTestPki()
  sandbox = await startWebPushSandbox({ tls: { key: pki.key, cert: pki.cert }, clock })
  provider = createWebPushProvider({
    vapid,
    ca: pki.caCert,
    clock,
    logger: silentLogger(),
    endpoints: new WebPushEndpointPolicy({ allowedHosts: [], sandboxHosts: [new URL(sandbox.url).host] }),
  })
})
after(async () => {
  await provider.close()
  await sandbox.close()
})

const ring = (subscription: SandboxSubscription, conversationId = 'c-1'): WebPushSend => ({
  provider: 'webpush',
  subscription,
  payload: { action: 'ring', genesys_conversation_id: conversationId, title: 'Incoming call', body: 'Queue: Sales' },
  ttlSeconds: 30,
  urgency: 'high',
  topic: 'AbCdEf0123456789_-AbCdEf01234567',
})

test('a ring is encrypted for the subscription, signed with VAPID, Urgency high, TTL = ring lifetime', async () => {
  const sub = sandbox.subscribe({ applicationServerKey: vapid.publicKey })
  const result = await provider.send(ring(sub))
  assert.equal(result.kind, 'delivered')
  const got = sandbox.accepted.find((p) => p.endpoint === sub.endpoint)
  assert.deepEqual(got?.payload, ring(sub).payload)
  assert.equal(got?.urgency, 'high')
  assert.equal(got?.ttl, 30)
  assert.equal(got?.topic, 'AbCdEf0123456789_-AbCdEf01234567')
  assert.equal(got?.vapid.aud, new URL(sandbox.url).origin)
  assert.equal(got?.vapid.sub, vapid.subject)
})

test('one VAPID JWT per push-service origin, renewed before it expires', async () => {
  const sub = sandbox.subscribe({ applicationServerKey: vapid.publicKey })
  for (let i = 0; i < 20; i++) assert.equal((await provider.send(ring(sub))).kind, 'delivered')
  const exps = new Set(sandbox.accepted.filter((p) => p.endpoint === sub.endpoint).map((p) => p.vapid.exp))
  assert.equal(exps.size, 1, 'the same JWT for every push')
  clock.advance(11.5 * 3600_000)
  assert.equal((await provider.send(ring(sub))).kind, 'delivered', 'still within 24 h after renewal')
  const after = sandbox.accepted.filter((p) => p.endpoint === sub.endpoint).at(-1)
  assert.ok(after && after.vapid.exp > [...exps][0]!, 'a new JWT after 11.5 hours')
})

const answers: Array<[number, string, boolean?]> = [
  [404, 'invalid-token'],
  [410, 'invalid-token'],
  [413, 'failed'],
  [429, 'retry'],
  [500, 'retry'],
  [503, 'retry'],
]
for (const [status, kind] of answers) {
  test(`a ${status} from the push service is ${kind}`, async () => {
    const sub = sandbox.subscribe({ applicationServerKey: vapid.publicKey })
    sandbox.failSubscription(sub.endpoint, { status, times: 1, ...(status === 429 ? { retryAfterS: 7 } : {}) })
    const result = await provider.send(ring(sub))
    assert.equal(result.kind, kind)
    if (status === 429) assert.equal(result.kind === 'retry' && result.retryAfterMs, 7000)
  })
}

test('an unsubscribed endpoint answers 410 and is reported dead', async () => {
  const sub = sandbox.subscribe()
  sandbox.unsubscribe(sub.endpoint)
  const result = await provider.send(ring(sub))
  assert.equal(result.kind, 'invalid-token')
  assert.equal(result.kind === 'invalid-token' && result.status, 410)
})

test('a subscription made for another VAPID key is a configuration error and keeps the subscription', async () => {
  const sub = sandbox.subscribe({ applicationServerKey: webpush.generateVAPIDKeys().publicKey })
  const result = await provider.send(ring(sub))
  assert.equal(result.kind, 'failed')
  assert.equal(result.kind === 'failed' && result.config, true)
})
