// An operator's configuration mistakes, made against the built CLI: every problem in one run, one
// line each, exit 2, with the fix in the line. Nothing here reaches a network: the Genesys URLs
// point at a closed loopback port.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { cleanEnv, ensureBuilt, runBuilt, startBuilt } from '../support/built-cli.js'

const dir = mkdtempSync(join(tmpdir(), 'pgw-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))
before(() => ensureBuilt())

function keyFile(name: string, pem: string | Buffer): string {
  const path = join(dir, name)
  writeFileSync(path, pem)
  return path
}
const p8 = keyFile(
  'AuthKey.p8',
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
)
const valid = {
  GENESYS_API_URL: 'https://127.0.0.1:9',
  GENESYS_LOGIN_URL: 'https://127.0.0.1:9',
  GENESYS_CLIENT_ID: 'client',
  GENESYS_CLIENT_SECRET: 'client-secret-value',
  APNS_KEY_FILE: p8,
  APNS_KEY_ID: 'ABC123DEFG',
  APNS_TEAM_ID: 'TEAM123456',
  APNS_TOPIC: 'com.example.agent',
  STORE_URL: 'memory:',
  PORT: '0',
  HOST: '127.0.0.1',
}
const PREFIX = 'push-gateway: configuration error: '

async function startErrors(env: Record<string, string>): Promise<string[]> {
  const result = await runBuilt(['start'], cleanEnv(env))
  assert.equal(result.status, 2, result.stderr)
  assert.equal(result.stdout, '')
  const lines = result.stderr.trimEnd().split('\n')
  for (const line of lines) assert.ok(line.startsWith(PREFIX), `one line per problem: ${line}`)
  return lines.map((line) => line.slice(PREFIX.length))
}

test('an empty environment lists every missing setting in one run, one line each, exit 2', async () => {
  assert.deepEqual(await startErrors({}), [
    'GENESYS_REGION: is required (or GENESYS_API_URL and GENESYS_LOGIN_URL), e.g. mypurecloud.com',
    'GENESYS_CLIENT_ID: is required for GENESYS_EVENT_SOURCE=notifications (an OAuth client-credentials client)',
    'GENESYS_CLIENT_SECRET: is required for GENESYS_EVENT_SOURCE=notifications',
    'APNS_KEY_FILE: no push service configured: set the APNS_ settings, FCM_SERVICE_ACCOUNT_FILE, the WEBPUSH_ settings, or several',
  ])
})

test('ADMIN_TOKNE and LOG_LEVLE are errors that name the setting meant, whatever the prefix', async () => {
  assert.deepEqual(
    await startErrors({ ...valid, ADMIN_TOKNE: 'a-long-admin-token-value', LOG_LEVLE: 'debug', APNS_TOPICS: 'x' }),
    [
      'ADMIN_TOKNE: unknown setting, did you mean ADMIN_TOKEN?',
      'LOG_LEVLE: unknown setting, did you mean LOG_LEVEL?',
      'APNS_TOPICS: unknown setting, did you mean APNS_TOPIC?',
    ],
  )
})

test('the APNs key must be an EC P-256 PKCS#8 key: SEC1 gets the openssl hint, RSA and P-384 are named', async () => {
  const sec1 = keyFile(
    'sec1.pem',
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }),
  )
  const rsa = keyFile(
    'rsa.pem',
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  )
  const p384 = keyFile(
    'p384.p8',
    generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  )
  assert.deepEqual(await startErrors({ ...valid, APNS_KEY_FILE: sec1 }), [
    'APNS_KEY_FILE: is an EC key in SEC1 form ("BEGIN EC PRIVATE KEY"); APNs needs PKCS#8: convert it with `openssl pkcs8 -topk8 -nocrypt -in <key.pem> -out AuthKey.p8`',
  ])
  const [rsaLine] = await startErrors({ ...valid, APNS_KEY_FILE: rsa })
  assert.match(
    rsaLine ?? '',
    /^APNS_KEY_FILE: is an RSA key; APNs signs with an EC P-256 key: download the key from Apple/,
  )
  const [p384Line] = await startErrors({ ...valid, APNS_KEY_FILE: p384 })
  assert.match(p384Line ?? '', /^APNS_KEY_FILE: is an EC key on curve secp384r1; APNs needs P-256 \(prime256v1\)/)
})

test('GENESYS_REGION must be a region domain: api./login. prefixes get the fix, anything else the list', async () => {
  const withRegion = (region: string) => ({
    ...valid,
    GENESYS_API_URL: '',
    GENESYS_LOGIN_URL: '',
    GENESYS_REGION: region,
  })
  assert.deepEqual(await startErrors(withRegion('api.mypurecloud.ie')), [
    'GENESYS_REGION: is the region\'s domain, without a scheme or "api."/"login." (the gateway adds those): use GENESYS_REGION=mypurecloud.ie',
  ])
  assert.deepEqual(await startErrors(withRegion('https://login.euw2.pure.cloud')), [
    'GENESYS_REGION: is the region\'s domain, without a scheme or "api."/"login." (the gateway adds those): use GENESYS_REGION=euw2.pure.cloud',
  ])
  const [other] = await startErrors(withRegion('mypurecloud.eu'))
  assert.match(
    other ?? '',
    /^GENESYS_REGION: must be a Genesys Cloud region domain: one of mypurecloud\.com, .*mypurecloud\.ie, .*apse1\.pure\.cloud, .*\(or set GENESYS_API_URL and GENESYS_LOGIN_URL\)$/,
  )
})

test('a Firebase web config or google-services.json given as the service account is recognised and named', async () => {
  const web = keyFile(
    'firebase-config.json',
    JSON.stringify({
      apiKey: 'AIzaSy-example',
      authDomain: 'demo.firebaseapp.com',
      projectId: 'demo',
      appId: '1:2:web:3',
    }),
  )
  const android = keyFile('google-services.json', JSON.stringify({ project_info: { project_id: 'demo' }, client: [] }))
  assert.deepEqual(await startErrors({ ...valid, FCM_SERVICE_ACCOUNT_FILE: web }), [
    'FCM_SERVICE_ACCOUNT_FILE: is a Firebase web app config (apiKey, authDomain…), not a service-account key: get the key from the Firebase console, Project settings > Service accounts > Generate new private key',
  ])
  const [androidLine] = await startErrors({ ...valid, FCM_SERVICE_ACCOUNT_FILE: android })
  assert.match(
    androidLine ?? '',
    /^FCM_SERVICE_ACCOUNT_FILE: is an Android app's google-services.json, not a service-account key/,
  )
})

test('the start-up log shows only the settings that were set, secrets redacted, no admin token when none is set', async () => {
  const running = startBuilt(['start'], cleanEnv({ ...valid, LOG_LEVEL: 'info' }))
  const line = await running.waitFor(/\{[^\n]*"configuration loaded"[^\n]*\}/)
  running.child.kill('SIGTERM')
  await running.finished
  const settings = (JSON.parse(line) as { settings: Record<string, string> }).settings
  assert.deepEqual(Object.keys(settings).sort(), Object.keys({ ...valid, LOG_LEVEL: 'info' }).sort())
  assert.equal(settings.GENESYS_CLIENT_SECRET, '[redacted]')
  assert.ok(!line.includes('client-secret-value'))
  assert.ok(!line.includes('adminToken') && !line.includes('ADMIN_TOKEN'), line)
})
