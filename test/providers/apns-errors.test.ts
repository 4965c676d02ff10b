// The classification table on answers the sandbox does not produce by itself.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { classifyApnsAnswer } from '../../src/providers/apns-errors.js'

const NOW = Date.UTC(2026, 0, 1)
const answer = (status: number, body: object | string = '', retryAfter?: string) => ({
  status,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  ...(retryAfter !== undefined ? { retryAfter } : {}),
})

test('an unknown 4xx reason fails without retry; an unknown 5xx retries', () => {
  assert.equal(classifyApnsAnswer(answer(400, { reason: 'SomethingNew' }), NOW).kind, 'failed')
  assert.equal(classifyApnsAnswer(answer(502, 'bad gateway'), NOW).kind, 'retry')
})

test('a 403 with no body is still a configuration error', () => {
  assert.deepEqual(classifyApnsAnswer(answer(403), NOW), {
    kind: 'failed',
    reason: '403 no reason: authentication error',
    status: 403,
    config: true,
  })
})

test('410 with no parsable body is still an invalid token', () => {
  const r = classifyApnsAnswer(answer(410, 'garbage'), NOW)
  assert.equal(r.kind, 'invalid-token')
})

test('TooManyProviderTokenUpdates and IdleTimeout retry', () => {
  assert.equal(classifyApnsAnswer(answer(429, { reason: 'TooManyProviderTokenUpdates' }), NOW).kind, 'retry')
  assert.equal(classifyApnsAnswer(answer(400, { reason: 'IdleTimeout' }), NOW).kind, 'retry')
})

test("APNs's Retry-After is the wait a retry carries", () => {
  const wait = (retryAfter?: string) => {
    const r = classifyApnsAnswer(answer(503, { reason: 'ServiceUnavailable' }, retryAfter), NOW)
    return r.kind === 'retry' ? r.retryAfterMs : 'not a retry'
  }
  assert.equal(wait('120'), 120_000)
  assert.equal(wait(new Date(NOW + 5000).toUTCString()), 5000)
  assert.equal(wait('soon'), undefined)
  assert.equal(wait(undefined), undefined)
})
