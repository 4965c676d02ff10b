// One failed push is one log line, however many layers saw it fail (provider, retries, dispatcher,
// audit log): the line an operator searches for, with the outcome, the attempts and no secret.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { tokenPrefix } from '../../src/observability/logger.js'
import { fcmToken, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { startLoggedGateway } from '../support/logged-gateway.js'
import type { TestWorld } from '../../src/sim/world.js'

const ADMIN = 'admin-token-for-failure-log-test'
let lines: string[]
let world: TestWorld
let api: string
let close: () => Promise<void>

before(async () => {
  ;({ world, api, lines: lines, close } = await startLoggedGateway({ ADMIN_TOKEN: ADMIN }))
})
after(() => close())

test('a dead token and a push that fails on every retry are logged once each, by the dispatcher', async () => {
  const agent = world.genesys.addAgent({ name: 'Failing Phones' })
  const dead = fcmToken()
  const unlucky = fcmToken()
  for (const token of [dead, unlucky]) {
    const res = await fetch(`${api}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'android', token }),
    })
    assert.equal(res.status, 201)
  }
  await subscribed({ world } as Harness, agent.userId)
  world.fcm.failToken(dead, { status: 404, errorCode: 'UNREGISTERED' })
  world.fcm.failToken(unlucky, { status: 503, errorCode: 'UNAVAILABLE' })

  const { conversationId } = world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
  const about = (token: string): Array<Record<string, unknown>> =>
    lines
      .filter((l) => l.includes(tokenPrefix(token)))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.conversationId === conversationId || JSON.stringify(l).includes(conversationId))
  await waitFor('both pushes to end', () => about(dead).length > 0 && about(unlucky).length > 0, 20_000)
  // Lines that could still come after the outcome (a late duplicate) get their chance to show.
  await new Promise((resolve) => setTimeout(resolve, 300))

  const deadLines = about(dead)
  assert.equal(deadLines.length, 1, JSON.stringify(deadLines, null, 2))
  assert.equal(deadLines[0]?.msg, 'push not delivered')
  assert.equal(deadLines[0]?.component, 'dispatch')
  assert.equal(deadLines[0]?.result, 'invalid-token')
  assert.equal(deadLines[0]?.status, 404)
  assert.equal(deadLines[0]?.pruned, true, 'the line says the token was removed')

  const unluckyLines = about(unlucky)
  assert.equal(unluckyLines.length, 1, JSON.stringify(unluckyLines, null, 2))
  assert.equal(unluckyLines[0]?.msg, 'push not delivered')
  assert.equal(unluckyLines[0]?.result, 'expired')
  assert.ok(Number(unluckyLines[0]?.attempts) > 1, 'several attempts, one line')
  assert.ok(
    world.fcm.rejected.filter((r) => r.token === unlucky).length > 1,
    'the push service really was asked more than once',
  )

  const all = lines.join('\n')
  assert.equal(all.includes(dead), false, 'no full device token in the logs')
  assert.equal(all.includes(unlucky), false, 'no full device token in the logs')
  // The audit log still holds both, without logging them again.
  const audit = await fetch(`${api}/api/v1/admin/audit?conversationId=${conversationId}`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  })
  const { entries } = (await audit.json()) as { entries: Array<{ kind: string }> }
  assert.deepEqual(entries.map((e) => e.kind).sort(), ['expired', 'invalid-token'])
})
