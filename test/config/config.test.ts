import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { loadConfig, redacted, ConfigError } from '../../src/config.js'

const dir = mkdtempSync(join(tmpdir(), 'cfg-'))
const p8 = join(dir, 'AuthKey.p8')
writeFileSync(
  p8,
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
)
const base = {
  GENESYS_REGION: 'mypurecloud.ie',
  GENESYS_CLIENT_ID: 'client',
  GENESYS_CLIENT_SECRET: 's3cret-value',
  APNS_KEY_FILE: p8,
  APNS_KEY_ID: 'ABC123DEFG',
  APNS_TEAM_ID: 'TEAM123456',
  APNS_TOPIC: 'com.example.agent',
}

function fails(env: Record<string, string>, setting: string) {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => err instanceof ConfigError && err.setting === setting && err.message.startsWith(setting),
  )
}

test('defaults and the region give the documented values', () => {
  const c = loadConfig(base)
  assert.equal(c.port, 8080)
  assert.equal(c.storeUrl, 'sqlite:./data/gateway.db')
  assert.equal(c.genesys.apiUrl, 'https://api.mypurecloud.ie')
  assert.equal(c.genesys.loginUrl, 'https://login.mypurecloud.ie')
  assert.equal(c.genesys.eventSource, 'notifications')
  assert.deepEqual(c.ring, { timeoutMs: 30_000, dedupWindowMs: 5_000, iosCallCancel: 'alert' })
  assert.equal(c.apns?.environment, 'production')
  assert.deepEqual(c.pushTransport, { pingAfterMs: 1_000, pingTimeoutMs: 2_000 })
})

test('push connection liveness settings are whole milliseconds within bounds', () => {
  assert.deepEqual(loadConfig({ ...base, PUSH_PING_AFTER_MS: '500', PUSH_PING_TIMEOUT_MS: '1500' }).pushTransport, {
    pingAfterMs: 500,
    pingTimeoutMs: 1_500,
  })
  fails({ ...base, PUSH_PING_AFTER_MS: '0' }, 'PUSH_PING_AFTER_MS')
  fails({ ...base, PUSH_PING_TIMEOUT_MS: '2s' }, 'PUSH_PING_TIMEOUT_MS')
  fails({ ...base, PUSH_PING_TIMEOUT: '2000' }, 'PUSH_PING_TIMEOUT')
})

test('a wrong or missing setting names the setting', () => {
  fails({ ...base, PORT: 'eighty' }, 'PORT')
  fails({ ...base, RING_TIMEOUT_S: '0' }, 'RING_TIMEOUT_S')
  fails({ ...base, STORE_URL: 'mysql://x' }, 'STORE_URL')
  fails({ ...base, GENESYS_REGION: '', GENESYS_API_URL: '' }, 'GENESYS_REGION')
  fails({ ...base, GENESYS_CLIENT_SECRET: '' }, 'GENESYS_CLIENT_SECRET')
  fails({ ...base, APNS_KEY_ID: 'short' }, 'APNS_KEY_ID')
  fails({ ...base, APNS_TOPIC: '' }, 'APNS_TOPIC')
  fails({ ...base, APNS_KEY_FILE: join(dir, 'missing.p8') }, 'APNS_KEY_FILE')
  fails({ ...base, APNS_ENVIRONMENT: 'prod' }, 'APNS_ENVIRONMENT')
  fails({ ...base, FCM_SERVICE_ACCOUNT_FILE: p8 }, 'FCM_SERVICE_ACCOUNT_FILE')
  fails({ ...base, GENESYS_EVENT_SOURCE: 'kafka' }, 'GENESYS_EVENT_SOURCE')
  fails({ ...base, IOS_CALL_CANCEL: 'pushkit' }, 'IOS_CALL_CANCEL')
  assert.equal(loadConfig({ ...base, IOS_CALL_CANCEL: 'voip' }).ring.iosCallCancel, 'voip')
})

test('a misspelt setting is an error, not silently ignored', () => {
  fails({ ...base, APNS_TOPICS: 'x' }, 'APNS_TOPICS')
})

test('the webhook source needs its shared secret, and without client credentials the organisation id', () => {
  fails({ ...base, GENESYS_EVENT_SOURCE: 'webhook' }, 'WEBHOOK_SECRET')
  const webhook = {
    ...base,
    GENESYS_EVENT_SOURCE: 'webhook',
    WEBHOOK_SECRET: 'eventbridge-shared-secret',
    GENESYS_CLIENT_ID: '',
    GENESYS_CLIENT_SECRET: '',
  }
  // No way to learn which organisation's agents may register: refuse to start rather than accept any.
  fails(webhook, 'GENESYS_ORG_ID')
  fails({ ...webhook, GENESYS_ORG_ID: 'my-org' }, 'GENESYS_ORG_ID')
  const c = loadConfig({ ...webhook, GENESYS_ORG_ID: 'A1B2C3D4-0000-4000-8000-00000000000F' })
  assert.equal(c.genesys.clientId, undefined)
  assert.equal(c.genesys.orgId, 'a1b2c3d4-0000-4000-8000-00000000000f')
  assert.equal(c.webhook?.secret, 'eventbridge-shared-secret')
})

