// The Web Push endpoint rules: only push services' hosts, no IP literals however spelled, no user
// name or password, port 443 unless the allow-list names another; addresses judged at connect time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { LookupAddress } from 'node:dns'
import { DEFAULT_WEBPUSH_HOSTS, loadConfig } from '../../src/config.js'
import { WebPushEndpointPolicy, isNonPublicAddress } from '../../src/providers/webpush-endpoints.js'

const policy = new WebPushEndpointPolicy({ allowedHosts: [...DEFAULT_WEBPUSH_HOSTS, 'push.example.com:8443'] })

const accepted: Array<[string, string]> = [
  ['https://fcm.googleapis.com/fcm/send/abc:APA91b', 'https://fcm.googleapis.com/fcm/send/abc:APA91b'],
  ['https://FCM.GoogleAPIs.com:443/fcm/send/abc#frag', 'https://fcm.googleapis.com/fcm/send/abc'],
  [
    'https://updates.push.services.mozilla.com/wpush/v2/gAAAAA',
    'https://updates.push.services.mozilla.com/wpush/v2/gAAAAA',
  ],
  ['https://web.push.apple.com/QGx', 'https://web.push.apple.com/QGx'],
  ['https://wns2-par02p.notify.windows.com/w/?token=BQYAAA', 'https://wns2-par02p.notify.windows.com/w/?token=BQYAAA'],
  ['https://push.example.com:8443/p/1', 'https://push.example.com:8443/p/1'],
]
for (const [endpoint, normalised] of accepted) {
  test(`accepted and normalised: ${endpoint}`, () => {
    assert.deepEqual(policy.check(endpoint), { ok: true, endpoint: normalised })
  })
}

const refused: Array<[string, RegExp]> = [
  ['http://fcm.googleapis.com/fcm/send/a', /https/],
  ['ftp://fcm.googleapis.com/a', /https/],
  ['not a url', /https/],
  ['https://127.0.0.1/push', /IP address/],
  ['https://2130706433/push', /IP address/],
  ['https://0x7f000001/push', /IP address/],
  ['https://0177.0.0.1/push', /IP address/],
  ['https://127.1/push', /IP address/],
  ['https://169.254.169.254/latest/meta-data/', /IP address/],
  ['https://[::1]/push', /IP address/],
  ['https://[::ffff:127.0.0.1]/push', /IP address/],
  ['https://10.0.0.1/push', /IP address/],
  ['https://user:pass@fcm.googleapis.com/fcm/send/a', /user name or password/],
  ['https://fcm.googleapis.com@127.0.0.1/fcm/send/a', /user name or password/],
  ['https://fcm.googleapis.com:8443/fcm/send/a', /port 8443/],
  ['https://push.example.com/p/1', /port 443/],
  ['https://fcm.googleapis.com.attacker.example/a', /not a known push service/],
  ['https://fcm.googleapis.com./a', /not a known push service/],
  ['https://notify.windows.com/a', /not a known push service/],
  ['https://evilnotify.windows.com/a', /not a known push service/],
  ['https://localhost/push', /not a known push service/],
  ['https://metadata.google.internal/computeMetadata/v1/', /not a known push service/],
]
for (const [endpoint, reason] of refused) {
  test(`refused: ${endpoint}`, () => {
    const verdict = policy.check(endpoint)
    assert.equal(verdict.ok, false)
    assert.match(verdict.ok ? '' : verdict.reason, reason)
  })
}

test('non-public address ranges: loopback, RFC 1918, link-local, CGNAT, unique-local, multicast, mapped IPv4', () => {
  for (const address of [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.127.255.255',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1',
  ]) {
    assert.equal(isNonPublicAddress(address), true, address)
  }
  for (const address of [
    '142.250.74.10',
    '172.32.0.1',
    '100.128.0.1',
    '8.8.8.8',
    '2a00:1450:4007:80e::200a',
    '::ffff:8.8.8.8',
  ]) {
    assert.equal(isNonPublicAddress(address), false, address)
  }
})

function lookupAll(
  p: WebPushEndpointPolicy,
  host: string,
): Promise<{ err: NodeJS.ErrnoException | null; addresses: string | LookupAddress[] }> {
  return new Promise((resolve) => p.lookup(host, { all: true }, (err, addresses) => resolve({ err, addresses })))
}

test('at connect time a host resolving to loopback is refused; the sandbox host:port alone is exempt', async () => {
  const refusedLookup = await lookupAll(policy, 'localhost')
  assert.equal(refusedLookup.err?.code, 'ERR_WEBPUSH_PRIVATE_ADDRESS')
  const sandbox = new WebPushEndpointPolicy({ allowedHosts: [], sandboxHosts: ['localhost:9443'] })
  assert.equal(sandbox.isSandbox('localhost', 9443), true)
  assert.equal(sandbox.isSandbox('localhost', 9444), false)
  assert.equal(
    (await lookupAll(sandbox, 'localhost')).err?.code,
    'ERR_WEBPUSH_PRIVATE_ADDRESS',
    'the lookup itself makes no exception',
  )
  assert.equal(sandbox.check('https://localhost:9443/push/1').ok, true)
  assert.equal(sandbox.check('https://localhost:9444/push/1').ok, false, 'only the sandbox port')
})

test('WEBPUSH_ALLOWED_HOSTS replaces the list, or extends it with "default"; IP addresses and bad names are refused', () => {
  const base = {
    GENESYS_API_URL: 'https://api.example.com',
    GENESYS_LOGIN_URL: 'https://login.example.com',
    GENESYS_CLIENT_ID: 'id',
    GENESYS_CLIENT_SECRET: 'secret',
    WEBPUSH_VAPID_PUBLIC_KEY: 'B'.repeat(87),
    WEBPUSH_VAPID_PRIVATE_KEY: 'a'.repeat(43),
    WEBPUSH_SUBJECT: 'mailto:ops@example.com',
  }
  assert.deepEqual(loadConfig(base).webpush?.allowedHosts, DEFAULT_WEBPUSH_HOSTS)
  assert.deepEqual(loadConfig({ ...base, WEBPUSH_ALLOWED_HOSTS: 'push.example.com' }).webpush?.allowedHosts, [
    'push.example.com',
  ])
  assert.deepEqual(
    loadConfig({ ...base, WEBPUSH_ALLOWED_HOSTS: 'default,Push.Example.com:8443' }).webpush?.allowedHosts,
    [...DEFAULT_WEBPUSH_HOSTS, 'push.example.com:8443'],
  )
  for (const bad of [
    '10.0.0.1',
    '127.0.0.1:443',
    'https://push.example.com',
    'push.example.com/path',
    'push.example.com:70000',
    'user@push.example.com',
    '',
  ]) {
    if (bad === '') continue
    assert.throws(() => loadConfig({ ...base, WEBPUSH_ALLOWED_HOSTS: bad }), /WEBPUSH_ALLOWED_HOSTS/, bad)
  }
})
