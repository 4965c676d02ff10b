// Admin queries behind `Authorization: Bearer <ADMIN_TOKEN>`: the audit log (why did a phone not
// ring?) and the providers' configuration alarms. Without ADMIN_TOKEN they answer 403 ADMIN_DISABLED.
import type { FastifyInstance } from 'fastify'
import type { ProviderAlarm } from '../../dispatch/alarms.js'
import type { ReachState } from '../../reach/state.js'
import type { AgentView } from '../../reach/tracker.js'
import type { AuditEntry, AuditQuery } from '../../ring/audit.js'
import { adminAuth } from '../dashboard/admin-auth.js'
import { GENESYS_ID_PATTERN } from '../device-token.js'
import { errorResponseSchema } from '../errors.js'

export interface AdminRouteOptions {
  adminToken?: string
  audit: { query(q: AuditQuery): AuditEntry[]; readonly size: number }
  alarms: { active(): ProviderAlarm[] }
  /** GET /api/v1/admin/reachability: agents' phones as their receipts show them. */
  reachability?: { agents(state?: ReachState): Promise<AgentView[]> }
}

const ID = GENESYS_ID_PATTERN

export function adminRoutes(app: FastifyInstance, options: AdminRouteOptions): void {
  const requireAdmin = adminAuth(options.adminToken)

  app.get<{ Querystring: { userId?: string; conversationId?: string; limit?: string } }>(
    '/api/v1/admin/audit',
    {
      onRequest: requireAdmin,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            userId: { type: 'string', pattern: ID },
            conversationId: { type: 'string', pattern: ID },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
          },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (req) => {
      const { userId, conversationId, limit } = req.query
      const entries = options.audit.query({
        ...(userId ? { userId } : {}),
        ...(conversationId ? { conversationId } : {}),
        limit: limit ? Number(limit) : 100,
      })
      return { entries: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), retained: options.audit.size }
    },
  )

  const reachability = options.reachability
  if (reachability) {
    app.get<{ Querystring: { state?: ReachState } }>(
      '/api/v1/admin/reachability',
      {
        onRequest: requireAdmin,
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { state: { type: 'string', enum: ['reachable', 'unreachable', 'unknown'] } },
          },
          response: { '4xx': errorResponseSchema },
        },
      },
      async (req) => ({ agents: await reachability.agents(req.query.state) }),
    )
  }

  app.get(
    '/api/v1/admin/alarms',
    { onRequest: requireAdmin, schema: { response: { '4xx': errorResponseSchema } } },
    async () => ({
      alarms: options.alarms.active().map((a) => ({ ...a, since: new Date(a.since).toISOString() })),
    }),
  )
}