test('queue topics need the queue ids; presences are normalised', () => {
  fails({ ...base, GENESYS_TOPICS: 'queues' }, 'GENESYS_QUEUE_IDS')
  const c = loadConfig({
    ...base,
    GENESYS_TOPICS: 'queues',
    GENESYS_QUEUE_IDS: 'q-1,q-2',
    PRESENCE_FILTER: 'soft',
    PRESENCE_SUPPRESS: 'Offline, On Queue,MEAL',
  })
  assert.deepEqual(c.genesys.queueIds, ['q-1', 'q-2'])
  assert.deepEqual(c.presence.suppress, ['offline', 'onqueue', 'meal'])
  assert.deepEqual(loadConfig(base).presence, { filter: 'off', suppress: ['offline', 'away', 'break'], lagMs: 3000 })
})

test('the redacted view carries no secret', () => {
  const text = JSON.stringify(
    redacted(
      loadConfig({ ...base, ADMIN_TOKEN: 'admin-token-0123456789', STORE_URL: 'redis://user:pw@127.0.0.1:6379' }),
    ),
  )
  assert.doesNotMatch(text, /s3cret-value|admin-token-0123456789|:pw@|PRIVATE KEY/)
})

test('device receipts: off by default; the unreachable webhook must be a safe outbound URL, checked at start and never shown whole', () => {
  const c = loadConfig(base)
  assert.deepEqual(c.reach, { unreachableAfter: 3, ttlMs: 168 * 3_600_000, action: 'off', ringRepeatMs: 0 })
  fails({ ...base, UNREACHABLE_AFTER: '0' }, 'UNREACHABLE_AFTER')
  fails({ ...base, UNREACHABLE_ACTION: 'logout' }, 'UNREACHABLE_ACTION')
  fails({ ...base, UNREACHABLE_WEBHOOK_URL: 'not a url' }, 'UNREACHABLE_WEBHOOK_URL')
  fails({ ...base, UNREACHABLE_WEBHOOK_URL: 'ftp://hooks.example.com/x' }, 'UNREACHABLE_WEBHOOK_URL')
  fails({ ...base, UNREACHABLE_WEBHOOK_URL: 'http://hooks.example.com/x' }, 'UNREACHABLE_WEBHOOK_URL')
  fails({ ...base, UNREACHABLE_WEBHOOK_URL: 'https://user:pass@hooks.example.com/x' }, 'UNREACHABLE_WEBHOOK_URL')
  fails({ ...base, UNREACHABLE_WEBHOOK_URL: 'https://hooks.example.com/x#frag' }, 'UNREACHABLE_WEBHOOK_URL')
  fails({ ...base, RING_REPEAT_S: '30' }, 'RING_REPEAT_S')
  fails({ ...base, UNREACHABLE_TYPO: '1' }, 'UNREACHABLE_TYPO')
  const { GENESYS_CLIENT_ID: _id, GENESYS_CLIENT_SECRET: _secret, ...noClient } = base
  fails(
    {
      ...noClient,
      GENESYS_EVENT_SOURCE: 'webhook',
      WEBHOOK_SECRET: 'a-shared-secret-of-16',
      GENESYS_ORG_ID: '7d1c6a57-0000-4000-8000-000000000000',
      UNREACHABLE_ACTION: 'off-queue',
    },
    'UNREACHABLE_ACTION',
  )

  const on = loadConfig({
    ...base,
    UNREACHABLE_WEBHOOK_URL: 'https://hooks.example.com/services/T000/B000/secret',
    UNREACHABLE_ACTION: 'off-queue',
    RING_REPEAT_S: '5',
    UNREACHABLE_AFTER: '2',
  })
  assert.equal(on.reach.webhookUrl, 'https://hooks.example.com/services/T000/B000/secret')
  assert.equal(on.reach.ringRepeatMs, 5_000)
  assert.equal(
    loadConfig({ ...base, UNREACHABLE_WEBHOOK_URL: 'http://127.0.0.1:9000/hook' }).reach.webhookUrl,
    'http://127.0.0.1:9000/hook',
    'plain http to this host only',
  )
  const shown = JSON.stringify(redacted(on))
  assert.ok(!shown.includes('secret'), shown)
  assert.ok(shown.includes('https://hooks.example.com/[redacted]'))
})
