import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apnsToken, fcmToken, startHarness, type Harness } from './harness.js'

let h: Harness
before(async () => {
  h = await startHarness()
})
after(() => h.close())

test('an agent registers an iPhone and an Android phone for their own Genesys user', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Reg One' })
  const voip = apnsToken()
  const ios = await h.register(agent.accessToken, {
    platform: 'ios',
    token: voip.toUpperCase(),
    pushType: 'voip',
    environment: 'sandbox',
  })
  assert.equal(ios.status, 201)
  assert.equal(ios.json.userId, agent.userId)
  assert.equal(ios.json.token, voip, 'APNs tokens are stored in lower case')
  assert.equal(ios.json.pushType, 'voip')
  const android = await h.register(agent.accessToken, { platform: 'android', token: fcmToken() })
  assert.equal(android.status, 201)

  const list = await fetch(`${h.api}/api/v1/devices`, { headers: { authorization: `Bearer ${agent.accessToken}` } })
  const body = (await list.json()) as { devices: Array<{ token: string; platform: string }> }
  assert.deepEqual(body.devices.map((d) => d.platform).sort(), ['android', 'ios'])
})

test('the body can never choose the user: a userId field is refused', async () => {
  const agent = h.world.genesys.addAgent()
  const other = h.world.genesys.addAgent()
  const res = await h.register(agent.accessToken, { platform: 'android', token: fcmToken(), userId: other.userId })
  assert.equal(res.status, 400)
  assert.equal((res.json.error as { code: string }).code, 'INVALID_REQUEST')
  assert.equal((await h.gateway.store.listDevices(other.userId)).length, 0)
})

test('a token Genesys does not accept gets 401 and registers nothing', async () => {
  const agent = h.world.genesys.addAgent()
  h.world.genesys.revokeToken(agent.accessToken)
  const res = await h.register(agent.accessToken, { platform: 'android', token: fcmToken() })
  assert.equal(res.status, 401)
  assert.equal((res.json.error as { code: string }).code, 'UNAUTHORIZED')
  const unknown = await h.register('not-a-real-genesys-token-123', { platform: 'android', token: fcmToken() })
  assert.equal(unknown.status, 401)
  assert.equal((await h.gateway.store.listDevices(agent.userId)).length, 0)
})

test('a missing Authorization header is 401, a malformed one 400', async () => {
  const missing = await fetch(`${h.api}/api/v1/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ platform: 'android', token: fcmToken() }),
  })
  assert.equal(missing.status, 401)
  const malformed = await fetch(`${h.api}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: 'Basic abc:def', 'content-type': 'application/json' },
    body: '{}',
  })
  assert.equal(malformed.status, 400)
  assert.equal(((await malformed.json()) as { error: { code: string } }).error.code, 'MALFORMED_TOKEN')
})

test('malformed bodies get 400 naming the problem', async () => {
  const agent = h.world.genesys.addAgent()
  const cases: Array<[unknown, RegExp]> = [
    [{ platform: 'blackberry', token: fcmToken() }, /platform/],
    [{ platform: 'ios', token: 'not-hex' }, /token/],
    [{ platform: 'ios', token: apnsToken(), pushType: 'loud' }, /pushType/],
    [{ platform: 'android', token: fcmToken(), pushType: 'voip' }, /ios devices only/],
    [{ token: fcmToken() }, /platform/],
  ]
  for (const [body, message] of cases) {
    const res = await h.register(agent.accessToken, body)
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.match((res.json.error as { message: string }).message, message)
  }
  const notJson = await fetch(`${h.api}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
    body: '{"platform":',
  })
  assert.equal(notJson.status, 400)
  assert.equal((await h.gateway.store.listDevices(agent.userId)).length, 0)
})

test('an agent can delete only their own device', async () => {
  const a = h.world.genesys.addAgent()
  const b = h.world.genesys.addAgent()
  const token = fcmToken()
  assert.equal((await h.register(a.accessToken, { platform: 'android', token })).status, 201)
  const asB = await fetch(`${h.api}/api/v1/devices/${encodeURIComponent(token)}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${b.accessToken}` },
  })
  assert.equal(asB.status, 404)
  assert.equal((await h.gateway.store.listDevices(a.userId)).length, 1)
  const asA = await fetch(`${h.api}/api/v1/devices/${encodeURIComponent(token)}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${a.accessToken}` },
  })
  assert.equal(asA.status, 204)
  assert.equal((await h.gateway.store.listDevices(a.userId)).length, 0)
})

test("the design guide's /register-token is an alias", async () => {
  const agent = h.world.genesys.addAgent()
  const res = await fetch(`${h.api}/register-token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ platform: 'android', token: fcmToken() }),
  })
  assert.equal(res.status, 201)
})

