// How the sandbox judges a provider token (JWT), following Apple's
// "Establishing a token-based connection to APNs":
// - header {alg: ES256, kid: <Key ID>}, claims {iss: <Team ID>, iat: <epoch seconds>}, signed ES256;
// - a token whose iat is more than one hour old is rejected (403 ExpiredProviderToken);
// - tokens may be refreshed no more often than every 20 minutes (429 TooManyProviderTokenUpdates).
import { compactVerify, decodeProtectedHeader, importSPKI } from 'jose'
import type { Clock } from '../../clock.js'

export const TOKEN_MAX_AGE_MS = 60 * 60_000
export const TOKEN_MIN_REFRESH_MS = 20 * 60_000

export interface SandboxKey {
  keyId: string
  teamId: string
  publicKeyPem: string
}

export type TokenVerdict = { ok: true; keyId: string; iat: number } | { ok: false; status: 403 | 429; reason: string }

type KeyObject = Awaited<ReturnType<typeof importSPKI>>

/** Per-connection memory of the newest iat each key has used, for the 20-minute refresh rule. */
export type ConnectionTokenState = Map<string, number>

export class ProviderTokenVerifier {
  private readonly keys = new Map<string, { teamId: string; key: Promise<KeyObject> }>()
  // Verified signatures, so 1,000 pushes with one token do not cost 1,000 ECDSA verifications.
  private readonly verified = new Map<string, { keyId: string; iat: number }>()

  constructor(
    keys: SandboxKey[],
    private readonly clock: Clock,
  ) {
    for (const k of keys) this.keys.set(k.keyId, { teamId: k.teamId, key: importSPKI(k.publicKeyPem, 'ES256') })
  }

  async check(authorization: string | undefined, conn: ConnectionTokenState): Promise<TokenVerdict> {
    if (authorization === undefined || authorization === '')
      return { ok: false, status: 403, reason: 'MissingProviderToken' }
    const match = /^bearer (.+)$/i.exec(authorization)
    if (!match?.[1]) return { ok: false, status: 403, reason: 'InvalidProviderToken' }
    const jwt = match[1]
    const claims = this.verified.get(jwt) ?? (await this.verify(jwt))
    if (!claims) return { ok: false, status: 403, reason: 'InvalidProviderToken' }
    this.verified.set(jwt, claims)

    if (this.clock.now() - claims.iat * 1000 > TOKEN_MAX_AGE_MS)
      return { ok: false, status: 403, reason: 'ExpiredProviderToken' }
    const previous = conn.get(claims.keyId)
    if (previous !== undefined && claims.iat > previous) {
      if ((claims.iat - previous) * 1000 < TOKEN_MIN_REFRESH_MS)
        return { ok: false, status: 429, reason: 'TooManyProviderTokenUpdates' }
    }
    if (previous === undefined || claims.iat > previous) conn.set(claims.keyId, claims.iat)
    return { ok: true, keyId: claims.keyId, iat: claims.iat }
  }

  private async verify(jwt: string): Promise<{ keyId: string; iat: number } | undefined> {
    let kid: unknown
    try {
      const header = decodeProtectedHeader(jwt)
      if (header.alg !== 'ES256') return undefined
      kid = header.kid
    } catch {
      return undefined
    }
    const entry = typeof kid === 'string' ? this.keys.get(kid) : undefined
    if (!entry || typeof kid !== 'string') return undefined
    try {
      const { payload } = await compactVerify(jwt, await entry.key, { algorithms: ['ES256'] })
      const claims: unknown = JSON.parse(Buffer.from(payload).toString('utf8'))
      if (typeof claims !== 'object' || claims === null) return undefined
      const { iss, iat } = claims as Record<string, unknown>
      if (iss !== entry.teamId || typeof iat !== 'number' || !Number.isInteger(iat)) return undefined
      return { keyId: kid, iat }
    } catch {
      // A bad signature or a malformed token: Apple answers InvalidProviderToken either way.
      return undefined
    }
  }
}
