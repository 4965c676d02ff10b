// The operator's credential: `Authorization: Bearer <ADMIN_TOKEN>` on /metrics (Prometheus:
// `authorization: { credentials_file: … }`), on the dashboard's data and on other admin routes.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/**
 * An onRequest hook that admits only the admin bearer token. Compared through SHA-256 digests with
 * timingSafeEqual, so neither the content nor the length of the token leaks through timing.
 * Without a configured token: `open` routes are served to anyone, the others answer 403.
 */
export function adminAuth(adminToken: string | undefined, options: { open?: boolean } = {}) {
  const expected = adminToken ? digest(adminToken) : undefined
  return async function requireAdmin(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (!expected) {
      if (options.open) return
      throw new ApiError(403, 'ADMIN_DISABLED', 'admin access is off: set ADMIN_TOKEN on the gateway to use it')
    }
    const header = req.headers.authorization
    const match = header ? /^Bearer (\S{1,1024})$/.exec(header) : null
    if (!match?.[1])
      throw new ApiError(401, 'UNAUTHORIZED', 'missing Authorization: Bearer <ADMIN_TOKEN>', {
        'www-authenticate': 'Bearer realm="push-gateway admin"',
      })
    if (!timingSafeEqual(digest(match[1]), expected)) {
      throw new ApiError(401, 'UNAUTHORIZED', 'wrong admin token', {
        'www-authenticate': 'Bearer realm="push-gateway admin", error="invalid_token"',
      })
    }
  }
}
