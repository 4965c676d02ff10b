// The sandbox must reject what Apple rejects, with Apple's status and reason, over real HTTP/2 + TLS.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2'
import { SignJWT, importPKCS8 } from 'jose'
import { FakeClock } from '../../../src/clock.js'
import { createTestPki, type TestPki } from '../../../src/sim/tls.js'
import {
  generateApnsKey,
  startApnsSandbox,
  type ApnsKeyMaterial,
  type ApnsSandbox,
} from '../../../src/sim/apns/index.js'

const BUNDLE = 'com.example.agent'
const TOKEN = 'ab'.repeat(32)

async function providerToken(key: ApnsKeyMaterial, iatMs: number, signingPem = key.privateKeyPem): Promise<string> {
  return new SignJWT({ iss: key.teamId, iat: Math.floor(iatMs / 1000) })
    .setProtectedHeader({ alg: 'ES256', kid: key.keyId })
    .sign(await importPKCS8(signingPem, 'ES256'))
}

interface Answer {
  status: number
  reason?: string
  timestamp?: number
  apnsId?: string
}

function post(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === '' })
    let status = 0
    let apnsId: string | undefined
    let data = ''
    req.on('response', (h) => {
      status = Number(h[':status'])
      apnsId = typeof h['apns-id'] === 'string' ? h['apns-id'] : undefined
    })
    req.setEncoding('utf8')
    req.on('data', (c: string) => (data += c))
    req.on('end', () => {
      const parsed = data ? (JSON.parse(data) as { reason?: string; timestamp?: number }) : {}
      resolve({ status, apnsId, ...parsed })
    })
    req.on('error', reject)
    if (body !== '') req.end(body)
  })
}

