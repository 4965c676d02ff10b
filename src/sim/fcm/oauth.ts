// The OAuth 2.0 side of the FCM sandbox: service-account keys and a token endpoint that grants
// access tokens for the JWT bearer grant, checking what Google checks.
// Source: Google Identity "Using OAuth 2.0 for Server to Server Applications" (JWT header
// {alg: RS256, typ: JWT, kid: private_key_id}; claims iss = client_email, scope, aud = token_uri,
// iat, exp at most one hour after iat; POST grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
// &assertion=…; answer {access_token, expires_in, token_type: "Bearer"}; failures 400 invalid_grant).
import { generateKeyPair, randomBytes, randomInt } from 'node:crypto'
import { promisify } from 'node:util'
import { compactVerify, decodeProtectedHeader, importSPKI, type CryptoKey } from 'jose'
import type { Clock } from '../../clock.js'

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging'
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const MAX_ASSERTION_LIFETIME_S = 3600
// Google tolerates some clock skew on iat; its exact allowance is undocumented, five minutes assumed.
const CLOCK_SKEW_S = 300

export interface ServiceAccountJson {
  type: 'service_account'
  project_id: string
  private_key_id: string
  /** PEM, PKCS#8, RSA 2048. */
  private_key: string
  client_email: string
  client_id: string
  token_uri: string
  auth_uri?: string
}

export interface SandboxAccount {
  clientEmail: string
  privateKeyId: string
  publicKeyPem: string
  projectId: string
}

const generateRsa = promisify(generateKeyPair)

/** A service-account key file like the Firebase console's, with a fresh RSA key (slow: ~100 ms+). */
export async function generateServiceAccount(options: {
  projectId: string
  tokenUri: string
  clientEmail?: string
}): Promise<{ json: ServiceAccountJson; publicKeyPem: string }> {
  const { publicKey, privateKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  const json: ServiceAccountJson = {
    type: 'service_account',
    project_id: options.projectId,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey,
    client_email:
      options.clientEmail ??
      `firebase-adminsdk-${randomBytes(3).toString('hex')}@${options.projectId}.iam.gserviceaccount.com`,
    client_id: `1${Array.from({ length: 20 }, () => randomInt(10)).join('')}`,
    token_uri: options.tokenUri,
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
  }
  return { json, publicKeyPem: publicKey }
}

export interface TokenAnswer {
  status: number
  body: Record<string, unknown>
}

interface Grant {
  account: SandboxAccount
  expiresAt: number
}

function oauthError(error: string, description: string): TokenAnswer {
  return { status: 400, body: { error, error_description: description } }
}

const SHORT_LIVED =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.'

export class TokenIssuer {
  tokenUri = ''
  issued = 0
  requests = 0
  private readonly grants = new Map<string, Grant>()
  private readonly keys = new Map<string, Promise<CryptoKey>>()

  constructor(
    private readonly accounts: SandboxAccount[],
    private readonly clock: Clock,
    private readonly ttlS: number,
  ) {}

  async exchange(form: URLSearchParams): Promise<TokenAnswer> {
    this.requests++
    const grantType = form.get('grant_type')
    if (grantType !== JWT_BEARER_GRANT)
      return oauthError('unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`)
    const assertion = form.get('assertion')
    if (!assertion) return oauthError('invalid_request', 'Missing required parameter: assertion')

    let claims: Record<string, unknown>
    let account: SandboxAccount | undefined
    try {
      const header = decodeProtectedHeader(assertion)
      const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as unknown
      if (typeof payload !== 'object' || payload === null) return oauthError('invalid_grant', 'Invalid JWT.')
      claims = payload as Record<string, unknown>
      account = this.accounts.find((a) => a.clientEmail === claims.iss)
      if (!account) return oauthError('invalid_grant', 'Invalid grant: account not found')
      if (header.alg !== 'RS256' || header.kid !== account.privateKeyId)
        return oauthError('invalid_grant', 'Invalid JWT Signature.')
      await compactVerify(assertion, await this.publicKey(account))
    } catch {
      // jose throws for a malformed token and for a signature that does not verify: Google says the same for both.
      return oauthError('invalid_grant', 'Invalid JWT Signature.')
    }

    const nowS = Math.floor(this.clock.now() / 1000)
    const { iat, exp } = claims
    if (typeof iat !== 'number' || typeof exp !== 'number') return oauthError('invalid_grant', SHORT_LIVED)
    if (exp - iat > MAX_ASSERTION_LIFETIME_S || exp <= iat || exp <= nowS || iat > nowS + CLOCK_SKEW_S) {
      return oauthError('invalid_grant', SHORT_LIVED)
    }
    if (claims.aud !== this.tokenUri) {
      return oauthError('invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${this.tokenUri}`)
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : []
    if (!scopes.includes(FCM_SCOPE))
      return oauthError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.')

    const accessToken = `ya29.sandbox.${randomBytes(32).toString('base64url')}`
    this.grants.set(accessToken, { account, expiresAt: this.clock.now() + this.ttlS * 1000 })
    this.issued++
    return { status: 200, body: { access_token: accessToken, expires_in: this.ttlS, token_type: 'Bearer' } }
  }

  /** The account behind an access token, 'expired', or undefined when the token was never issued. */
  lookup(accessToken: string): SandboxAccount | 'expired' | undefined {
    const grant = this.grants.get(accessToken)
    if (!grant) return undefined
    if (grant.expiresAt <= this.clock.now()) return 'expired'
    return grant.account
  }

  /** Forgets every access token issued so far, as when Google revokes them. */
  revokeAll(): void {
    this.grants.clear()
  }

  private publicKey(account: SandboxAccount): Promise<CryptoKey> {
    let key = this.keys.get(account.privateKeyId)
    if (!key) {
      key = importSPKI(account.publicKeyPem, 'RS256')
      this.keys.set(account.privateKeyId, key)
    }
    return key
  }
}
