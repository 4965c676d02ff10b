// An agent acts only for itself: with agent A's own Genesys token, no request about agent B (B's
// user id in the body, query or headers; B's device tokens; B's conversation) registers, lists,
// removes or answers anything of B's. Generated with fast-check over every agent route.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Device } from '../../src/model.js'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { fuzzRuns, recordTrial } from '../support/trials.js'

let h: Harness
before(async () => {
  // The limits are tested on their own; here thousands of requests come from one agent.
  h = await startHarness({ RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PER_IP_PER_MINUTE: '0', RING_TIMEOUT_S: '60' })
})
after(() => h.close())

const snapshot = async (userId: string): Promise<string> =>
  JSON.stringify(
    (await h.gateway.store.listDevices(userId))
      .map((d: Device) => ({ ...d }))
      .sort((a, b) => a.token.localeCompare(b.token)),
  )

test('agent A cannot register, list, delete or answer for agent B, whatever the request says about B', async () => {
  const a = h.world.genesys.addAgent({ name: 'Attacker A' })
  const b = h.world.genesys.addAgent({ name: 'Victim B' })
  const bTokens = { voip: apnsToken(), alert: apnsToken(), android: fcmToken() }
  for (const body of [
    { platform: 'ios', token: bTokens.voip, pushType: 'voip', environment: 'sandbox' },
    { platform: 'ios', token: bTokens.alert, pushType: 'alert', environment: 'sandbox' },
    { platform: 'android', token: bTokens.android },
  ])
    assert.equal((await h.register(b.accessToken, body)).status, 201)
  const aToken = fcmToken()
  assert.equal((await h.register(a.accessToken, { platform: 'android', token: aToken })).status, 201)
  await subscribed(h, b.userId)
  // B's phone is ringing: an answer "for B" must not cancel it.
  const { conversationId } = h.world.genesys.offer({ userId: b.userId, mediaType: 'voice' })
  await waitFor('B rings', () =>
    h.world.fcm.accepted.some(
      (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
    ),
  )
  const before = await snapshot(b.userId)
  const cancelsBefore = (): number =>
    h.world.fcm.accepted.filter((m) => (m.message.data as Record<string, string>).action === 'cancel_ring').length +
    h.world.apns.accepted.filter((p) => p.payload.action === 'cancel_ring').length
  const cancels0 = cancelsBefore()

  const bToken = fc.constantFrom(bTokens.voip, bTokens.alert, bTokens.android, bTokens.voip.toUpperCase())
  const aboutB = fc.constantFrom<unknown>(
    b.userId,
    b.name,
    `v2.users.${b.userId}.conversations`,
    conversationId,
    bTokens.android,
    bTokens.voip,
  )
  // Fields naming B beside a valid-looking body, nested objects, arrays: whatever a client might try.
  const bField = fc.record({
    key: fc.constantFrom(
      'userId',
      'user',
      'genesys_user_id',
      'owner',
      'agentId',
      'sub',
      'id',
      '__proto__',
      'constructor',
    ),
    value: aboutB,
  })
  const extras = fc
    .array(bField, { minLength: 1, maxLength: 3 })
    .map((fields) => Object.fromEntries(fields.map((f) => [f.key, f.value])))
  const registerBody = fc.oneof(
    fc
      .tuple(
        extras,
        fc.constantFrom(
          { platform: 'android', token: fcmToken() },
          { platform: 'ios', token: apnsToken(), environment: 'sandbox' },
        ),
      )
      .map(([e, base]) => ({ ...base, ...e })),
    extras.map((e) => ({ platform: 'android', token: fcmToken(), user: e })),
  )
  const headerAboutB = fc.constantFrom<Record<string, string>>(
    {},
    { 'x-user-id': b.userId },
    { 'x-genesys-user-id': b.userId },
    { 'x-forwarded-user': b.userId },
    { cookie: `userId=${b.userId}` },
  )
  const query = fc.constantFrom(
    '',
    `?userId=${b.userId}`,
    `?user=${b.userId}&userId=${b.userId}`,
    `?token=${bTokens.android}`,
  )
  const request = fc.oneof(
    fc.record({
      kind: fc.constant('register' as const),
      path: fc.constantFrom('/api/v1/devices', '/register-token'),
      body: registerBody,
      headers: headerAboutB,
      query,
    }),
    fc.record({ kind: fc.constant('list' as const), headers: headerAboutB, query }),
    fc.record({ kind: fc.constant('delete' as const), token: bToken, headers: headerAboutB, query }),
    fc.record({
      kind: fc.constant('answer' as const),
      token: bToken,
      siblings: fc.array(bToken, { maxLength: 4 }),
      conversation: fc.constantFrom(conversationId, 'c0ffee00-0000-4000-8000-000000000000'),
      withOwn: fc.boolean(),
      headers: headerAboutB,
    }),
  )

  let tried = 0
  const letThrough: string[] = []
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      tried++
      const auth = { authorization: `Bearer ${a.accessToken}`, ...r.headers }
      let res: Response
      if (r.kind === 'register') {
        res = await fetch(`${h.api}${r.path}${r.query}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(r.body),
        })
      } else if (r.kind === 'list') {
        res = await fetch(`${h.api}/api/v1/devices${r.query}`, { headers: auth })
      } else if (r.kind === 'delete') {
        res = await fetch(`${h.api}/api/v1/devices/${encodeURIComponent(r.token)}${r.query}`, {
          method: 'DELETE',
          headers: auth,
        })
      } else {
        // The answering token is B's, or A's own with B's tokens as "siblings".
        const body = r.withOwn
          ? { token: aToken, siblingTokens: [r.token, ...r.siblings].slice(0, 4) }
          : { token: r.token, siblingTokens: r.siblings }
        res = await fetch(`${h.api}/api/v1/agent/answered/${r.conversation}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      }
      const text = await res.text()
      const leaked = [b.userId, ...Object.values(bTokens)].filter(
        (s) => text.includes(s) || text.includes(s.toLowerCase()),
      )
      if (res.status >= 500) letThrough.push(`${r.kind}: ${res.status}`)
      if (leaked.length > 0) letThrough.push(`${r.kind}: B's identifiers in the answer`)
      if (r.kind === 'register' && res.status === 201 && (JSON.parse(text) as { userId: string }).userId !== a.userId)
        letThrough.push('registered for someone else')
      if ((await snapshot(b.userId)) !== before) letThrough.push(`${r.kind}: B's devices changed`)
      return letThrough.length === 0
    }),
    { numRuns: fuzzRuns(500) },
  )
  // Cancels are pushed asynchronously: give a wrongly accepted answer time to show.
  await new Promise((r) => setTimeout(r, 200))
  const bCancelled = cancelsBefore() - cancels0
  recordTrial(
    {
      id: 'security.agent-isolation',
      area: 'security',
      what: "Agent A's own token with requests about agent B (B's user id in body, query, headers; B's device tokens; B's ringing conversation) on every agent route",
      tried,
      unit: 'requests',
      held: "B's devices unchanged, B's ring not cancelled, nothing about B in any answer, no 5xx",
      lost: letThrough.length + bCancelled,
    },
    import.meta.url,
  )
  assert.deepEqual(letThrough, [])
  assert.equal(bCancelled, 0, "no cancel reached B's ringing phone")
  assert.equal(await snapshot(b.userId), before)
})
