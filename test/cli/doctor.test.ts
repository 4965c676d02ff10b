// push-gateway doctor against the simulator and the sandboxes, with good and broken credentials:
// each broken one is named with a fix, and the exit code says whether everything answered.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runDoctor, type Check } from '../../src/cli/doctor.js'
import { loadConfig } from '../../src/config.js'
import { generateServiceAccount } from '../../src/sim/fcm/index.js'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { runCli } from './run-cli.js'

const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^(GENESYS_|APNS_|FCM_|RING_|DEDUP_|STORE_|WEBPUSH_|WEBHOOK_|ADMIN_TOKEN$|PORT$|HOST$)/.test(k),
  ),
)

let world: TestWorld
before(async () => {
  world = await startTestWorld()
})
after(() => world.close())

async function doctor(settings: Record<string, string> = {}): Promise<{ code: number; checks: Check[]; out: string }> {
  const lines: string[] = []
  const config = loadConfig({ ...world.env, STORE_URL: `sqlite:${join(world.dir, 'doctor.db')}`, ...settings })
  const { code, checks } = await runDoctor(config, {
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
    ca: world.pki.caCert,
  })
  return { code, checks, out: lines.join('\n') }
}
const check = (checks: Check[], name: string): Check => {
  const c = checks.find((x) => x.name === name)
  assert.ok(c, `a ${name} check`)
  return c
}

test('with good credentials every check passes and the exit code is 0', async () => {
  const channelsBefore = world.genesys.channels().length
  const r = await doctor()
  assert.equal(r.code, 0, r.out)
  assert.deepEqual(
    r.checks.map((c) => [c.name, c.status]),
    [
      ['store', 'ok'],
      ['genesys token', 'ok'],
      ['genesys organisation', 'ok'],
      ['genesys channel', 'ok'],
      ['apns key', 'ok'],
      ['apns endpoint', 'ok'],
      ['fcm token', 'ok'],
      ['fcm endpoint', 'ok'],
    ],
  )
  assert.match(r.out, /Everything the gateway needs answered/)
  assert.match(
    check(r.checks, 'genesys organisation').detail,
    new RegExp(world.genesys.orgId),
    'the organisation whose agents may register',
  )
  assert.equal(world.genesys.channels().length, channelsBefore + 1, 'a real Notifications channel was created')
  assert.equal(
    world.apns.accepted.filter((p) => p.headers['apns-expiration'] !== '0').length,
    0,
    'the APNs probe can never be delivered late (expiration 0)',
  )
  assert.equal(world.fcm.accepted.length, 0, 'the FCM probe is validate_only: nothing is sent')
})

test('a wrong Genesys client secret is named, with the fix, and exit code 1', async () => {
  const r = await doctor({ GENESYS_CLIENT_SECRET: 'not-the-secret' })
  assert.equal(r.code, 1)
  const c = check(r.checks, 'genesys token')
  assert.equal(c.status, 'fail')
  assert.match(c.fix ?? '', /GENESYS_CLIENT_ID \/ GENESYS_CLIENT_SECRET are wrong/)
  assert.equal(
    r.checks.some((x) => x.name === 'genesys channel'),
    false,
    'no channel check without a token',
  )
  assert.equal(check(r.checks, 'apns endpoint').status, 'ok', 'the other checks still run')
  assert.equal(r.out.includes('not-the-secret'), false, 'the secret is not printed')
})

test('an unreachable Genesys region says so', async () => {
  const r = await doctor({ GENESYS_LOGIN_URL: 'https://127.0.0.1:9', GENESYS_API_URL: 'https://127.0.0.1:9' })
  assert.equal(r.code, 1)
  assert.match(check(r.checks, 'genesys token').fix ?? '', /cannot be reached: check GENESYS_REGION/)
})

test('an APNs key id that is not the key’s is refused by the endpoint, and the fix names the settings', async () => {
  const r = await doctor({ APNS_KEY_ID: 'ZZZZZZZZZZ' })
  assert.equal(r.code, 1)
  assert.equal(check(r.checks, 'apns key').status, 'ok', 'the key itself still signs')
  const c = check(r.checks, 'apns endpoint')
  assert.equal(c.status, 'fail')
  assert.match(c.detail, /refused/)
  assert.match(c.fix ?? '', /APNS_KEY_ID and APNS_TEAM_ID must be those of APNS_KEY_FILE/)
})

test('an APNs topic the key may not push to is named', async () => {
  const r = await doctor({ APNS_TOPIC: 'com.example.other' })
  assert.equal(r.code, 1)
  assert.match(check(r.checks, 'apns endpoint').fix ?? '', /APNS_TOPIC must be the bundle id/)
})

test('an FCM service-account key that Google does not know fails the token check with a fix', async () => {
  const stranger = await generateServiceAccount({
    projectId: world.serviceAccount.project_id,
    tokenUri: world.fcm.tokenUri,
  })
  const file = join(world.dir, 'stranger.json')
  writeFileSync(file, JSON.stringify(stranger.json))
  const r = await doctor({ FCM_SERVICE_ACCOUNT_FILE: file })
  assert.equal(r.code, 1)
  const c = check(r.checks, 'fcm token')
  assert.equal(c.status, 'fail')
  assert.match(c.fix ?? '', /download a new key/)
  assert.equal(r.out.includes(stranger.json.private_key.split('\n')[1] ?? '-'), false)
})

test('an FCM key of another project may not send for the configured one', async () => {
  const file = join(world.dir, 'other-project.json')
  writeFileSync(file, JSON.stringify({ ...world.serviceAccount, project_id: 'someone-elses-project' }))
  const r = await doctor({ FCM_SERVICE_ACCOUNT_FILE: file })
  assert.equal(r.code, 1)
  assert.equal(check(r.checks, 'fcm token').status, 'ok')
  assert.match(check(r.checks, 'fcm endpoint').fix ?? '', /may not send for project "someone-elses-project"/)
})

test('the packaged command: exit 0 when all is well, 1 when a credential is broken, 2 for bad usage', async () => {
  const env = {
    ...cleanEnv,
    ...world.env,
    NODE_EXTRA_CA_CERTS: world.caFile,
    STORE_URL: `sqlite:${join(world.dir, 'doctor-cli.db')}`,
  }
  const good = await runCli(['doctor'], env)
  assert.equal(good.status, 0, good.stdout + good.stderr)
  assert.match(good.stdout, /^ {2}ok {4}genesys channel/m)
  const broken = await runCli(['doctor', '--json'], { ...env, GENESYS_CLIENT_SECRET: 'wrong-secret' })
  assert.equal(broken.status, 1, broken.stdout + broken.stderr)
  const report = JSON.parse(broken.stdout) as { ok: boolean; checks: Check[] }
  assert.equal(report.ok, false)
  assert.equal(report.checks.find((c) => c.name === 'genesys token')?.status, 'fail')
  const usage = await runCli(['doctor', '--frobnicate'], env)
  assert.equal(usage.status, 2)
  assert.match(usage.stderr, /frobnicate/)
})
