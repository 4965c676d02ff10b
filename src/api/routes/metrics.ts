// GET /metrics for Prometheus. With ADMIN_TOKEN set it needs `Authorization: Bearer <ADMIN_TOKEN>`
// (Prometheus scrape config: `authorization: { type: Bearer, credentials_file: … }`); without
// ADMIN_TOKEN it is open, for a private network only (the README says so).
import type { FastifyInstance } from 'fastify'
import type { GatewayMetrics } from '../../observability/metrics.js'
import { adminAuth } from '../dashboard/admin-auth.js'
import { errorResponseSchema } from '../errors.js'

export function metricsRoutes(app: FastifyInstance, options: { metrics: GatewayMetrics; adminToken?: string }): void {
  app.get(
    '/metrics',
    {
      onRequest: adminAuth(options.adminToken, { open: true }),
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        description:
          'Prometheus text exposition: events, rings, cancels, suppressions, pushes by provider and outcome, devices by platform, event-source and lease state, store health, latency histograms. Needs `Authorization: Bearer <ADMIN_TOKEN>` when ADMIN_TOKEN is set.',
        security: [{ adminToken: [] }],
        response: {
          200: { description: 'Prometheus text format 0.0.4', type: 'string' },
          '4xx': { description: 'missing or wrong admin token', ...errorResponseSchema },
        },
      },
    },
    async (_req, reply) => {
      const { contentType, body } = await options.metrics.exposition()
      return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body)
    },
  )
}
