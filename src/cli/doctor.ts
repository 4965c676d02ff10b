// push-gateway doctor: checks each configured credential for real, against the real services,
// and says what is wrong and how to fix it. Nothing reaches a phone: the APNs check pushes to a
// made-up token with apns-expiration 0 (Apple answers BadDeviceToken once the key is accepted),
// the FCM check uses validate_only (Firebase "Send messages": the message is validated, not sent).
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import { ClientCredentialsAuth, GenesysApiError, GenesysRest, createDispatcher } from '../genesys/index.js'
import { silentLogger } from '../observability/logger.js'
import { ApnsProviderToken } from '../providers/apns-token.js'
import { createProviders } from '../providers/create.js'
import { FCM_SCOPE, GoogleAccessTokenSource, GoogleAuthError } from '../providers/google-auth.js'
import { openStore } from '../store/open.js'
import { EXIT, configFrom, describeError, runCommand, type Io } from './common.js'

export const DOCTOR_USAGE = `Usage: push-gateway doctor [--config FILE] [--json]

Checks every configured credential against the real service: the store answers, Genesys Cloud
issues a token and a Notifications channel (and its WebSocket opens), the APNs key signs and
Apple accepts it, the FCM service account gets an access token and Firebase accepts it.
Nothing is sent to any phone. Prints what is wrong and how to fix it.

Exit codes: 0 every check passed, 1 a check failed, 2 bad usage or configuration.`

export interface Check {
  name: string
  status: 'ok' | 'fail' | 'skip'
  detail: string
  fix?: string
}

// A made-up APNs device token: well-formed, so Apple judges the key before the token.
const PROBE_APNS_TOKEN = '0'.repeat(64)
const PROBE_FCM_TOKEN = 'push-gateway-doctor-probe-not-a-device'

const ms = (start: number): string => `${Math.round(performance.now() - start)} ms`

async function checkStore(config: Config): Promise<Check> {
  const start = performance.now()
  try {
    const store = await openStore(config.storeUrl, { clock: systemClock, logger: silentLogger(), ...config.store })
    try {
      await store.ping()
      const { total, byPlatform } = await store.countDevices()
      const platforms = Object.entries(byPlatform)
        .map(([p, n]) => `${p} ${n}`)
        .join(', ')
      return {
        name: 'store',
        status: 'ok',
        detail: `${store.kind} answered in ${ms(start)}; ${total} device(s)${platforms ? ` (${platforms})` : ''}`,
      }
    } finally {
      await store.close()
    }
  } catch (err) {
    return {
      name: 'store',
      status: 'fail',
      detail: describeError(err),
      fix: 'check STORE_URL: the Redis server must be reachable (and its password right), or the SQLite directory writable',
    }
  }
}

function genesysFix(err: unknown, what: string): string {
  if (err instanceof GenesysApiError) {
    if (err.status === 0)
      return 'the Genesys Cloud host cannot be reached: check GENESYS_REGION (e.g. mypurecloud.ie), DNS, the proxy and the firewall'
    if (err.status === 400 || err.status === 401)
      return 'GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET are wrong or the client was deleted: in Genesys Cloud Admin > OAuth, use a Client Credentials client of this org and region'
    if (err.status === 403)
      return `the OAuth client's roles do not allow ${what}: give its role the needed permission in Genesys Cloud Admin > OAuth > Roles`
    if (err.status === 429) return 'Genesys Cloud is rate limiting this client: try again in a minute'
  }
  return 'see the message above'
}

