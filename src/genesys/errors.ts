// Errors thrown at the Genesys edge carry a stable code (undici's UND_ERR_* style) so callers can
// map them (the HTTP API turns GENESYS_UNREACHABLE into 503, GENESYS_TOKEN_REJECTED into 401).

export class GenesysApiError extends Error {
  /** 'GENESYS_HTTP_<status>' or 'GENESYS_UNREACHABLE'. */
  readonly code: string
  /** HTTP status, or 0 when Genesys could not be reached. */
  readonly status: number
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GenesysApiError'
    this.status = status
    this.code = status === 0 ? 'GENESYS_UNREACHABLE' : `GENESYS_HTTP_${status}`
  }

  /** Worth trying again later: rate limited, a Genesys-side failure, or no answer at all. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500
  }
}

/** A mobile agent's own Genesys token was refused (expired, revoked, not a user token, or another organisation's). */
export class AgentAuthError extends Error {
  readonly code = 'GENESYS_TOKEN_REJECTED'
  readonly status: number
  /** Safe to show the caller (the API's 401 body); the default message stays generic. */
  readonly publicMessage: string | undefined
  constructor(status: number, message: string, publicMessage?: string) {
    super(message)
    this.name = 'AgentAuthError'
    this.status = status
    this.publicMessage = publicMessage
  }
}
