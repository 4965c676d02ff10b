// The Web Push sandbox must refuse what a real push service refuses, or provider tests prove nothing.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { SignJWT, importJWK } from 'jose'
import webpush from 'web-push'
import { FakeClock } from '../../../src/clock.js'
import { createTestPki, type TestPki } from '../../../src/sim/tls.js'
import {
  encryptAes128gcm,
  startWebPushSandbox,
  type SandboxSubscription,
  type WebPushSandbox,
} from '../../../src/sim/webpush/index.js'

let pki: TestPki
let sandbox: WebPushSandbox
let agent: Agent
const clock = new FakeClock(Date.now())
const vapid = webpush.generateVAPIDKeys()

before(async () => {
  pki = await createTestPki()
  sandbox = await startWebPushSandbox({ tls: { key: pki.key, cert: pki.cert }, clock })
  agent = new Agent({ connect: { ca: pki.caCert } })
})
after(async () => {
  await agent.close()
  await sandbox.close()
})

async function vapidHeader(
  o: { aud?: string; expInS?: number; sub?: string; keys?: { publicKey: string; privateKey: string } } = {},
): Promise<string> {
  const keys = o.keys ?? vapid
  const pub = Buffer.from(keys.publicKey, 'base64url')
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: pub.subarray(1, 33).toString('base64url'),
    y: pub.subarray(33).toString('base64url'),
    d: keys.privateKey,
  }
  const nowS = Math.floor(clock.now() / 1000)
  const jwt = await new SignJWT({ sub: o.sub ?? 'mailto:ops@example.com' })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setAudience(o.aud ?? new URL(sandbox.url).origin)
    .setExpirationTime(nowS + (o.expInS ?? 3600))
    .sign(await importJWK(jwk, 'ES256'))
  return `vapid t=${jwt}, k=${keys.publicKey}`
}

async function post(
  sub: SandboxSubscription,
  o: { headers?: Record<string, string>; body?: Buffer; authorization?: string } = {},
): Promise<number> {
  const body =
    o.body ??
    encryptAes128gcm(
      Buffer.from('{"action":"ring"}'),
      Buffer.from(sub.keys.p256dh, 'base64url'),
      Buffer.from(sub.keys.auth, 'base64url'),
    )
  const headers: Record<string, string> = {
    ttl: '30',
    urgency: 'high',
    'content-encoding': 'aes128gcm',
    authorization: o.authorization ?? (await vapidHeader()),
    ...o.headers,
  }
  const res = await request(sub.endpoint, { method: 'POST', dispatcher: agent, headers, body })
  await res.body.text()
  return res.statusCode
}

test('a correctly signed and encrypted push is accepted (201) and decrypted', async () => {
  const sub = sandbox.subscribe({ applicationServerKey: vapid.publicKey })
  assert.equal(await post(sub), 201)
  const got = sandbox.accepted.find((p) => p.endpoint === sub.endpoint)
  assert.deepEqual(got?.payload, { action: 'ring' })
  assert.equal(got?.urgency, 'high')
  assert.equal(got?.ttl, 30)
})

test('the web-push library output is accepted as is', async () => {
  const sub = sandbox.subscribe({ applicationServerKey: vapid.publicKey })
  const d = webpush.generateRequestDetails(sub, 'hello', {
    vapidDetails: { subject: 'https://example.com', ...vapid },
    TTL: 10,
    contentEncoding: 'aes128gcm',
  })
  const headers = Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k.toLowerCase(), String(v)]))
  const res = await request(d.endpoint, { method: 'POST', dispatcher: agent, headers, body: d.body })
  await res.body.text()
  assert.equal(res.statusCode, 201)
  assert.equal(sandbox.accepted.find((p) => p.endpoint === sub.endpoint)?.text, 'hello')
})

const cases: Array<[string, (sub: SandboxSubscription) => Promise<number>, number]> = [
  ['no VAPID authorization', (s) => post(s, { authorization: 'WebPush abc' }), 401],
  [
    'a JWT whose aud is another origin',
    async (s) => post(s, { authorization: await vapidHeader({ aud: 'https://push.example.net' }) }),
    401,
  ],
  [
    'a JWT expiring more than 24 h ahead',
    async (s) => post(s, { authorization: await vapidHeader({ expInS: 25 * 3600 }) }),
    401,
  ],
  ['an expired JWT', async (s) => post(s, { authorization: await vapidHeader({ expInS: -60 }) }), 401],
  [
    'a JWT without a mailto:/https: sub',
    async (s) => post(s, { authorization: await vapidHeader({ sub: 'ops' }) }),
    401,
  ],
  [
    'a key other than the applicationServerKey',
    async (s) => post(s, { authorization: await vapidHeader({ keys: webpush.generateVAPIDKeys() }) }),
    403,
  ],
  ['no TTL header', (s) => post(s, { headers: { ttl: '' } }), 400],
  ['a bad Urgency', (s) => post(s, { headers: { urgency: 'urgent' } }), 400],
  ['a Topic longer than 32 characters', (s) => post(s, { headers: { topic: 'a'.repeat(33) } }), 400],
  ['the old aesgcm encoding', (s) => post(s, { headers: { 'content-encoding': 'aesgcm' } }), 400],
  [
    'a body encrypted for another subscription',
    (s) => {
      const other = sandbox.subscribe()
      return post(s, {
        body: encryptAes128gcm(
          Buffer.from('x'),
          Buffer.from(other.keys.p256dh, 'base64url'),
          Buffer.from(other.keys.auth, 'base64url'),
        ),
      })
    },
    400,
  ],
  ['a body over 4096 bytes', (s) => post(s, { body: Buffer.alloc(5000, 1) }), 413],
]
for (const [what, send, status] of cases) {
  test(`refuses ${what} with ${status}`, async () => {
    const sub = sandbox.subscribe({ applicationServerKey: vapid.publicKey })
    assert.equal(await send(sub), status)
    assert.equal(
      sandbox.accepted.some((p) => p.endpoint === sub.endpoint),
      false,
    )
  })
}

test('an unknown push resource is 404, an unsubscribed one 410, injected 429 carries Retry-After', async () => {
  const sub = sandbox.subscribe()
  assert.equal(await post({ ...sub, endpoint: `${sandbox.url}/push/unknown` }), 404)
  sandbox.failSubscription(sub.endpoint, { status: 429, retryAfterS: 3, times: 1 })
  const res = await request(sub.endpoint, {
    method: 'POST',
    dispatcher: agent,
    headers: { ttl: '1', 'content-encoding': 'aes128gcm', authorization: await vapidHeader() },
    body: encryptAes128gcm(
      Buffer.from('x'),
      Buffer.from(sub.keys.p256dh, 'base64url'),
      Buffer.from(sub.keys.auth, 'base64url'),
    ),
  })
  await res.body.text()
  assert.equal(res.statusCode, 429)
  assert.equal(res.headers['retry-after'], '3')
  assert.equal(await post(sub), 201)
  sandbox.unsubscribe(sub.endpoint)
  assert.equal(await post(sub), 410)
})
