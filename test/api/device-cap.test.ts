// Which devices the cap removes: phones (tokens sharing a deviceId) counted once, tokens without
// a deviceId as phones of their own, the phone just registered never, a phone's oldest tokens first.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { devicesPastCap, TOKENS_PER_PHONE } from '../../src/api/device-cap.js'
import type { Device } from '../../src/model.js'

const ios = (token: string, registeredAt: number, deviceId?: string): Device => ({
  userId: 'agent-1',
  platform: 'ios',
  token,
  pushType: token.startsWith('voip') ? 'voip' : 'alert',
  environment: 'sandbox',
  registeredAt,
  ...(deviceId !== undefined ? { deviceId } : {}),
})
const evicted = (devices: Device[], kept: string, max: number): string[] =>
  devicesPastCap(devices, kept, max)
    .map((e) => `${e.past}:${e.device.token}`)
    .sort()

test('two tokens of one phone count once; the least recently registered phone goes whole', () => {
  const devices = [
    ios('voip-a', 1, 'a'),
    ios('alert-a', 5, 'a'),
    ios('voip-b', 2, 'b'),
    ios('alert-b', 3, 'b'),
    ios('voip-c', 9, 'c'),
  ]
  assert.deepEqual(evicted(devices, 'voip-c', 3), [])
  // Phone b's newest token (3) is older than phone a's (5): b goes, both its tokens.
  assert.deepEqual(evicted(devices, 'voip-c', 2), ['phones:alert-b', 'phones:voip-b'])
})

test('tokens without a deviceId are a phone each, iOS ones too', () => {
  const devices = [ios('alert-1', 1), ios('alert-2', 2), ios('voip-3', 3)]
  assert.deepEqual(evicted(devices, 'voip-3', 2), ['phones:alert-1'])
})

test('the phone just registered stays even when its time is the oldest (a clock stepped back)', () => {
  const devices = [ios('voip-a', 50, 'a'), ios('voip-b', 60, 'b'), ios('voip-new', 10, 'new')]
  assert.deepEqual(evicted(devices, 'voip-new', 2), ['phones:voip-a'])
})

test(`a phone keeps its ${TOKENS_PER_PHONE} most recently registered tokens, the one just registered always`, () => {
  const devices = Array.from({ length: TOKENS_PER_PHONE + 2 }, (_, i) => ios(`alert-${i}`, 100 + i, 'a'))
  assert.deepEqual(evicted(devices, 'alert-5', 1), ['tokens:alert-0', 'tokens:alert-1'])
  assert.deepEqual(evicted(devices, 'alert-0', 1), ['tokens:alert-1', 'tokens:alert-2'])
})
