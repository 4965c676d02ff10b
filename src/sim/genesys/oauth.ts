// Login service: OAuth client credentials as Genesys Cloud's login.<region>/oauth/token does it,
// plus user tokens (what an agent's app gets from the implicit / auth-code grant), which the
// simulator issues directly because the gateway only ever validates them (GET /api/v2/users/me).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../../clock.js'
import { readBody, sendJson } from './http.js'

export interface OAuthClient {
  clientId: string
  clientSecret: string
  tokenTtlS: number
}

export interface AccessToken {
  token: string
  clientId: string
  /** Set for user tokens only; client-credentials tokens have no user context. */
  userId?: string
  /** Set for a user of another organisation (same region and login service); absent: the simulator's own. */
  orgId?: string
  expiresAt: number
  revoked: boolean
}

/** The OAuth client the simulator pretends agents' apps log in with (implicit grant). */
export const AGENT_APP_CLIENT_ID = 'sim-agent-app'

// Genesys default token lifetime for a client-credentials client is 86400 s (a client setting).
const DEFAULT_TTL_S = 86_400

export class OAuthService {
  private readonly clients = new Map<string, OAuthClient>()
  private readonly tokens = new Map<string, AccessToken>()

  constructor(private readonly clock: Clock) {}

  addClient(options: { clientId?: string; clientSecret?: string; tokenTtlS?: number } = {}): OAuthClient {
    const client = {
      clientId: options.clientId ?? randomUUID(),
      clientSecret: options.clientSecret ?? randomBytes(24).toString('base64url'),
      tokenTtlS: options.tokenTtlS ?? DEFAULT_TTL_S,
    }
    this.clients.set(client.clientId, client)
    return client
  }

  issue(clientId: string, ttlS: number, userId?: string, orgId?: string): AccessToken {
    const t: AccessToken = {
      token: randomBytes(32).toString('base64url'),
      clientId,
      expiresAt: this.clock.now() + ttlS * 1000,
      revoked: false,
      ...(userId ? { userId } : {}),
      ...(orgId ? { orgId } : {}),
    }
    this.tokens.set(t.token, t)
    return t
  }

  revoke(token: string): void {
    const t = this.tokens.get(token)
    if (t) t.revoked = true
  }

  /** The live token for a bearer string, or undefined when unknown, expired or revoked. */
  validate(token: string): AccessToken | undefined {
    const t = this.tokens.get(token)
    if (!t || t.revoked) return undefined
    if (this.clock.now() >= t.expiresAt) return undefined
    return t
  }

  async handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Errors follow RFC 6749 §5.2 as Genesys' login service answers them ({error, description,
    // error_description}), not the API's ErrorBody.
    const oauthError = (status: number, error: string, description: string): void =>
      sendJson(res, status, { error, description, error_description: description })

    if (req.method !== 'POST') return oauthError(405, 'invalid_request', 'method not allowed')
    const creds = parseBasic(req.headers.authorization)
    const client = creds ? this.clients.get(creds.id) : undefined
    if (!creds || !client || !safeEqual(client.clientSecret, creds.secret)) {
      return oauthError(401, 'invalid_client', 'client not found')
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    const body = await readBody(req, 10_000)
    if (type !== 'application/x-www-form-urlencoded') {
      return oauthError(400, 'invalid_request', 'content type must be application/x-www-form-urlencoded')
    }
    const grant = new URLSearchParams(body).get('grant_type')
    if (grant !== 'client_credentials') {
      return oauthError(
        400,
        'unsupported_grant_type',
        `grant type ${grant ?? '(none)'} is not supported for this client`,
      )
    }
    const t = this.issue(client.clientId, client.tokenTtlS)
    sendJson(res, 200, { access_token: t.token, token_type: 'bearer', expires_in: client.tokenTtlS })
  }
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header?.toLowerCase().startsWith('basic ')) return undefined
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const i = decoded.indexOf(':')
  if (i < 0) return undefined
  return { id: decoded.slice(0, i), secret: decoded.slice(i + 1) }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
