import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../../src/config.js'
import { isRedisUrl, parseRedisUrl } from '../../src/store/redis-url.js'

test('a Sentinel STORE_URL names the sentinels, the master, the db, the credentials and the key prefix', () => {
  const target = parseRedisUrl(
    'redis+sentinel://app:p%40ss@10.0.0.1:26379,sentinel-b,[::1]:26380/mymaster/2?prefix=gw1:&sentinelPassword=sp',
  )
  assert.equal(target.url, undefined)
  assert.equal(target.keyPrefix, 'gw1:')
  assert.deepEqual(target.sentinel, {
    sentinels: [
      { host: '10.0.0.1', port: 26379 },
      { host: 'sentinel-b', port: 26379 },
      { host: '::1', port: 26380 },
    ],
    name: 'mymaster',
    db: 2,
    username: 'app',
    password: 'p@ss',
    sentinelPassword: 'sp',
  })
  const tls = parseRedisUrl('rediss+sentinel://s1:26379/primary')
  assert.deepEqual(
    [
      tls.sentinel?.tls,
      tls.sentinel?.sentinelTLS,
      tls.sentinel?.enableTLSForSentinelMode,
      tls.sentinel?.db,
      tls.keyPrefix,
    ],
    [{}, {}, true, 0, 'pgw:'],
  )
  assert.equal(parseRedisUrl('redis+sentinel://s1/primary', 'override:').keyPrefix, 'override:')
})

test('a malformed Sentinel URL is refused without echoing its password', () => {
  for (const url of [
    'redis+sentinel://u:s3cret@h1:26379',
    'redis+sentinel://u:s3cret@h1:99999/m',
    'redis+sentinel://u:s3cret@h1/m?timeout=5',
    'redis+sentinel://u:s3cret@h1/bad name',
  ]) {
    assert.throws(
      () => parseRedisUrl(url),
      (err: Error) => {
        assert.match(err.message, /^STORE_URL: /)
        assert.doesNotMatch(err.message, /s3cret/)
        return true
      },
      url,
    )
  }
})

test('plain Redis URLs keep working: the prefix parameter is taken out, the rest left to ioredis', () => {
  assert.deepEqual(parseRedisUrl('redis://h:6379/1?prefix=a:&family=6'), {
    url: 'redis://h:6379/1?family=6',
    keyPrefix: 'a:',
  })
  assert.deepEqual(
    ['redis://h', 'rediss://h', 'redis+sentinel://h/m', 'rediss+sentinel://h/m', 'sqlite:x', 'dynamodb://t'].map(
      isRedisUrl,
    ),
    [true, true, true, true, false, false],
  )
})

// The least configuration loadConfig accepts: Genesys credentials and one push service.
const minimal = {
  GENESYS_REGION: 'mypurecloud.com',
  GENESYS_CLIENT_ID: 'id',
  GENESYS_CLIENT_SECRET: 'secret',
  WEBPUSH_VAPID_PUBLIC_KEY: 'B'.repeat(87),
  WEBPUSH_VAPID_PRIVATE_KEY: 'p'.repeat(43),
  WEBPUSH_SUBJECT: 'mailto:ops@example.com',
}

test('REDIS_WAIT_REPLICAS is validated and only accepted with a Redis store', () => {
  const base = minimal
  const config = loadConfig({
    ...base,
    STORE_URL: 'redis+sentinel://s1:26379,s2:26379/mymaster',
    REDIS_WAIT_REPLICAS: '1',
    REDIS_WAIT_TIMEOUT_MS: '500',
  })
  assert.deepEqual(config.store, { waitReplicas: 1, waitTimeoutMs: 500, replyTimeoutMs: 2_000, createTables: false })
  assert.throws(
    () => loadConfig({ ...base, REDIS_WAIT_REPLICAS: '1' }),
    /REDIS_WAIT_REPLICAS: applies only to a Redis STORE_URL/,
  )
  assert.throws(
    () => loadConfig({ ...base, STORE_URL: 'redis://h', REDIS_WAIT_REPLICAS: 'one' }),
    /REDIS_WAIT_REPLICAS: must be a whole number/,
  )
  assert.throws(() => loadConfig({ ...base, REDIS_WAIT_REPLICA: '1' }), /REDIS_WAIT_REPLICA: unknown setting/)
})

test('REDIS_REPLY_TIMEOUT_MS: 2 s by default, and longer than the WAIT it would otherwise cut short', () => {
  const base = { ...minimal, STORE_URL: 'redis://h' }
  assert.equal(loadConfig(base).store.replyTimeoutMs, 2_000)
  assert.equal(loadConfig({ ...base, REDIS_REPLY_TIMEOUT_MS: '750' }).store.replyTimeoutMs, 750)
  assert.throws(() => loadConfig({ ...base, REDIS_REPLY_TIMEOUT_MS: '50' }), /REDIS_REPLY_TIMEOUT_MS: /)
  assert.throws(
    () => loadConfig({ ...base, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '3000' }),
    /REDIS_REPLY_TIMEOUT_MS: must be longer than REDIS_WAIT_TIMEOUT_MS \(3000\)/,
  )
  assert.throws(() => loadConfig({ ...base, REDIS_REPLY_TIMEOUT: '1' }), /REDIS_REPLY_TIMEOUT: unknown setting/)
})
