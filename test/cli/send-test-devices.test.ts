// push-gateway send-test and devices, against the sandboxes and the store a gateway registered into.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { devicesCommand } from '../../src/cli/devices.js'
import { runSendTest } from '../../src/cli/send-test.js'
import { loadConfig, type Config } from '../../src/config.js'
import { apnsToken, fcmToken, startHarness, type Harness } from '../e2e/harness.js'
import { runCli } from './run-cli.js'

let h: Harness
let config: Config
let env: Record<string, string>
const phone = { voip: apnsToken(), alert: apnsToken(), android: fcmToken(), dead: fcmToken() }
let userId: string
before(async () => {
  h = await startHarness()
  env = { ...h.world.env, STORE_URL: h.gateway.config.storeUrl }
  config = loadConfig(env)
  const agent = h.world.genesys.addAgent({ name: 'Send Test' })
  userId = agent.userId
  for (const body of [
    { platform: 'ios', token: phone.voip, pushType: 'voip', environment: 'sandbox', deviceId: 'iphone-send-test' },
    { platform: 'ios', token: phone.alert, pushType: 'alert', environment: 'sandbox', deviceId: 'iphone-send-test' },
    { platform: 'android', token: phone.android },
  ])
    assert.equal((await h.register(agent.accessToken, body)).status, 201)
})
after(() => h.close())

const io = () => {
  const lines: string[] = []
  return {
    lines,
    io: {
      out: (l: string) => lines.push(l),
      err: (l: string) => lines.push(l),
      ca: h.world.pki.caCert,
      webPushSandboxHosts: [h.world.webPushSandboxHost],
    },
  }
}

test('send-test rings each of the agent’s devices as a call would, cancels, and prints each result', async () => {
  const { lines, io: out } = io()
  const { code, results } = await runSendTest(config, out, { userId, media: 'voice', ringMs: 0 })
  assert.equal(code, 0, lines.join('\n'))
  const ring = results.filter((r) => r.action === 'ring')
  assert.deepEqual(ring.map((r) => [r.platform, r.via, r.result]).sort(), [
    ['android', 'data', 'delivered'],
    ['ios', 'voip', 'delivered'],
  ])
  assert.ok(
    results.some((r) => r.action === 'cancel' && r.via === 'alert' && r.result === 'delivered'),
    'the PushKit ring is cancelled through the alert token',
  )
  const voip = h.world.apns.accepted.find((p) => p.token === phone.voip)
  assert.equal(voip?.headers['apns-push-type'], 'voip')
  assert.equal(voip?.payload.queue_name, 'push-gateway test')
  const out_ = lines.join('\n')
  assert.match(out_, /ok {2}.*android.*ring.*delivered/)
  assert.equal(out_.includes(phone.android), false, 'tokens are printed as a prefix')
})

test('send-test rings and then cancels a browser through Web Push', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Send Test Browser' })
  const browser = h.world.webpush.subscribe({ applicationServerKey: h.world.vapid.publicKey })
  const registered = await h.register(agent.accessToken, {
    platform: 'web',
    subscription: { ...browser, expirationTime: null },
  })
  assert.equal(registered.status, 201)
  const { lines, io: out } = io()
  const { code, results } = await runSendTest(config, out, { userId: agent.userId, media: 'chat', ringMs: 0 })
  assert.equal(code, 0, lines.join('\n'))
  assert.deepEqual(
    results.map((r) => [r.platform, r.action, r.result]),
    [
      ['web', 'ring', 'delivered'],
      ['web', 'cancel', 'delivered'],
    ],
  )
  const shown = h.world.webpush.accepted.filter((p) => p.endpoint === browser.endpoint).map((p) => p.payload)
  assert.deepEqual(
    shown.map((payload) => [payload?.action, payload?.queue_name]),
    [
      ['ring', 'push-gateway test'],
      ['cancel_ring', 'push-gateway test'],
    ],
    'the browser decrypted a test ring, then its cancel',
  )
  assert.equal(lines.join('\n').includes(browser.endpoint), false, 'the endpoint is printed as a prefix')
})

test('send-test reports a dead device, removes it, and exits 1', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Send Test Dead' })
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: phone.dead })).status, 201)
  h.world.fcm.failToken(phone.dead, { status: 404, errorCode: 'UNREGISTERED' })
  const { lines, io: out } = io()
  const { code, results } = await runSendTest(config, out, { userId: agent.userId, media: 'chat', ringMs: 0 })
  assert.equal(code, 1)
  assert.equal(results[0]?.result, 'invalid-token')
  assert.equal(results[0]?.removed, true)
  assert.match(lines.join('\n'), /FAIL.*invalid-token.*token removed/)
  assert.equal((await h.gateway.store.listDevices(agent.userId)).length, 0)
})

test('send-test for an agent without devices exits 1 and says so', async () => {
  const { lines, io: out } = io()
  assert.equal((await runSendTest(config, out, { userId: 'nobody', media: 'voice', ringMs: 0 })).code, 1)
  assert.match(lines.join('\n'), /no devices registered for user nobody/)
})

test('devices list shows prefixes; remove takes a unique prefix; a wrong one exits 1', async () => {
  const list = io()
  assert.equal(await devicesCommand(['list', '--user', userId], list.io, env), 0)
  const text = list.lines.join('\n')
  assert.match(text, /3 device\(s\) of 1 agent\(s\)/)
  assert.match(text, /voip\/sandbox/)
  assert.match(text, /iphone-send-test/, 'the phone each token belongs to')
  assert.equal(text.includes(phone.alert), false)

  const wrong = io()
  assert.equal(await devicesCommand(['remove', '--user', userId, '--token', 'ffffffffffff'], wrong.io, env), 1)
  const removed = io()
  assert.equal(
    await devicesCommand(['remove', '--user', userId, '--token', `${phone.alert.slice(0, 12)}…`], removed.io, env),
    0,
  )
  assert.match(removed.lines.join('\n'), /removed ios device/)
  assert.equal(
    (await h.gateway.store.listDevices(userId)).some((d) => d.token === phone.alert),
    false,
  )

  const json = io()
  assert.equal(await devicesCommand(['list', '--user', userId, '--json'], json.io, env), 0)
  assert.equal((JSON.parse(json.lines.join('\n')) as unknown[]).length, 2)
  const usage = io()
  assert.equal(await devicesCommand(['remove', '--user', userId], usage.io, env), 2)
})

test('every command answers --help with exit 0, and an unknown one exits 2', async () => {
  const base = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(GENESYS_|APNS_|FCM_)/.test(k))) }
  for (const args of [
    ['--help'],
    ['doctor', '--help'],
    ['send-test', '--help'],
    ['devices', '--help'],
    ['devices', 'list', '--help'],
    ['start', '--help'],
  ]) {
    const r = await runCli(args, base)
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stdout, /Usage: push-gateway/)
  }
  const unknown = await runCli(['frobnicate'], base)
  assert.equal(unknown.status, 2)
  const noUser = await runCli(['send-test'], base)
  assert.equal(noUser.status, 2)
  assert.match(noUser.stderr, /--user/)
})
