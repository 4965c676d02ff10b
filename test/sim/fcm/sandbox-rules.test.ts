import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../../src/clock.js'
import { createTestPki } from '../../../src/sim/tls.js'
import { generateAccount, postForm, postJson, signAssertion, startWorld, type FcmWorld } from './world.js'

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const TOKEN = 'dXNlcjEyMzQ1Njc4OTA6QVBBOTFiRlhZWl9hYmNkZWZnaGlqa2xtbm9w'

describe('FCM sandbox follows Google rules', () => {
  const clock = new FakeClock(Date.now())
  let w: FcmWorld
  let accessToken: string
  let sendUrl: string

  before(async () => {
    const [key, pki] = await Promise.all([generateAccount('ring-test'), createTestPki()])
    w = await startWorld(key, pki, { clock })
    sendUrl = `${w.sandbox.url}/v1/projects/ring-test/messages:send`
    const res = await postForm(w.agent, w.sandbox.tokenUri, {
      grant_type: GRANT,
      assertion: await signAssertion(w.account, clock.now()),
    })
    assert.equal(res.status, 200)
    assert.equal(res.body.token_type, 'Bearer')
    assert.equal(res.body.expires_in, 3600)
    assert.equal(typeof res.body.access_token, 'string')
    accessToken = String(res.body.access_token)
  })
  after(() => w.close())

  const validMessage = () => ({
    token: TOKEN,
    data: { action: 'ring', conversation_id: 'c-1' },
    android: { priority: 'HIGH', ttl: '30s' },
  })

  test('a data-only HIGH priority message is accepted and recorded with its name', async () => {
    const res = await postJson(w.agent, sendUrl, { message: validMessage() }, accessToken)
    assert.equal(res.status, 200)
    assert.match(String(res.body.name), /^projects\/ring-test\/messages\/.+/)
    const last = w.sandbox.accepted.at(-1)
    assert.equal(last?.name, res.body.name)
    assert.deepEqual(last?.message.data, { action: 'ring', conversation_id: 'c-1' })
  })

  test('validate_only answers without recording a message', async () => {
    const before = w.sandbox.accepted.length
    const res = await postJson(w.agent, sendUrl, { message: validMessage(), validate_only: true }, accessToken)
    assert.equal(res.status, 200)
    assert.equal(w.sandbox.accepted.length, before)
  })

  test('a fractional ttl and camelCase names are valid proto JSON', async () => {
    const res = await postJson(
      w.agent,
      sendUrl,
      { message: { token: TOKEN, android: { ttl: '3.5s', collapseKey: 'c-1' } }, validateOnly: true },
      accessToken,
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  test('a non-string data value is rejected as INVALID_ARGUMENT naming the field', async () => {
    const res = await postJson(w.agent, sendUrl, { message: { token: TOKEN, data: { a: 'x', b: 12 } } }, accessToken)
    assert.equal(res.status, 400)
    const error = res.body.error as { status: string; message: string; details: Array<Record<string, unknown>> }
    assert.equal(error.status, 'INVALID_ARGUMENT')
    assert.equal(error.message, "Invalid value at 'message.data[1].value' (TYPE_STRING), 12")
    const bad = error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest') as {
      fieldViolations: Array<{ field: string }>
    }
    assert.equal(bad.fieldViolations[0]?.field, 'message.data[1].value')
  })

  test('a priority other than HIGH or NORMAL is rejected', async () => {
    const res = await postJson(
      w.agent,
      sendUrl,
      { message: { token: TOKEN, android: { priority: 'URGENT' } } },
      accessToken,
    )
    assert.equal(res.status, 400)
    assert.match(String((res.body.error as { message: string }).message), /message\.android\.priority/)
    const lower = await postJson(
      w.agent,
      sendUrl,
      { message: { token: TOKEN, android: { priority: 'high' } } },
      accessToken,
    )
    assert.equal(lower.status, 400, 'enum names are case-sensitive in proto JSON')
  })

  test('a ttl that is not a Duration string, or longer than 4 weeks, is rejected', async () => {
    for (const ttl of ['30', 30, '1m', '2419201s']) {
      const res = await postJson(w.agent, sendUrl, { message: { token: TOKEN, android: { ttl } } }, accessToken)
      assert.equal(res.status, 400, `ttl ${JSON.stringify(ttl)}`)
    }
  })

  test('an unknown field is rejected with "Unknown name"', async () => {
    const res = await postJson(w.agent, sendUrl, { message: { token: TOKEN, priority: 'high' } }, accessToken)
    assert.equal(res.status, 400)
    assert.equal(
      (res.body.error as { message: string }).message,
      `Invalid JSON payload received. Unknown name "priority" at 'message': Cannot find field.`,
    )
  })

  test('a reserved data key, two targets, no target and oversize data are rejected with FcmError INVALID_ARGUMENT', async () => {
    const cases = [
      { token: TOKEN, data: { from: 'x' } },
      { token: TOKEN, data: { 'google.c.a': 'x' } },
      { token: TOKEN, topic: 'agents' },
      { data: { a: 'b' } },
      { token: TOKEN, data: { big: 'x'.repeat(4096) } },
    ]
    for (const message of cases) {
      const res = await postJson(w.agent, sendUrl, { message }, accessToken)
      assert.equal(res.status, 400, JSON.stringify(message).slice(0, 80))
    }
    const reserved = await postJson(w.agent, sendUrl, { message: cases[0] }, accessToken)
    const details = (reserved.body.error as { details: Array<Record<string, unknown>> }).details
    assert.ok(details.some((d) => d.errorCode === 'INVALID_ARGUMENT'))
  })

  test('a request body over 256 KB is refused with 413 by the front end, not a 500', async () => {
    const before = w.sandbox.accepted.length
    const res = await postJson(
      w.agent,
      sendUrl,
      { message: { ...validMessage(), data: { filler: 'x'.repeat(300 * 1024) } } },
      accessToken,
    )
    assert.equal(res.status, 413)
    assert.equal(w.sandbox.accepted.length, before)
    assert.equal(
      (await postJson(w.agent, sendUrl, { message: validMessage() }, accessToken)).status,
      200,
      'the sandbox keeps serving',
    )
  })

  test('sending for another project is PERMISSION_DENIED', async () => {
    const res = await postJson(
      w.agent,
      `${w.sandbox.url}/v1/projects/someone-else/messages:send`,
      { message: validMessage() },
      accessToken,
    )
    assert.equal(res.status, 403)
    assert.equal((res.body.error as { status: string }).status, 'PERMISSION_DENIED')
  })

  test('no bearer token, or an unknown one, is UNAUTHENTICATED', async () => {
    assert.equal((await postJson(w.agent, sendUrl, { message: validMessage() })).status, 401)
    const res = await postJson(w.agent, sendUrl, { message: validMessage() }, 'ya29.forged')
    assert.equal(res.status, 401)
    assert.equal((res.body.error as { status: string }).status, 'UNAUTHENTICATED')
  })

  test('an assertion whose signature does not verify is invalid_grant "Invalid JWT Signature."', async () => {
    const [header, payload, signature = ''] = (await signAssertion(w.account, clock.now())).split('.')
    const mid = Math.floor(signature.length / 2)
    const forged = signature.slice(0, mid) + (signature[mid] === 'A' ? 'B' : 'A') + signature.slice(mid + 1)
    const res = await postForm(w.agent, w.sandbox.tokenUri, {
      grant_type: GRANT,
      assertion: `${header}.${payload}.${forged}`,
    })
    assert.equal(res.status, 400)
    assert.deepEqual(res.body, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' })
  })

  test('assertions with a long lifetime, a wrong audience, no FCM scope or a wrong grant type are refused', async () => {
    const now = clock.now()
    const iat = Math.floor(now / 1000)
    const bad = [
      await signAssertion(w.account, now, { exp: iat + 3601 }),
      await signAssertion(w.account, now, { iat: iat - 7200, exp: iat - 3600 }),
      await signAssertion(w.account, now, { aud: 'https://oauth2.googleapis.com/token' }),
      await signAssertion(w.account, now, { iss: 'nobody@ring-test.iam.gserviceaccount.com' }),
    ]
    for (const assertion of bad) {
      const res = await postForm(w.agent, w.sandbox.tokenUri, { grant_type: GRANT, assertion })
      assert.equal(res.status, 400)
      assert.equal(res.body.error, 'invalid_grant')
    }
    const scope = await postForm(w.agent, w.sandbox.tokenUri, {
      grant_type: GRANT,
      assertion: await signAssertion(w.account, now, {
        scope: 'https://www.googleapis.com/auth/cloud-platform.read-only',
      }),
    })
    assert.equal(scope.body.error, 'invalid_scope')
    const grant = await postForm(w.agent, w.sandbox.tokenUri, {
      grant_type: 'client_credentials',
      assertion: bad[0] ?? '',
    })
    assert.equal(grant.body.error, 'unsupported_grant_type')
  })

  test('failToken and failNext answer in FCM format, with Retry-After when told', async () => {
    w.sandbox.failToken('dead-token-000000000', { status: 404, errorCode: 'UNREGISTERED' })
    const dead = await postJson(w.agent, sendUrl, { message: { token: 'dead-token-000000000' } }, accessToken)
    assert.equal(dead.status, 404)
    assert.deepEqual(dead.body.error, {
      code: 404,
      message: 'Requested entity was not found.',
      status: 'NOT_FOUND',
      details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }],
    })
    w.sandbox.failNext(1, { status: 503, errorCode: 'UNAVAILABLE', retryAfterS: 7 })
    const busy = await postJson(w.agent, sendUrl, { message: validMessage() }, accessToken)
    assert.equal(busy.status, 503)
    assert.equal(busy.headers['retry-after'], '7')
    assert.equal((await postJson(w.agent, sendUrl, { message: validMessage() }, accessToken)).status, 200)
    assert.equal(w.sandbox.rejected.at(-1)?.errorCode, 'UNAVAILABLE')
  })

  // Last: moves the fake clock past the access token's lifetime.
  test('an expired access token is UNAUTHENTICATED with ACCESS_TOKEN_EXPIRED', async () => {
    clock.advance(3600_000 + 1)
    const res = await postJson(w.agent, sendUrl, { message: validMessage() }, accessToken)
    assert.equal(res.status, 401)
    const error = res.body.error as { status: string; details: Array<{ reason?: string }> }
    assert.equal(error.status, 'UNAUTHENTICATED')
    assert.equal(error.details[0]?.reason, 'ACCESS_TOKEN_EXPIRED')
  })
})
