// POST /api/v1/events: the webhook source's door (Amazon EventBridge API destinations, relays that
// post event-stream events). Authenticated by a shared secret in the `x-webhook-secret` header (an
// EventBridge connection of type API key sends a header of the configured name and value with every
// delivery), compared in constant time. 202 once accepted (a duplicate too: EventBridge must stop
// retrying it), 400 for a body that is not an event, 401 without the right secret, 413 above the limit.
import { createHash, timingSafeEqual } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { ApiError, errorResponseSchema } from '../errors.js'
import type { WebhookSource } from '../../sources/webhook.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the webhook request arrived: the start of its latency. */
    receivedAtHr?: number
  }
}

export const WEBHOOK_SECRET_HEADER = 'x-webhook-secret'

export interface EventsRouteOptions {
  webhook: WebhookSource
  secret: string
  /** EventBridge events are at most 256 KB; a conversation snapshot is a few KB. */
  bodyLimit?: number
}

/** Hashing first makes both sides the same length, so the comparison leaks neither content nor length. */
export function secretMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export function eventsRoutes(app: FastifyInstance, options: EventsRouteOptions): void {
  app.post(
    '/api/v1/events',
    {
      bodyLimit: options.bodyLimit ?? 256 * 1024,
      // Checked before the body is read: an unauthenticated sender costs no JSON parsing.
      onRequest: async (req) => {
        req.receivedAtHr = performance.now()
        const header = req.headers[WEBHOOK_SECRET_HEADER]
        if (!secretMatches(Array.isArray(header) ? header[0] : header, options.secret)) {
          throw new ApiError(401, 'UNAUTHORIZED', `missing or wrong ${WEBHOOK_SECRET_HEADER} header`)
        }
      },
      schema: {
        tags: ['events'],
        summary: 'Receive Genesys events (webhook source)',
        description:
          "Amazon EventBridge events as an API destination posts them (detail-type = the Genesys topic; conversation topics and v2.detail.events.conversation.{id}.user.start/.user.end) or event-stream events {eventType, data} (the design guide's protocol); one event or an array of up to 100. Needs the x-webhook-secret header. 202 once accepted (a repeated event id too), 400 not an event, 401 wrong secret, 413 above 256 KB.",
        response: {
          202: {
            type: 'object',
            properties: { accepted: { type: 'integer' }, duplicates: { type: 'integer' }, events: { type: 'integer' } },
          },
          400: errorResponseSchema,
          401: errorResponseSchema,
        },
      },
    },
    async (req, reply) => {
      const outcome = await options.webhook.accept(req.body, req.receivedAtHr)
      if (outcome.status === 400) throw new ApiError(400, 'INVALID_EVENT', outcome.message)
      return reply
        .code(202)
        .send({ accepted: outcome.accepted, duplicates: outcome.duplicates, events: outcome.events })
    },
  )
}
