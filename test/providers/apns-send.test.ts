// The APNs provider against the sandbox over real HTTP/2 + TLS: what it sends and how it reads
// every kind of answer.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ApnsMessage, PushProvider, SendResult } from '../../src/providers/provider.js'
import { generateApnsKey } from '../../src/sim/apns/index.js'
import { alertMessage, apnsWorld, BUNDLE, voipMessage, type ApnsWorld } from '../sim/apns/world.js'

describe('APNs provider sends what Apple expects', () => {
  let world: ApnsWorld
  let apns: PushProvider<ApnsMessage>
  before(async () => {
    world = await apnsWorld()
    apns = world.provider()
  })
  after(() => world.close())

  test('a VoIP ring goes to <bundle>.voip with push type voip and is delivered', async () => {
    const msg = voipMessage({ expiration: 1_767_225_630, collapseId: 'conv-1' })
    const result = await apns.send(msg)
    assert.equal(result.kind, 'delivered')
    const seen = world.sandbox.accepted.find((p) => p.token === msg.token)
    assert.ok(seen, 'sandbox recorded the push')
    assert.equal(result.kind === 'delivered' && result.providerId, seen.apnsId)
    assert.equal(seen.headers['apns-topic'], `${BUNDLE}.voip`)
    assert.equal(seen.headers['apns-push-type'], 'voip')
    assert.equal(seen.headers['apns-priority'], '10')
    assert.equal(seen.headers['apns-expiration'], '1767225630')
    assert.equal(seen.headers['apns-collapse-id'], 'conv-1')
    assert.match(seen.headers.authorization ?? '', /^bearer [\w-]+\.[\w-]+\.[\w-]+$/)
    assert.deepEqual(seen.payload, msg.payload)
  })

  test('an alert goes to the bundle id, without a collapse id header when none is given', async () => {
    const msg = alertMessage()
    assert.equal((await apns.send(msg)).kind, 'delivered')
    const seen = world.sandbox.accepted.find((p) => p.token === msg.token)
    assert.equal(seen?.headers['apns-topic'], BUNDLE)
    assert.equal(seen?.headers['apns-push-type'], 'alert')
    assert.equal(seen?.headers['apns-collapse-id'], undefined)
  })

  const failures: Array<
    [
      string,
      { status: number; reason: string; timestamp?: number; retryAfterS?: number },
      Partial<SendResult> & { kind: SendResult['kind'] },
    ]
  > = [
    [
      '410 Unregistered → invalid-token with its timestamp',
      { status: 410, reason: 'Unregistered', timestamp: 1_766_000_000_000 },
      { kind: 'invalid-token', status: 410, timestamp: 1_766_000_000_000 },
    ],
    [
      '410 ExpiredToken → invalid-token',
      { status: 410, reason: 'ExpiredToken', timestamp: 1_766_000_000_001 },
      { kind: 'invalid-token', timestamp: 1_766_000_000_001 },
    ],
    [
      '400 BadDeviceToken → invalid-token',
      { status: 400, reason: 'BadDeviceToken' },
      { kind: 'invalid-token', status: 400 },
    ],
    [
      '400 DeviceTokenNotForTopic → invalid-token',
      { status: 400, reason: 'DeviceTokenNotForTopic' },
      { kind: 'invalid-token', status: 400 },
    ],
    [
      '400 TopicDisallowed → failed config',
      { status: 400, reason: 'TopicDisallowed' },
      { kind: 'failed', config: true },
    ],
    [
      '403 InvalidProviderToken → failed config',
      { status: 403, reason: 'InvalidProviderToken' },
      { kind: 'failed', config: true },
    ],
    [
      '429 TooManyRequests → retry after Retry-After',
      { status: 429, reason: 'TooManyRequests', retryAfterS: 30 },
      { kind: 'retry', status: 429, retryAfterMs: 30_000 },
    ],
    ['500 InternalServerError → retry', { status: 500, reason: 'InternalServerError' }, { kind: 'retry', status: 500 }],
    [
      '503 ServiceUnavailable → retry',
      { status: 503, reason: 'ServiceUnavailable', retryAfterS: 2 },
      { kind: 'retry', retryAfterMs: 2000 },
    ],
    ['400 BadPriority → failed, not config', { status: 400, reason: 'BadPriority' }, { kind: 'failed', status: 400 }],
  ]
  for (const [name, failure, expected] of failures) {
    test(name, async () => {
      const msg = alertMessage()
      world.sandbox.failToken(msg.token, failure)
      const result = await apns.send(msg)
      assert.deepEqual(pick(result, Object.keys(expected)), expected)
      assert.match(result.kind !== 'delivered' ? result.reason : '', new RegExp(failure.reason))
    })
  }

  test('BadDeviceToken tells the dispatcher to check sandbox vs production', async () => {
    const msg = alertMessage()
    world.sandbox.failToken(msg.token, { status: 400, reason: 'BadDeviceToken' })
    const result = await apns.send(msg)
    assert.match(result.kind === 'invalid-token' ? result.reason : '', /sandbox vs production/)
  })

  test('a provider with a key APNs does not know gets failed config (403 InvalidProviderToken from the sandbox)', async () => {
    const stranger = await generateApnsKey()
    const wrong = world.provider({ key: stranger })
    const result = await wrong.send(alertMessage())
    assert.deepEqual(pick(result, ['kind', 'status', 'config']), { kind: 'failed', status: 403, config: true })
  })

  test('a header value that would split the request (CR LF in a collapse id) fails without a request; the process and the connection carry on', async () => {
    // A conversation id is copied into apns-collapse-id; a hostile event could carry CR LF in it.
    const quick = world.provider({ requestTimeoutMs: 200 })
    const before = world.sandbox.accepted.length + world.sandbox.rejected.length
    const result = await quick.send(alertMessage({ collapseId: 'conv\r\nx-injected: 1' }))
    assert.equal(result.kind, 'failed')
    assert.match(result.kind === 'failed' ? result.reason : '', /forbidden character/)
    // Past the request timeout: nothing left behind fires (it used to throw from a timer).
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(world.sandbox.accepted.length + world.sandbox.rejected.length, before, 'nothing reached the sandbox')
    assert.equal((await quick.send(alertMessage())).kind, 'delivered')
    await quick.close()
  })

  test('an alert payload over 4096 bytes fails without a request', async () => {
    const before = world.sandbox.accepted.length + world.sandbox.rejected.length
    const result = await apns.send(alertMessage({ payload: { aps: { alert: 'x' }, pad: 'p'.repeat(4100) } }))
    assert.equal(result.kind, 'failed')
    assert.match(result.kind === 'failed' ? result.reason : '', /4096/)
    assert.equal(world.sandbox.accepted.length + world.sandbox.rejected.length, before)
  })

  test('the limit counts UTF-8 bytes: 2,100 two-byte characters are over 4096 bytes', async () => {
    const before = world.sandbox.accepted.length + world.sandbox.rejected.length
    const result = await apns.send(alertMessage({ payload: { aps: { alert: 'x' }, pad: 'é'.repeat(2100) } }))
    assert.equal(result.kind, 'failed')
    assert.match(result.kind === 'failed' ? result.reason : '', /4096/)
    assert.equal(world.sandbox.accepted.length + world.sandbox.rejected.length, before)
  })

  test('a VoIP payload may use up to 5120 bytes but not more', async () => {
    const base = JSON.stringify({ aps: {}, pad: '' }).length
    assert.equal(
      (await apns.send(voipMessage({ payload: { aps: {}, pad: 'p'.repeat(5120 - base) } }))).kind,
      'delivered',
    )
    assert.equal((await apns.send(voipMessage({ payload: { aps: {}, pad: 'p'.repeat(5121 - base) } }))).kind, 'failed')
  })

  test('a collapse id over 64 bytes fails without a request', async () => {
    const before = world.sandbox.accepted.length + world.sandbox.rejected.length
    const result = await apns.send(alertMessage({ collapseId: 'é'.repeat(33) }))
    assert.equal(result.kind, 'failed')
    assert.equal(world.sandbox.accepted.length + world.sandbox.rejected.length, before)
  })

  test('a token that is not hex is invalid without a request', async () => {
    const result = await apns.send(alertMessage({ token: '../../admin' }))
    assert.equal(result.kind, 'invalid-token')
  })

  test('an AbortSignal cancels a stalled request', async () => {
    world.sandbox.stall(2000)
    const started = performance.now()
    const result = await apns.send(alertMessage(), AbortSignal.timeout(100))
    world.sandbox.stall(0)
    assert.equal(result.kind, 'retry')
    assert.match(result.kind === 'retry' ? result.reason : '', /abort/)
    assert.ok(performance.now() - started < 1000)
  })

  test('no answer within requestTimeoutMs is a retry', async () => {
    const impatient = world.provider({ requestTimeoutMs: 150 })
    world.sandbox.stall(2000)
    const result = await impatient.send(alertMessage())
    world.sandbox.stall(0)
    assert.equal(result.kind, 'retry')
    assert.match(result.kind === 'retry' ? result.reason : '', /150 ms/)
  })
})

function pick(o: object, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of keys) out[k] = (o as Record<string, unknown>)[k]
  return out
}