describe('APNs sandbox rejects what Apple rejects', () => {
  let pki: TestPki
  let key: ApnsKeyMaterial
  let clock: FakeClock
  let sandbox: ApnsSandbox
  let session: ClientHttp2Session
  let jwt: string

  const alert = JSON.stringify({ aps: { alert: { title: 'Incoming chat' } } })
  const headers = (over: Record<string, string | undefined> = {}, token = TOKEN): OutgoingHttpHeaders => {
    const h: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/3/device/${token}`,
      authorization: `bearer ${jwt}`,
      'apns-topic': BUNDLE,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-expiration': '0',
    }
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete h[k]
      else h[k] = v
    }
    return h
  }

  before(async () => {
    pki = await createTestPki()
    key = await generateApnsKey()
    clock = new FakeClock()
    sandbox = await startApnsSandbox({ tls: pki, keys: [key], topics: [BUNDLE], clock })
    session = http2.connect(sandbox.url, { ca: pki.caCert })
    jwt = await providerToken(key, clock.now())
  })
  after(async () => {
    session.close()
    await sandbox.close()
  })

  test('accepts a well-formed alert push and records it with an apns-id', async () => {
    const a = await post(session, headers(), alert)
    assert.equal(a.status, 200)
    assert.ok(a.apnsId)
    const last = sandbox.accepted.at(-1)
    assert.equal(last?.token, TOKEN)
    assert.equal(last?.apnsId, a.apnsId)
    assert.equal(last?.headers['apns-push-type'], 'alert')
  })

  const cases: Array<[string, () => [OutgoingHttpHeaders, string], number, string]> = [
    ['non-hex token', () => [headers({}, 'zz'.repeat(32)), alert], 400, 'BadDeviceToken'],
    ['short token', () => [headers({}, 'ab'.repeat(8)), alert], 400, 'BadDeviceToken'],
    ['missing authorization', () => [headers({ authorization: undefined }), alert], 403, 'MissingProviderToken'],
    ['missing topic', () => [headers({ 'apns-topic': undefined }), alert], 400, 'MissingTopic'],
    ['topic of another app', () => [headers({ 'apns-topic': 'com.other.app' }), alert], 400, 'TopicDisallowed'],
    [
      'voip push without the .voip topic',
      () => [headers({ 'apns-push-type': 'voip' }), alert],
      400,
      'DeviceTokenNotForTopic',
    ],
    [
      'alert push to the .voip topic',
      () => [headers({ 'apns-topic': `${BUNDLE}.voip` }), alert],
      400,
      'DeviceTokenNotForTopic',
    ],
    ['missing push type', () => [headers({ 'apns-push-type': undefined }), alert], 400, 'InvalidPushType'],
    ['unknown push type', () => [headers({ 'apns-push-type': 'ring' }), alert], 400, 'InvalidPushType'],
    ['priority 7', () => [headers({ 'apns-priority': '7' }), alert], 400, 'BadPriority'],
    [
      'background at priority 10',
      () => [headers({ 'apns-push-type': 'background' }), '{"aps":{"content-available":1}}'],
      400,
      'BadPriority',
    ],
    [
      'background with an alert',
      () => [headers({ 'apns-push-type': 'background', 'apns-priority': '5' }), alert],
      400,
      'InvalidPushType',
    ],
    ['expiration not a number', () => [headers({ 'apns-expiration': 'soon' }), alert], 400, 'BadExpirationDate'],
    ['collapse id of 65 bytes', () => [headers({ 'apns-collapse-id': 'c'.repeat(65) }), alert], 400, 'BadCollapseId'],
    ['empty body', () => [headers(), ''], 400, 'PayloadEmpty'],
    ['alert payload of 4097 bytes', () => [headers(), padded(4097)], 413, 'PayloadTooLarge'],
    [
      'voip payload of 5121 bytes',
      () => [headers({ 'apns-push-type': 'voip', 'apns-topic': `${BUNDLE}.voip` }), padded(5121)],
      413,
      'PayloadTooLarge',
    ],
    ['GET', () => [headers({ ':method': 'GET' }), ''], 405, 'MethodNotAllowed'],
    ['a path other than /3/device/', () => [headers({ ':path': `/2/device/${TOKEN}` }), alert], 404, 'BadPath'],
  ]
  for (const [name, make, status, reason] of cases) {
    test(`${name} → ${status} ${reason}`, async () => {
      const [h, body] = make()
      const a = await post(session, h, body)
      assert.deepEqual({ status: a.status, reason: a.reason }, { status, reason })
      assert.equal(sandbox.rejected.at(-1)?.reason, reason)
    })
  }

  test('payloads at the limits are accepted: 4096 bytes alert, 5120 bytes voip', async () => {
    assert.equal((await post(session, headers(), padded(4096))).status, 200)
    const voip = headers({ 'apns-push-type': 'voip', 'apns-topic': `${BUNDLE}.voip` })
    assert.equal((await post(session, voip, padded(5120))).status, 200)
  })

  test('a token signed by another key is InvalidProviderToken', async () => {
    const other = await generateApnsKey()
    const forged = await providerToken(key, clock.now(), other.privateKeyPem)
    const a = await post(session, headers({ authorization: `bearer ${forged}` }), alert)
    assert.deepEqual([a.status, a.reason], [403, 'InvalidProviderToken'])
  })

  test('a token with an unknown kid is InvalidProviderToken', async () => {
    const other = await generateApnsKey()
    const a = await post(
      session,
      headers({ authorization: `bearer ${await providerToken(other, clock.now())}` }),
      alert,
    )
    assert.deepEqual([a.status, a.reason], [403, 'InvalidProviderToken'])
  })

  test('a token issued more than an hour ago is ExpiredProviderToken', async () => {
    const old = await providerToken(key, clock.now() - 61 * 60_000)
    const a = await post(session, headers({ authorization: `bearer ${old}` }), alert)
    assert.deepEqual([a.status, a.reason], [403, 'ExpiredProviderToken'])
  })

  test('a new token less than 20 minutes after the last on a connection is TooManyProviderTokenUpdates', async () => {
    const fresh = http2.connect(sandbox.url, { ca: pki.caCert })
    try {
      const first = await providerToken(key, clock.now())
      assert.equal((await post(fresh, headers({ authorization: `bearer ${first}` }), alert)).status, 200)
      const tooSoon = await providerToken(key, clock.now() + 5 * 60_000)
      const a = await post(fresh, headers({ authorization: `bearer ${tooSoon}` }), alert)
      assert.deepEqual([a.status, a.reason], [429, 'TooManyProviderTokenUpdates'])
      const later = await providerToken(key, clock.now() + 21 * 60_000)
      clock.advance(21 * 60_000)
      assert.equal((await post(fresh, headers({ authorization: `bearer ${later}` }), alert)).status, 200)
    } finally {
      fresh.close()
      clock.advance(-21 * 60_000)
    }
  })

  test('failToken answers 410 Unregistered with the timestamp in ms', async () => {
    const dead = 'cd'.repeat(32)
    sandbox.failToken(dead, { status: 410, reason: 'Unregistered', timestamp: 1_700_000_000_000 })
    const a = await post(session, headers({}, dead), alert)
    assert.deepEqual([a.status, a.reason, a.timestamp], [410, 'Unregistered', 1_700_000_000_000])
  })

  test('an HTTP/1.1-only client is not served', async () => {
    const before = sandbox.accepted.length
    const { request } = await import('node:https')
    const outcome = await new Promise<string>((resolve) => {
      const req = request(`${sandbox.url}/3/device/${TOKEN}`, { method: 'POST', ca: pki.caCert }, (res) =>
        resolve(`status ${res.statusCode}`),
      )
      req.on('error', (err) => resolve(`error ${err.message}`))
      req.end(alert)
    })
    // Node answers a failed ALPN with 403 or a dropped connection; either way no push is taken.
    assert.match(outcome, /^(error|status 403)/)
    assert.equal(sandbox.accepted.length, before)
  })
})

function padded(bytes: number): string {
  const base = JSON.stringify({ aps: { alert: 'x' }, pad: '' })
  return JSON.stringify({ aps: { alert: 'x' }, pad: 'p'.repeat(bytes - base.length) })
}
