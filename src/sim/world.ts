// The whole test world in one call: a throwaway PKI, the Genesys Cloud simulator, and the APNs and
// FCM sandboxes, all over TLS on loopback, plus the settings that point a gateway at them.
// Shared by the demo, the end-to-end tests and the benchmarks so they all exercise the same world.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Clock } from '../clock.js'
import { createTestPki, type TestPki } from './tls.js'
import { startGenesysSim, type GenesysSim, type GenesysSimOptions } from './genesys/index.js'
import { generateApnsKey, startApnsSandbox, type ApnsKeyMaterial, type ApnsSandbox } from './apns/index.js'
import { generateServiceAccount, startFcmSandbox, type FcmSandbox, type ServiceAccountJson } from './fcm/index.js'
import webpushLib from 'web-push'
import { startWebPushSandbox, type WebPushSandbox } from './webpush/index.js'

export interface TestWorldOptions {
  clock?: Clock
  genesys?: Omit<GenesysSimOptions, 'tls' | 'clock'>
  bundleId?: string
  projectId?: string
  /** The APNs sandbox's `keepAccepted` (default true). */
  keepAcceptedPushes?: boolean
}

export interface TestWorld {
  pki: TestPki
  /** The CA as a file, for NODE_EXTRA_CA_CERTS in a child process. */
  caFile: string
  /** A private temporary directory holding the key files; removed by close(). */
  dir: string
  genesys: GenesysSim
  apns: ApnsSandbox
  fcm: FcmSandbox
  /** A Web Push service; `webpush.subscribe({ applicationServerKey: vapid.publicKey })` is a browser subscribing. */
  webpush: WebPushSandbox
  /** The sandbox's `host:port`, for the gateway's explicit `webPushSandboxHosts` (it is on loopback). */
  webPushSandboxHost: string
  vapid: { publicKey: string; privateKey: string; subject: string }
  client: { clientId: string; clientSecret: string }
  apnsKey: ApnsKeyMaterial
  serviceAccount: ServiceAccountJson
  bundleId: string
  /** Settings (environment variable names) that point a gateway at this world. */
  env: Record<string, string>
  close(): Promise<void>
}

// The worlds' directories hold private keys (the APNs key, the service account, the CA's key
// material): removed on every exit of the process, not only by close(): a second Ctrl-C, a
// closed stdout or an uncaught error exits without it. (SIGKILL leaves them, in a 0700 directory.)
const openDirs = new Set<string>()
function removeOpenDirs(): void {
  for (const dir of openDirs) rmSync(dir, { recursive: true, force: true })
}

export async function startTestWorld(options: TestWorldOptions = {}): Promise<TestWorld> {
  const bundleId = options.bundleId ?? 'com.example.agent'
  const projectId = options.projectId ?? 'genesys-push-demo'
  const dir = mkdtempSync(join(tmpdir(), 'push-gw-world-'))
  if (openDirs.size === 0) process.on('exit', removeOpenDirs)
  openDirs.add(dir)
  const [pki, apnsKey, account] = await Promise.all([
    createTestPki(),
    generateApnsKey(),
    // The token URI is only known once the sandbox listens; it is filled in below.
    generateServiceAccount({ projectId, tokenUri: 'https://localhost/token' }),
  ])
  const tls = { key: pki.key, cert: pki.cert }
  const clock = options.clock ? { clock: options.clock } : {}
  const [genesys, apns, fcm, webpush] = await Promise.all([
    startGenesysSim({ ...options.genesys, tls, ...clock }),
    startApnsSandbox({
      tls,
      keys: [apnsKey],
      topics: [bundleId],
      ...clock,
      ...(options.keepAcceptedPushes === false ? { keepAccepted: false } : {}),
    }),
    startFcmSandbox({
      tls,
      accounts: [
        {
          clientEmail: account.json.client_email,
          privateKeyId: account.json.private_key_id,
          publicKeyPem: account.publicKeyPem,
          projectId,
        },
      ],
      ...clock,
    }),
    startWebPushSandbox({ tls, ...clock }),
  ])
  const vapid = { ...webpushLib.generateVAPIDKeys(), subject: 'mailto:ops@example.com' }
  const serviceAccount: ServiceAccountJson = { ...account.json, token_uri: fcm.tokenUri }
  const client = genesys.addClient()

  const caFile = join(dir, 'ca.pem')
  const keyFile = join(dir, `AuthKey_${apnsKey.keyId}.p8`)
  const accountFile = join(dir, 'firebase-service-account.json')
  writeFileSync(caFile, pki.caCert)
  writeFileSync(keyFile, apnsKey.privateKeyPem, { mode: 0o600 })
  writeFileSync(accountFile, JSON.stringify(serviceAccount, null, 2), { mode: 0o600 })

  const env: Record<string, string> = {
    GENESYS_API_URL: genesys.url,
    GENESYS_LOGIN_URL: genesys.url,
    GENESYS_CLIENT_ID: client.clientId,
    GENESYS_CLIENT_SECRET: client.clientSecret,
    APNS_KEY_FILE: keyFile,
    APNS_KEY_ID: apnsKey.keyId,
    APNS_TEAM_ID: apnsKey.teamId,
    APNS_TOPIC: bundleId,
    APNS_ENVIRONMENT: 'sandbox',
    APNS_URL: apns.url,
    FCM_SERVICE_ACCOUNT_FILE: accountFile,
    FCM_URL: fcm.url,
    WEBPUSH_VAPID_PUBLIC_KEY: vapid.publicKey,
    WEBPUSH_VAPID_PRIVATE_KEY: vapid.privateKey,
    WEBPUSH_SUBJECT: vapid.subject,
  }

  return {
    pki,
    caFile,
    dir,
    genesys,
    apns,
    fcm,
    webpush,
    webPushSandboxHost: new URL(webpush.url).host,
    vapid,
    client,
    apnsKey,
    serviceAccount,
    bundleId,
    env,
    async close() {
      await Promise.allSettled([genesys.close(), apns.close(), fcm.close(), webpush.close()])
      rmSync(dir, { recursive: true, force: true })
      openDirs.delete(dir)
      if (openDirs.size === 0) process.off('exit', removeOpenDirs)
    },
  }
}