async function checkGenesys(config: Config, ca: string | undefined): Promise<Check[]> {
  if (!config.genesys.clientId || !config.genesys.clientSecret) {
    return [
      {
        name: 'genesys token',
        status: 'skip',
        detail: `no GENESYS_CLIENT_ID (webhook source only); agents of organisation ${config.genesys.orgId ?? '?'} (GENESYS_ORG_ID) may register`,
      },
    ]
  }
  const dispatcher = createDispatcher(ca)
  const logger = silentLogger()
  const auth = new ClientCredentialsAuth({
    loginUrl: config.genesys.loginUrl,
    clientId: config.genesys.clientId,
    clientSecret: config.genesys.clientSecret,
    dispatcher,
    logger,
  })
  const checks: Check[] = []
  try {
    let start = performance.now()
    try {
      await auth.getToken()
      checks.push({
        name: 'genesys token',
        status: 'ok',
        detail: `client credentials accepted by ${config.genesys.loginUrl} in ${ms(start)}`,
      })
    } catch (err) {
      checks.push({ name: 'genesys token', status: 'fail', detail: describeError(err), fix: genesysFix(err, 'this') })
      return checks
    }
    const rest = new GenesysRest({ apiUrl: config.genesys.apiUrl, auth, dispatcher, logger, maxRetries: 0 })
    // Only agents of this organisation may register devices (the gateway compares each agent's).
    try {
      const org = await rest.getOrganization()
      const mismatch = config.genesys.orgId !== undefined && config.genesys.orgId !== org.id
      checks.push(
        mismatch
          ? {
              name: 'genesys organisation',
              status: 'fail',
              detail: `the client belongs to ${org.name ?? '?'} (${org.id}), GENESYS_ORG_ID says ${config.genesys.orgId ?? ''}`,
              fix: 'set GENESYS_ORG_ID to the organisation whose agents use this gateway (or remove it: the client credentials tell it)',
            }
          : {
              name: 'genesys organisation',
              status: 'ok',
              detail: `${org.name ?? '?'} (${org.id}): only its agents may register`,
            },
      )
    } catch (err) {
      checks.push({
        name: 'genesys organisation',
        status: 'fail',
        detail: describeError(err),
        fix: genesysFix(err, 'reading the organisation (GET /api/v2/organizations/me)'),
      })
    }
    if (config.genesys.eventSource === 'webhook') return checks
    start = performance.now()
    try {
      const channel = await rest.createChannel()
      await openSocket(channel.connectUri, ca)
      checks.push({
        name: 'genesys channel',
        status: 'ok',
        detail: `Notifications channel created and its WebSocket opened in ${ms(start)}`,
      })
    } catch (err) {
      checks.push({
        name: 'genesys channel',
        status: 'fail',
        detail: describeError(err),
        fix: genesysFix(err, 'creating Notifications channels'),
      })
    }
    return checks
  } finally {
    await dispatcher.close()
  }
}

function openSocket(url: string, ca: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...(ca ? { ca } : {}), handshakeTimeout: 10_000 })
    ws.once('open', () => {
      ws.close(1000)
      resolve()
    })
    ws.once('error', (err) => reject(new Error(`the channel's WebSocket did not open: ${err.message}`)))
  })
}

async function checkApns(config: Config, ca: string | undefined): Promise<Check[]> {
  const apns = config.apns
  if (!apns) return [{ name: 'apns', status: 'skip', detail: 'APNs not configured' }]
  const key = { keyId: apns.keyId, teamId: apns.teamId, privateKeyPem: apns.keyPem }
  try {
    await new ApnsProviderToken(key, systemClock).current()
  } catch (err) {
    return [
      {
        name: 'apns key',
        status: 'fail',
        detail: `cannot sign with ${apns.keyFile}: ${describeError(err)}`,
        fix: 'APNS_KEY_FILE must be the .p8 file downloaded from Apple Developer > Keys (an EC P-256 PKCS#8 key)',
      },
    ]
  }
  const checks: Check[] = [
    {
      name: 'apns key',
      status: 'ok',
      detail: `${apns.keyFile} signs an ES256 provider token (key ${apns.keyId}, team ${apns.teamId})`,
    },
  ]
  // The provider the gateway would use, so the check sees what a ring would see.
  const provider = createProviders(
    { apns, pushTransport: config.pushTransport },
    { clock: systemClock, logger: silentLogger(), ...(ca ? { ca } : {}), requestTimeoutMs: 10_000 },
  ).apns
  if (provider === undefined) throw new Error('unreachable: APNs is configured')
  const start = performance.now()
  try {
    const result = await provider.send({
      provider: 'apns',
      token: PROBE_APNS_TOKEN,
      environment: apns.environment,
      topic: apns.topic,
      pushType: 'alert',
      priority: 10,
      expiration: 0,
      payload: { aps: { alert: { title: 'push-gateway doctor', body: 'credential check' } } },
    })
    const where = apns.url ?? `APNs ${apns.environment}`
    if (result.kind === 'delivered' || result.kind === 'invalid-token') {
      checks.push({
        name: 'apns endpoint',
        status: 'ok',
        detail: `${where} accepted the provider token for ${apns.topic} in ${ms(start)}`,
      })
    } else if (result.kind === 'failed') {
      const fix = /TopicDisallowed|DeviceTokenNotForTopic|BadTopic/.test(result.reason)
        ? 'APNS_TOPIC must be the bundle id of an app of this team (the key must be enabled for APNs)'
        : /ProviderToken|Forbidden|403/.test(result.reason) || result.status === 403
          ? 'APNS_KEY_ID and APNS_TEAM_ID must be those of APNS_KEY_FILE (Apple Developer > Keys shows the key id; Membership shows the team id), and the key must not be revoked'
          : 'see the message above'
      checks.push({ name: 'apns endpoint', status: 'fail', detail: `${where} refused: ${result.reason}`, fix })
    } else {
      checks.push({
        name: 'apns endpoint',
        status: 'fail',
        detail: `${where} did not answer: ${result.reason}`,
        fix: 'outbound HTTPS (HTTP/2, port 443) to api.push.apple.com / api.sandbox.push.apple.com must be allowed, or APNS_URL is wrong',
      })
    }
  } finally {
    await provider.close()
  }
  return checks
}

