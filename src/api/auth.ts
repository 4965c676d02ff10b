// An agent acts only for the Genesys user its own bearer token belongs to: the user id comes from
// Genesys (GET /api/v2/users/me), never from the request body.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from './errors.js'

export interface AgentResolver {
  resolve(bearerToken: string): Promise<{ userId: string; name?: string }>
}

// Genesys access tokens are opaque URL-safe strings; anything else is refused before Genesys is asked.
const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{8,4096})$/

declare module 'fastify' {
  interface FastifyRequest {
    agent?: { userId: string; name?: string }
  }
}

export function agentAuth(resolver: AgentResolver) {
  return async function authenticate(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = req.headers.authorization
    if (!header)
      throw new ApiError(401, 'UNAUTHORIZED', 'missing Authorization: Bearer <Genesys Cloud access token>', {
        'www-authenticate': 'Bearer',
      })
    const match = BEARER.exec(header)
    if (!match?.[1])
      throw new ApiError(400, 'MALFORMED_TOKEN', 'Authorization must be "Bearer <Genesys Cloud access token>"')
    req.agent = await resolver.resolve(match[1])
  }
}
