// Every error the HTTP API returns has one shape: { "error": { "code", "message" } }, with a
// stable code a client can branch on. Unknown failures are 500 without internals in the body.
import type { FastifyError, FastifyInstance } from 'fastify'
import { AgentAuthError, GenesysApiError } from '../genesys/errors.js'
import { StoreError } from '../store/store.js'

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } }
}

export const errorResponseSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const

/**
 * The path as echoed in a 404: long segments (a device token in a mistyped URL) cut to 8 characters,
 * as in the logs, so an error body (or a proxy that logs bodies) never carries a full token.
 */
export function shortPath(url: string): string {
  const path = (url.split('?')[0] ?? '').slice(0, 512)
  return path.replace(/[^/]{17,}/g, (segment) => `${segment.slice(0, 8)}…`)
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('NOT_FOUND', `no route for ${req.method.slice(0, 16)} ${shortPath(req.url)}`))
  })
  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.statusCode).headers(err.headers).send(errorBody(err.code, err.message))
    }
    if (err instanceof AgentAuthError) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send(errorBody('UNAUTHORIZED', err.publicMessage ?? 'Genesys Cloud did not accept this access token'))
    }
    if (err instanceof StoreError) {
      req.log.warn({ err }, 'store step failed; answered 503')
      return reply
        .code(503)
        .header('retry-after', '5')
        .send(errorBody('STORE_UNAVAILABLE', 'the device store is unavailable; try again shortly'))
    }
    if (err instanceof GenesysApiError) {
      req.log.warn({ err: { code: err.code, message: err.message } }, 'Genesys Cloud could not verify an agent token')
      return reply
        .code(err.transient ? 503 : 502)
        .header('retry-after', '5')
        .send(
          errorBody(
            'GENESYS_UNAVAILABLE',
            'Genesys Cloud could not verify the access token right now; try again shortly',
          ),
        )
    }
    const fe = err as FastifyError
    if (fe.validation) {
      const first = fe.validation[0]
      const where = first?.instancePath
        ? `${fe.validationContext ?? 'body'}${first.instancePath.replace(/\//g, '.')}`
        : (fe.validationContext ?? 'body')
      return reply.code(400).send(errorBody('INVALID_REQUEST', `${where} ${first?.message ?? 'is invalid'}`))
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      // Fastify's own client errors: bad JSON, wrong content type, body too large.
      return reply.code(fe.statusCode).send(errorBody(fe.code ?? 'BAD_REQUEST', fe.message))
    }
    req.log.error({ err }, 'unhandled error')
    return reply.code(500).send(errorBody('INTERNAL', 'internal error'))
  })
}
