import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import { silentLogger } from '../../src/observability/logger.js'
import { createFcmProvider } from '../../src/providers/fcm.js'
import type { FcmSend } from '../../src/providers/provider.js'
import { createTestPki, type TestPki } from '../../src/sim/tls.js'
import type { ServiceAccountJson } from '../../src/sim/fcm/index.js'
import { generateAccount, startWorld, type FcmWorld } from '../sim/fcm/world.js'

const TOKEN = 'fcm-token-0123456789abcdefghijklmnopqrstuvwxyz'

function ring(token = TOKEN, conversationId = 'c-1'): FcmSend {
  return {
    provider: 'fcm',
    message: {
      token,
      data: { action: 'ring', genesys_conversation_id: conversationId, media_type: 'voice' },
      android: { priority: 'HIGH', ttl: '30s', collapse_key: conversationId },
    },
  }
}

describe('FCM provider sends through the sandbox', () => {
  let key: { json: ServiceAccountJson; publicKeyPem: string }
  let pki: TestPki
  before(async () => {
    ;[key, pki] = await Promise.all([generateAccount('ring-test'), createTestPki()])
  })

  async function world(
    t: { after: (fn: () => Promise<void>) => void },
    opts: Parameters<typeof startWorld>[2] = {},
  ): Promise<FcmWorld> {
    const w = await startWorld(key, pki, opts)
    t.after(() => w.close())
    return w
  }

  test('a data-only HIGH priority ring is accepted by FCM and reported delivered with its name', async (t) => {
    const w = await world(t)
    const fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      logger: silentLogger(),
    })
    t.after(() => fcm.close())
    const result = await fcm.send(ring())
    assert.equal(result.kind, 'delivered')
    const accepted = w.sandbox.accepted[0]
    assert.ok(accepted)
    assert.equal(result.kind === 'delivered' && result.providerId, accepted.name)
    assert.deepEqual(accepted.message.android, { priority: 'HIGH', ttl: '30s', collapse_key: 'c-1' })
    assert.equal(accepted.message.token, TOKEN)
  })

  test('500 concurrent sends share one access token; it is renewed five minutes before expiry', async (t) => {
    const clock = new FakeClock(Date.now())
    const w = await world(t, { clock })
    const fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      clock,
      logger: silentLogger(),
    })
    t.after(() => fcm.close())
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => fcm.send(ring(`${TOKEN}-${i}`, `c-${i}`))))
    assert.equal(results.filter((r) => r.kind === 'delivered').length, 500)
    assert.equal(w.sandbox.tokensIssued, 1)

    clock.advance(54 * 60_000)
    assert.equal((await fcm.send(ring())).kind, 'delivered')
    assert.equal(w.sandbox.tokensIssued, 1, 'still six minutes left: no renewal yet')
    clock.advance(2 * 60_000)
    assert.equal((await fcm.send(ring())).kind, 'delivered')
    assert.equal(w.sandbox.tokensIssued, 2, 'four minutes left: renewed')
    clock.advance(61 * 60_000)
    assert.equal((await fcm.send(ring())).kind, 'delivered')
    assert.equal(w.sandbox.tokensIssued, 3, 'expired: renewed')
  })

  test('a 401 for a revoked access token gets a new token and the send goes through once more', async (t) => {
    const w = await world(t)
    const fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      logger: silentLogger(),
    })
    t.after(() => fcm.close())
    assert.equal((await fcm.send(ring())).kind, 'delivered')
    w.sandbox.revokeAccessTokens()
    const result = await fcm.send(ring())
    assert.equal(result.kind, 'delivered')
    assert.equal(w.sandbox.tokensIssued, 2)
    assert.equal(w.sandbox.rejected.at(-1)?.status, 401)
    assert.equal(w.sandbox.accepted.length, 2)
  })

  test('401 UNAUTHENTICATED again after a renewal is a configuration failure that keeps the token', async (t) => {
    const w = await world(t)
    const fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      logger: silentLogger(),
    })
    t.after(() => fcm.close())
    w.sandbox.failNext(2, { status: 401, errorCode: 'UNAUTHENTICATED' })
    const result = await fcm.send(ring())
    assert.equal(result.kind, 'failed')
    assert.equal(result.kind === 'failed' && result.config, true)
    assert.equal(w.sandbox.tokensIssued, 2, 'one renewal, one retry, then stop')
  })

  test('a key Google refuses fails as configuration, and the token endpoint is not asked again for 30 s', async (t) => {
    const clock = new FakeClock(Date.now())
    const w = await world(t, { clock })
    const stranger = { ...w.account, client_email: 'revoked@ring-test.iam.gserviceaccount.com' }
    const fcm = createFcmProvider({
      serviceAccount: stranger,
      url: w.sandbox.url,
      ca: pki.caCert,
      clock,
      logger: silentLogger(),
    })
    t.after(() => fcm.close())
    const first = await fcm.send(ring())
    assert.deepEqual([first.kind, first.kind === 'failed' && first.config], ['failed', true])
    assert.match(first.kind === 'failed' ? first.reason : '', /invalid_grant/)
    assert.equal((await fcm.send(ring())).kind, 'failed')
    assert.equal(w.sandbox.tokenRequests, 1)
    clock.advance(30_001)
    await fcm.send(ring())
    assert.equal(w.sandbox.tokenRequests, 2)
  })

  test('sends multiplex over one HTTP/2 connection instead of waiting for each other', async (t) => {
    const w = await world(t, { responseDelayMs: 200 })
    const fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      logger: silentLogger(),
      sessions: 1,
    })
    t.after(() => fcm.close())
    await fcm.send(ring())
    const started = Date.now()
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => fcm.send(ring(`${TOKEN}-${i}`))))
    assert.equal(results.filter((r) => r.kind === 'delivered').length, 50)
    assert.ok(Date.now() - started < 2_000, `50 sends at 200 ms each took ${Date.now() - started} ms: not multiplexed`)
  })

  test('an aborted signal stops the request in flight and a pre-aborted one sends nothing', async (t) => {
    const w = await world(t, { responseDelayMs: 5_000 })
    const fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      logger: silentLogger(),
    })
    t.after(() => fcm.close())
    const started = Date.now()
    const result = await fcm.send(ring(), AbortSignal.timeout(100))
    assert.ok(Date.now() - started < 2_000, 'returned well before the sandbox answered')
    // The same answer as the APNs and Web Push providers: the dispatcher ends it as 'expired'.
    assert.equal(result.kind, 'retry')
    assert.match(result.kind === 'retry' ? result.reason : '', /aborted by the caller \(deadline\)/)

    const controller = new AbortController()
    controller.abort()
    const before = w.sandbox.tokensIssued
    assert.equal((await fcm.send(ring(), controller.signal)).kind, 'retry')
    assert.equal(w.sandbox.tokensIssued, before)
    assert.equal(w.sandbox.accepted.length, 0)
  })

  test('no answer within requestTimeoutMs is worth a retry', async (t) => {
    const w = await world(t, { responseDelayMs: 5_000 })
    const fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      logger: silentLogger(),
      requestTimeoutMs: 150,
    })
    t.after(() => fcm.close())
    const result = await fcm.send(ring())
    assert.equal(result.kind, 'retry', JSON.stringify(result))
  })
})
