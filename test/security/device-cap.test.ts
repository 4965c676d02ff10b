// Bounded devices per agent, and devices moved between agents in the open: an agent registering
// device after device keeps MAX_DEVICES_PER_AGENT (the least recently registered evicted, audited,
// counted) and a ring reaches only those; a token registered by another agent moves, audited and
// counted, and the previous owner's list shows it gone.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const ADMIN = 'admin-token-device-cap-0123456789'
const CAP = 4
let h: Harness
before(async () => {
  h = await startHarness({
    ADMIN_TOKEN: ADMIN,
    MAX_DEVICES_PER_AGENT: String(CAP),
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: '0',
  })
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

test('an agent registering 60 devices keeps the last MAX_DEVICES_PER_AGENT; each eviction audited and counted; a ring reaches only those', async () => {
  const agent = h.world.genesys.addAgent()
  const tokens: string[] = []
  const statuses: number[] = []
  const evictedBefore = await counted('evicted')
  for (let i = 0; i < 60; i++) {
    const token = fcmToken()
    tokens.push(token)
    statuses.push((await h.register(agent.accessToken, { platform: 'android', token })).status)
    // Registration times one apart at least, so "least recently registered" is one order.
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  const kept = await listed(agent.accessToken)
  const evictions = (await audit(agent.userId)).filter((e) => e.kind === 'device-evicted')
  const evictedCount = (await counted('evicted')) - evictedBefore
  await subscribed(h, agent.userId)
  const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
  const rung = await waitFor(`${CAP} rings`, () => {
    const got = h.world.fcm.accepted.filter(
      (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
    )
    return got.length >= CAP && got
  })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const rungTokens = h.world.fcm.accepted
    .filter((m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId)
    .map((m) => String(m.message.token))
  recordTrial(
    {
      id: 'security.device-cap',
      area: 'security',
      what: `One agent registering 60 devices against MAX_DEVICES_PER_AGENT=${CAP}, then rung`,
      tried: 60,
      unit: 'registrations',
      held: `each answered 201; the agent keeps the ${CAP} most recently registered; each of the ${60 - CAP} evictions audited and counted; the ring pushes ${CAP} devices`,
      lost:
        statuses.filter((s) => s !== 201).length +
        Math.abs(kept.length - CAP) +
        Math.abs(evictions.length - (60 - CAP)) +
        Math.abs(evictedCount - (60 - CAP)) +
        Math.max(0, rungTokens.length - CAP),
    },
    import.meta.url,
  )
  assert.deepEqual(statuses, Array(60).fill(201))
  assert.deepEqual(kept, tokens.slice(-CAP).sort())
  assert.equal(evictions.length, 60 - CAP)
  assert.ok(evictions.every((e) => /least recently registered/.test(e.reason)))
  assert.equal(evictedCount, 60 - CAP)
  assert.ok(rung.length >= CAP)
  assert.deepEqual(rungTokens.sort(), kept)
})

test("a token registered by another agent moves: audited and counted, and gone from the previous owner's list", async () => {
  const first = h.world.genesys.addAgent()
  const second = h.world.genesys.addAgent()
  const shared = fcmToken()
  const own = fcmToken()
  assert.equal((await h.register(first.accessToken, { platform: 'android', token: shared })).status, 201)
  assert.equal((await h.register(first.accessToken, { platform: 'android', token: own })).status, 201)
  assert.deepEqual(await listed(first.accessToken), [own, shared].sort())
  const movedBefore = await counted('moved')
  assert.equal((await h.register(second.accessToken, { platform: 'android', token: shared })).status, 201)
  const firstList = await listed(first.accessToken)
  const secondList = await listed(second.accessToken)
  const moves = (await audit(first.userId)).filter((e) => e.kind === 'device-moved')
  const movedCount = (await counted('moved')) - movedBefore
  recordTrial(
    {
      id: 'security.device-moved',
      area: 'security',
      what: 'An agent registering a token another agent holds (a shared phone handed over, or a token learned)',
      tried: 1,
      unit: 'moves',
      held: "the token moves; the previous owner's next GET shows it gone; the move audited under the previous owner and counted",
      lost:
        (firstList.includes(shared) ? 1 : 0) +
        (secondList.includes(shared) ? 0 : 1) +
        (moves.length === 1 ? 0 : 1) +
        (movedCount === 1 ? 0 : 1),
    },
    import.meta.url,
  )
  assert.deepEqual(firstList, [own])
  assert.deepEqual(secondList, [shared])
  assert.equal(moves.length, 1)
  assert.match(moves[0]?.reason ?? '', new RegExp(second.userId))
  assert.equal(moves[0]?.device, `${shared.slice(0, 8)}…`, "only the token's prefix")
  assert.equal(movedCount, 1)
})
