// MAX_DEVICES_PER_AGENT counts phones (tokens sharing a deviceId), at its default of 10: an agent
// with ten iPhones, each registering a VoIP and an alert token, keeps all twenty tokens; an eleventh
// phone evicts the least recently registered phone with all its tokens, audited and counted; and a
// phone keeps its newest tokens only, so counting phones still bounds the tokens.
// PGW_TEST_STORE picks the store (device-cap-phones-redis.test.ts runs this file on Redis).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apnsToken, fcmToken, startHarness, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const ADMIN = 'admin-token-device-cap-phones-0123'
let h: Harness
before(async () => {
  // MAX_DEVICES_PER_AGENT left at its default.
  h = await startHarness({ ADMIN_TOKEN: ADMIN, RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: '0' })
})
after(() => h.close())

const admin = { authorization: `Bearer ${ADMIN}` }
async function audit(userId: string): Promise<Array<{ kind: string; device?: string; reason: string }>> {
  const res = await fetch(`${h.api}/api/v1/admin/audit?userId=${userId}`, { headers: admin })
  return ((await res.json()) as { entries: Array<{ kind: string; device?: string; reason: string }> }).entries
}
async function counted(change: string): Promise<number> {
  const text = await (await fetch(`${h.api}/metrics`, { headers: admin })).text()
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`push_gateway_device_changes_total{`) && l.includes(`change="${change}"`))
  return line ? Number(line.split(' ').pop()) : 0
}
async function listed(accessToken: string): Promise<string[]> {
  const res = await fetch(`${h.api}/api/v1/devices`, { headers: { authorization: `Bearer ${accessToken}` } })
  return ((await res.json()) as { devices: Array<{ token: string }> }).devices.map((d) => d.token).sort()
}

test('the cap counts phones: 10 iPhones with a VoIP and an alert token each all stay; an 11th phone evicts the least recently registered phone, both its tokens, audited', async () => {
  const phones = 10
  const agent = h.world.genesys.addAgent()
  const iphone = (n: number): { deviceId: string; voip: string; alert: string } => ({
    deviceId: `iphone-${n}-${agent.userId.slice(0, 8)}`,
    voip: apnsToken(),
    alert: apnsToken(),
  })
  const register = async (p: { deviceId: string; voip: string; alert: string }): Promise<number[]> => [
    (await h.register(agent.accessToken, { platform: 'ios', token: p.voip, pushType: 'voip', deviceId: p.deviceId }))
      .status,
    (await h.register(agent.accessToken, { platform: 'ios', token: p.alert, pushType: 'alert', deviceId: p.deviceId }))
      .status,
  ]
  const statuses: number[] = []
  const owned = Array.from({ length: phones }, (_, n) => iphone(n + 1))
  for (const p of owned) {
    statuses.push(...(await register(p)))
    // Registration times one apart at least, so "least recently registered" is one order.
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  // The first phone launches the app again: it is now the most recently registered, the second the least.
  statuses.push(...(await register(owned[0]!)))
  await new Promise((resolve) => setTimeout(resolve, 2))
  const allTwenty = await listed(agent.accessToken)
  const evictedBefore = await counted('evicted')
  const eleventh = iphone(11)
  statuses.push(...(await register(eleventh)))
  const after = await listed(agent.accessToken)
  const evictions = (await audit(agent.userId)).filter((e) => e.kind === 'device-evicted')
  const evictedCount = (await counted('evicted')) - evictedBefore
  const gone = [owned[1]!.voip, owned[1]!.alert]
  const expected = [...owned.filter((_, n) => n !== 1), eleventh].flatMap((p) => [p.voip, p.alert]).sort()
  recordTrial(
    {
      id: `security.device-cap-phones${process.env.PGW_TEST_STORE ? `-${process.env.PGW_TEST_STORE}` : ''}`,
      area: 'security',
      what: `One agent registering 11 iPhones (a VoIP and an alert token each, one deviceId per phone) against MAX_DEVICES_PER_AGENT=${phones}`,
      tried: 22,
      unit: 'registrations',
      held: 'each answered 201; the 10 phones keep both tokens (20 tokens); the 11th phone evicts the least recently registered phone, both its tokens, each eviction audited and counted',
      lost:
        statuses.filter((s) => s !== 201).length +
        Math.abs(allTwenty.length - 2 * phones) +
        after.filter((t) => gone.includes(t)).length +
        expected.filter((t) => !after.includes(t)).length +
        Math.abs(evictions.length - 2) +
        Math.abs(evictedCount - 2),
    },
    import.meta.url,
  )
  assert.deepEqual(statuses, Array(2 * phones + 4).fill(201))
  assert.equal(allTwenty.length, 2 * phones, 'ten phones of two tokens each are all kept')
  assert.deepEqual(after, expected)
  assert.deepEqual(evictions.map((e) => e.device).sort(), gone.map((t) => `${t.slice(0, 8)}…`).sort())
  assert.ok(evictions.every((e) => e.reason.includes(`least recently registered phone ${owned[1]!.deviceId}`)))
  assert.equal(evictedCount, 2)
})

test('a phone keeps its newest tokens: a fifth token under one deviceId evicts the oldest, audited', async () => {
  const agent = h.world.genesys.addAgent()
  const tokens: string[] = []
  for (let i = 0; i < 5; i++) {
    const token = fcmToken()
    tokens.push(token)
    const res = await h.register(agent.accessToken, { platform: 'android', token, deviceId: 'pixel-1' })
    assert.equal(res.status, 201)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  assert.deepEqual(await listed(agent.accessToken), tokens.slice(1).sort())
  const evictions = (await audit(agent.userId)).filter((e) => e.kind === 'device-evicted')
  assert.deepEqual(
    evictions.map((e) => e.device),
    [`${tokens[0]!.slice(0, 8)}…`],
  )
  assert.match(evictions[0]?.reason ?? '', /least recently registered token of phone pixel-1/)
})
