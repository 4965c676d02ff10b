// Shared setup for FCM tests: a test PKI, one (slow to make) RSA service account and a sandbox.
import { Agent, request } from 'undici'
import { SignJWT, importPKCS8 } from 'jose'
import type { TestPki } from '../../../src/sim/tls.js'
import {
  FCM_SCOPE,
  generateServiceAccount,
  startFcmSandbox,
  type FcmSandbox,
  type FcmSandboxOptions,
  type ServiceAccountJson,
} from '../../../src/sim/fcm/index.js'

export interface FcmWorld {
  pki: TestPki
  account: ServiceAccountJson
  publicKeyPem: string
  sandbox: FcmSandbox
  /** An HTTP/1.1 client that trusts the test CA. */
  agent: Agent
  close(): Promise<void>
}

export async function generateAccount(
  projectId = 'ring-test',
): Promise<{ json: ServiceAccountJson; publicKeyPem: string }> {
  return generateServiceAccount({ projectId, tokenUri: 'https://placeholder.invalid/token' })
}

export async function startWorld(
  key: { json: ServiceAccountJson; publicKeyPem: string },
  pki: TestPki,
  opts: Partial<Omit<FcmSandboxOptions, 'tls' | 'accounts'>> = {},
): Promise<FcmWorld> {
  const sandbox = await startFcmSandbox({
    ...opts,
    tls: { key: pki.key, cert: pki.cert },
    accounts: [
      {
        clientEmail: key.json.client_email,
        privateKeyId: key.json.private_key_id,
        publicKeyPem: key.publicKeyPem,
        projectId: key.json.project_id,
      },
    ],
  })
  const account = { ...key.json, token_uri: sandbox.tokenUri }
  const agent = new Agent({ connect: { ca: pki.caCert } })
  return {
    pki,
    account,
    publicKeyPem: key.publicKeyPem,
    sandbox,
    agent,
    async close() {
      await agent.close()
      await sandbox.close()
    },
  }
}

export interface AssertionOverrides {
  privateKeyPem?: string
  kid?: string
  iss?: string
  aud?: string
  scope?: string
  iat?: number
  exp?: number
}

export async function signAssertion(
  account: ServiceAccountJson,
  nowMs: number,
  o: AssertionOverrides = {},
): Promise<string> {
  const key = await importPKCS8(o.privateKeyPem ?? account.private_key, 'RS256')
  const iat = o.iat ?? Math.floor(nowMs / 1000)
  return new SignJWT({ scope: o.scope ?? FCM_SCOPE })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: o.kid ?? account.private_key_id })
    .setIssuer(o.iss ?? account.client_email)
    .setAudience(o.aud ?? account.token_uri)
    .setIssuedAt(iat)
    .setExpirationTime(o.exp ?? iat + 3600)
    .sign(key)
}

export async function postForm(
  agent: Agent,
  url: string,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(url, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  })
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> }
}

export async function postJson(
  agent: Agent,
  url: string,
  body: unknown,
  accessToken?: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, string | string[] | undefined> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (accessToken) headers.authorization = `Bearer ${accessToken}`
  const res = await request(url, { method: 'POST', dispatcher: agent, headers, body: JSON.stringify(body) })
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown>, headers: res.headers }
}
