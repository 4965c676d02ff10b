// One APNs provider token (JWT) per signing key, shared by every request and connection.
// Apple, "Establishing a token-based connection to APNs": header {alg: ES256, kid}, claims
// {iss: Team ID, iat}; refresh no more often than every 20 minutes and no less often than every
// 60 (a token older than an hour is rejected, and reissuing too often is answered 429
// TooManyProviderTokenUpdates). Signing per request would break the second rule.
import { SignJWT, importPKCS8 } from 'jose'
import type { Clock } from '../clock.js'

export const MIN_REFRESH_MS = 20 * 60_000
export const MAX_TOKEN_AGE_MS = 60 * 60_000
export const DEFAULT_REFRESH_MS = 50 * 60_000

export interface ApnsSigningKey {
  keyId: string
  teamId: string
  /** PKCS#8 PEM (.p8). */
  privateKeyPem: string
}

interface Issued {
  jwt: string
  issuedAt: number
}

/** Clamps a configured refresh interval into Apple's window [20, 60) minutes. */
export function clampRefreshMs(ms: number | undefined): number {
  if (ms === undefined || !Number.isFinite(ms)) return DEFAULT_REFRESH_MS
  return Math.min(Math.max(ms, MIN_REFRESH_MS), MAX_TOKEN_AGE_MS - 60_000)
}

export class ApnsProviderToken {
  private readonly key: ReturnType<typeof importPKCS8>
  private issued: Issued | undefined
  private signing: Promise<Issued> | undefined
  private readonly refreshMs: number

  constructor(
    private readonly signingKey: ApnsSigningKey,
    private readonly clock: Clock,
    refreshMs?: number,
  ) {
    this.refreshMs = clampRefreshMs(refreshMs)
    this.key = importPKCS8(signingKey.privateKeyPem, 'ES256')
    // A bad key surfaces on the first send; keep the rejection from being reported as unhandled.
    this.key.catch(() => undefined)
  }

  /** The current token when it needs no renewal: read on every push, without a promise. */
  fresh(): string | undefined {
    const issued = this.issued
    return issued && this.clock.now() - issued.issuedAt < this.refreshMs ? issued.jwt : undefined
  }

  /** The current token, renewed once it is `refreshMs` old. Concurrent callers share one signing. */
  async current(): Promise<string> {
    const issued = this.issued
    if (issued && this.clock.now() - issued.issuedAt < this.refreshMs) return issued.jwt
    return (await this.renew()).jwt
  }

  /**
   * After APNs answered ExpiredProviderToken for `rejected`: the token to retry with, or
   * undefined when renewing now would break the 20-minute rule (then the clocks disagree and
   * retrying cannot help). A token already replaced by another request is simply reused.
   */
  async afterExpired(rejected: string): Promise<string | undefined> {
    const issued = this.issued
    if (issued && issued.jwt !== rejected) return issued.jwt
    if (issued && this.clock.now() - issued.issuedAt < MIN_REFRESH_MS) return undefined
    return (await this.renew()).jwt
  }

  private renew(): Promise<Issued> {
    this.signing ??= this.sign().finally(() => {
      this.signing = undefined
    })
    return this.signing
  }

  private async sign(): Promise<Issued> {
    const issuedAt = this.clock.now()
    const jwt = await new SignJWT({ iss: this.signingKey.teamId, iat: Math.floor(issuedAt / 1000) })
      .setProtectedHeader({ alg: 'ES256', kid: this.signingKey.keyId })
      .sign(await this.key)
    this.issued = { jwt, issuedAt }
    return this.issued
  }
}