async function checkFcm(config: Config, ca: string | undefined): Promise<Check[]> {
  const fcm = config.fcm
  if (!fcm) return [{ name: 'fcm', status: 'skip', detail: 'FCM not configured' }]
  const account = fcm.serviceAccount
  const dispatcher = createDispatcher(ca)
  try {
    const tokens = new GoogleAccessTokenSource({
      key: account,
      scope: FCM_SCOPE,
      dispatcher,
      clock: systemClock,
      logger: silentLogger(),
    })
    let access: string
    let start = performance.now()
    try {
      access = await tokens.get()
    } catch (err) {
      const refused = err instanceof GoogleAuthError && !err.retryable
      return [
        {
          name: 'fcm token',
          status: 'fail',
          detail: `${account.client_email}: ${describeError(err)}`,
          fix: refused
            ? 'the service-account key was refused (deleted, disabled or from another project): download a new key in Firebase console > Project settings > Service accounts and point FCM_SERVICE_ACCOUNT_FILE at it'
            : `the token endpoint ${account.token_uri} cannot be reached: allow outbound HTTPS to it`,
        },
      ]
    }
    const checks: Check[] = [
      { name: 'fcm token', status: 'ok', detail: `access token for ${account.client_email} in ${ms(start)}` },
    ]
    start = performance.now()
    const res = await request(`${fcm.url}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json' },
      body: JSON.stringify({ validate_only: true, message: { token: PROBE_FCM_TOKEN, data: { action: 'doctor' } } }),
    }).catch((err: unknown) => err as Error)
    if (res instanceof Error) {
      checks.push({
        name: 'fcm endpoint',
        status: 'fail',
        detail: `${fcm.url}: ${describeError(res)}`,
        fix: 'allow outbound HTTPS to fcm.googleapis.com, or FCM_URL is wrong',
      })
      return checks
    }
    const text = await res.body.text()
    // 200 (valid) or 400 INVALID_ARGUMENT about the made-up token: the credentials were accepted.
    if (res.statusCode === 200 || res.statusCode === 400) {
      checks.push({
        name: 'fcm endpoint',
        status: 'ok',
        detail: `Firebase accepted the credentials for project ${account.project_id} in ${ms(start)}`,
      })
    } else {
      const fix =
        res.statusCode === 403 || res.statusCode === 404
          ? `the service account may not send for project "${account.project_id}": enable the Firebase Cloud Messaging API and use a key of that project (its role needs cloudmessaging.messages.create)`
          : res.statusCode === 401
            ? 'the access token was refused: the key may have been revoked; download a new one'
            : 'see the message above'
      checks.push({
        name: 'fcm endpoint',
        status: 'fail',
        detail: `HTTP ${res.statusCode}: ${text.slice(0, 200)}`,
        fix,
      })
    }
    return checks
  } finally {
    await dispatcher.close()
  }
}

/** Runs every check (independent ones in parallel) and prints them; resolves with the exit code. */
export async function runDoctor(
  config: Config,
  io: Io,
  options: { json?: boolean } = {},
): Promise<{ code: number; checks: Check[] }> {
  const groups = await Promise.all([
    checkStore(config).then((c) => [c]),
    checkGenesys(config, io.ca),
    checkApns(config, io.ca),
    checkFcm(config, io.ca),
  ])
  const checks = groups.flat()
  const code = checks.some((c) => c.status === 'fail') ? EXIT.failed : EXIT.ok
  if (options.json) {
    io.out(JSON.stringify({ ok: code === EXIT.ok, checks }, null, 2))
  } else {
    for (const c of checks) {
      io.out(
        `${c.status === 'ok' ? '  ok  ' : c.status === 'skip' ? '  --  ' : '  FAIL'}  ${c.name.padEnd(16)} ${c.detail}`,
      )
      if (c.fix) io.out(`        ${''.padEnd(16)} fix: ${c.fix}`)
    }
    io.out(
      code === EXIT.ok
        ? '\nEverything the gateway needs answered.'
        : `\n${checks.filter((c) => c.status === 'fail').length} check(s) failed.`,
    )
  }
  return { code, checks }
}

export async function doctorCommand(args: string[], io: Io): Promise<number> {
  return runCommand(io, async () => {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    })
    if (values.help) return (io.out(DOCTOR_USAGE), EXIT.ok)
    const config = configFrom(values.config)
    return (await runDoctor(config, io, { json: values.json === true })).code
  })
}
