import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { createLogger } from '../../src/observability/logger.js'
import { classifyFcmAnswer, createFcmProvider } from '../../src/providers/fcm.js'
import type { FcmSend, PushProvider } from '../../src/providers/provider.js'
import { createTestPki } from '../../src/sim/tls.js'
import { generateAccount, startWorld, type FcmWorld } from '../sim/fcm/world.js'

const TOKEN = 'fcm-token-0123456789abcdefghijklmnopqrstuvwxyz'

function ring(token: string): FcmSend {
  return { provider: 'fcm', message: { token, data: { action: 'ring' }, android: { priority: 'HIGH', ttl: '30s' } } }
}

describe('FCM answers are classified per "FCM error codes"', () => {
  let w: FcmWorld
  let fcm: PushProvider<FcmSend>
  const logLines: string[] = []

  before(async () => {
    const [key, pki] = await Promise.all([generateAccount('ring-test'), createTestPki()])
    w = await startWorld(key, pki)
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString())
        cb()
      },
    })
    fcm = createFcmProvider({
      serviceAccount: w.account,
      url: w.sandbox.url,
      ca: pki.caCert,
      logger: createLogger({ level: 'debug' }, sink),
    })
  })
  after(async () => {
    await fcm.close()
    await w.close()
  })

  const cases: Array<{
    name: string
    fail: Parameters<FcmWorld['sandbox']['failToken']>[1]
    expect: Record<string, unknown>
  }> = [
    {
      name: '404 UNREGISTERED deletes the token',
      fail: { status: 404, errorCode: 'UNREGISTERED' },
      expect: { kind: 'invalid-token', status: 404 },
    },
    {
      name: '400 INVALID_ARGUMENT about the token deletes it',
      fail: { status: 400, errorCode: 'INVALID_ARGUMENT' },
      expect: { kind: 'invalid-token', status: 400 },
    },
    {
      name: '403 SENDER_ID_MISMATCH deletes the token',
      fail: { status: 403, errorCode: 'SENDER_ID_MISMATCH' },
      expect: { kind: 'invalid-token', status: 403 },
    },
    {
      name: '401 THIRD_PARTY_AUTH_ERROR is a configuration failure that keeps the token',
      fail: { status: 401, errorCode: 'THIRD_PARTY_AUTH_ERROR' },
      expect: { kind: 'failed', status: 401, config: true },
    },
    {
      name: '429 QUOTA_EXCEEDED without Retry-After backs off a minute',
      fail: { status: 429, errorCode: 'QUOTA_EXCEEDED' },
      expect: { kind: 'retry', status: 429, retryAfterMs: 60_000 },
    },
    {
      name: '429 QUOTA_EXCEEDED honours Retry-After',
      fail: { status: 429, errorCode: 'QUOTA_EXCEEDED', retryAfterS: 120 },
      expect: { kind: 'retry', status: 429, retryAfterMs: 120_000 },
    },
    {
      name: '503 UNAVAILABLE honours Retry-After',
      fail: { status: 503, errorCode: 'UNAVAILABLE', retryAfterS: 7 },
      expect: { kind: 'retry', status: 503, retryAfterMs: 7_000 },
    },
    {
      name: '500 INTERNAL is worth a retry',
      fail: { status: 500, errorCode: 'INTERNAL' },
      expect: { kind: 'retry', status: 500 },
    },
  ]
  for (const [i, c] of cases.entries()) {
    test(c.name, async () => {
      const token = `${TOKEN}-${i}`
      w.sandbox.failToken(token, { ...c.fail, times: 1 })
      const result = await fcm.send(ring(token))
      for (const [k, v] of Object.entries(c.expect))
        assert.equal((result as Record<string, unknown>)[k], v, `${k} in ${JSON.stringify(result)}`)
      if (c.expect.kind === 'retry' && c.expect.retryAfterMs === undefined)
        assert.equal('retryAfterMs' in result, false)
      assert.equal((await fcm.send(ring(token))).kind, 'delivered', 'the failure was injected once')
    })
  }

  test('400 INVALID_ARGUMENT about our payload fails without touching the token', async () => {
    const bad = { provider: 'fcm', message: { token: TOKEN, data: { n: 1 } } } as unknown as FcmSend
    const result = await fcm.send(bad)
    assert.equal(result.kind, 'failed', JSON.stringify(result))
    const unknown = { provider: 'fcm', message: { token: TOKEN, android: { priority: 'high' } } } as unknown as FcmSend
    assert.equal((await fcm.send(unknown)).kind, 'failed')
  })

  test('403 PERMISSION_DENIED for a project the key may not send for is a configuration failure', async () => {
    const other = createFcmProvider({
      serviceAccount: { ...w.account, project_id: 'not-mine' },
      url: w.sandbox.url,
      ca: w.pki.caCert,
      logger: createLogger({ level: 'silent' }),
    })
    try {
      const result = await other.send(ring(TOKEN))
      assert.deepEqual(
        { kind: result.kind, config: result.kind === 'failed' && result.config },
        { kind: 'failed', config: true },
      )
    } finally {
      await other.close()
    }
  })

  test('an unreachable FCM is worth a retry', async () => {
    const gone = createFcmProvider({
      serviceAccount: w.account,
      url: 'https://127.0.0.1:9',
      ca: w.pki.caCert,
      logger: createLogger({ level: 'silent' }),
    })
    try {
      assert.equal((await gone.send(ring(TOKEN))).kind, 'retry')
    } finally {
      await gone.close()
    }
  })

  // The provider logs its own work (access tokens, connections); a failed push is logged by the
  // dispatcher (test/observability/push-failure-logs.test.ts).
  test('the provider logs never carry the device token, an access token or the private key', () => {
    const logs = logLines.join('')
    assert.match(logs, /google access token obtained/, 'the provider did log')
    assert.doesNotMatch(logs, new RegExp(TOKEN))
    assert.doesNotMatch(logs, /ya29\./)
    assert.doesNotMatch(logs, /PRIVATE KEY/)
  })

  test("Google's documented error bodies classify as the table says", () => {
    const payload = {
      error: {
        code: 400,
        message: "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: [
              {
                field: 'message.data[0].value',
                description: "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
              },
            ],
          },
        ],
      },
    }
    const badToken = {
      error: {
        code: 400,
        message: 'The registration token is not a valid FCM registration token',
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'INVALID_ARGUMENT' }],
      },
    }
    const unregistered = {
      error: {
        code: 404,
        message: 'Requested entity was not found.',
        status: 'NOT_FOUND',
        details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }],
      },
    }
    assert.equal((classifyFcmAnswer(400, payload, undefined) as { kind: string }).kind, 'failed')
    assert.equal((classifyFcmAnswer(400, badToken, undefined) as { kind: string }).kind, 'invalid-token')
    assert.equal((classifyFcmAnswer(404, unregistered, undefined) as { kind: string }).kind, 'invalid-token')
    assert.equal(
      classifyFcmAnswer(
        401,
        { error: { code: 401, status: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' } },
        undefined,
      ),
      'reauth',
    )
    assert.deepEqual(classifyFcmAnswer(502, '<html>bad gateway</html>', undefined), {
      kind: 'retry',
      reason: 'HTTP 502',
      status: 502,
    })
  })
})