test('health and readiness', async () => {
  assert.equal((await fetch(`${h.api}/healthz`)).status, 200)
  const ready = await fetch(`${h.api}/readyz`)
  const body = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> }
  assert.equal(ready.status, 200, JSON.stringify(body))
  assert.equal(body.checks.store?.ok, true)
  assert.equal(body.checks.source?.ok, true)
})

test('a phone: deviceId is stored and listed, and DELETE ?deviceId= signs the whole phone out', async () => {
  const agent = h.world.genesys.addAgent()
  const other = h.world.genesys.addAgent()
  const voip = apnsToken()
  const alert = apnsToken()
  const ipad = apnsToken()
  const auth = { authorization: `Bearer ${agent.accessToken}` }
  const iphoneId = 'E621E1F8-C36C-495A-93FC-0C247A3E6E5F'
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'ios', token: voip, pushType: 'voip', deviceId: iphoneId })).json
      .deviceId,
    iphoneId,
  )
  assert.equal(
    (await h.register(agent.accessToken, { platform: 'ios', token: alert, pushType: 'alert', deviceId: iphoneId }))
      .status,
    201,
  )
  assert.equal(
    (
      await fetch(`${h.api}/register-token`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'ios', token: ipad, deviceId: 'ipad-1' }),
      })
    ).status,
    201,
  )
  const listed = (await (await fetch(`${h.api}/api/v1/devices`, { headers: auth })).json()) as {
    devices: Array<{ token: string; deviceId?: string }>
  }
  assert.deepEqual(Object.fromEntries(listed.devices.map((d) => [d.token, d.deviceId])), {
    [voip]: iphoneId,
    [alert]: iphoneId,
    [ipad]: 'ipad-1',
  })

  const signOut = (who: { accessToken: string }, query: string): Promise<Response> =>
    fetch(`${h.api}/api/v1/devices${query}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${who.accessToken}` },
    })
  const asOther = await signOut(other, `?deviceId=${iphoneId}`)
  assert.equal(asOther.status, 404, "another agent cannot sign this agent's phone out")
  assert.equal(((await asOther.json()) as { error: { code: string } }).error.code, 'DEVICE_NOT_FOUND')
  assert.equal((await signOut(agent, `?deviceId=${iphoneId}`)).status, 204)
  assert.deepEqual(
    (await h.gateway.store.listDevices(agent.userId)).map((d) => d.token),
    [ipad],
    'both iPhone tokens are gone, the iPad stays',
  )
  assert.equal((await signOut(agent, `?deviceId=${iphoneId}`)).status, 404, 'a phone signs out once')

  const missing = await signOut(agent, '')
  assert.equal(missing.status, 400)
  assert.match(((await missing.json()) as { error: { message: string } }).error.message, /deviceId/)
})

test('a malformed deviceId is refused with 400 naming it, and registers nothing', async () => {
  const agent = h.world.genesys.addAgent()
  for (const deviceId of ['', 'x'.repeat(129), 'has space', 'slash/es', 'ümlaut', 42]) {
    const res = await h.register(agent.accessToken, { platform: 'android', token: fcmToken(), deviceId })
    assert.equal(res.status, 400, JSON.stringify(deviceId))
    assert.match((res.json.error as { message: string }).message, /deviceId/)
  }
  const bad = await fetch(`${h.api}/api/v1/devices?deviceId=${encodeURIComponent('a b')}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${agent.accessToken}` },
  })
  assert.equal(bad.status, 400)
  assert.equal((await h.gateway.store.listDevices(agent.userId)).length, 0)
})
