// The OpenAPI description of the HTTP API, generated from the route schemas (which are also the
// request validation, so the description cannot drift from what the gateway accepts): JSON at
// /docs/json, the Swagger UI at /docs. Must be registered before the routes it describes.
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifySchema } from 'fastify'
import { readFileSync } from 'node:fs'

// Descriptions for routes whose schema does not carry one yet (they are defined in other modules);
// a route's own `description` always wins. test/api/docs.test.ts fails for a route with neither.
const FALLBACK: Record<
  string,
  { tags: string[]; summary: string; description: string; security?: Array<Record<string, string[]>> }
> = {
  'GET /healthz': {
    tags: ['operations'],
    summary: 'Liveness',
    description: 'The process is alive. Checks nothing else, so an orchestrator restarts only a hung process.',
  },
  'GET /readyz': {
    tags: ['operations'],
    summary: 'Readiness',
    description:
      '200 when every dependency a ring needs answers (store reachable, event source connected, not shutting down), else 503 with the failing checks.',
  },
  'POST /api/v1/devices': {
    tags: ['devices'],
    summary: 'Register this agent’s device',
    description:
      'Registers (or refreshes) a device of the agent who owns the bearer token. The user comes from Genesys Cloud (`GET /api/v2/users/me`), never from the body. `deviceId` (1–128 characters of `[A-Za-z0-9._:-]`, the app’s installation id) groups the tokens of one phone: each phone rings once, and a phone with a PushKit and an alert token gets its cancel on the alert token. An agent keeps at most MAX_DEVICES_PER_AGENT phones (a token without `deviceId` counts as one) of at most 4 tokens each: past that the least recently registered phone (or token of the phone) is removed and audited.',
    security: [{ agentToken: [] }],
  },
  'POST /register-token': {
    tags: ['devices'],
    summary: 'Register this agent’s device (design-guide name)',
    description: 'The same as `POST /api/v1/devices`, under the name the design guide used.',
    security: [{ agentToken: [] }],
  },
  'GET /api/v1/devices': {
    tags: ['devices'],
    summary: 'This agent’s devices',
    description: 'Lists the devices registered by the agent who owns the bearer token.',
    security: [{ agentToken: [] }],
  },
  'POST /api/v1/agent/answered/{conversationId}': {
    tags: ['devices'],
    summary: 'This agent answered on one device',
    description:
      'The agent answered on the device named in the body: the agent’s other devices get their cancel at once (`reason: answered-on-device`); when Genesys then reports the connect, no device gets a second cancel.',
    security: [{ agentToken: [] }],
  },
  'GET /api/v1/admin/audit': {
    tags: ['operations'],
    summary: 'Audit log',
    description:
      'Newest first: every push suppressed (duplicate, presence, no reachable device), failed, expired or refused as a dead token, with its reason. Filter by userId or conversationId. Admin token.',
    security: [{ adminToken: [] }],
  },
  'POST /api/v1/agent/received/{conversationId}': {
    tags: ['devices'],
    summary: 'A push reached this agent’s device (device receipt)',
    description:
      'Called by the app from its push handler with the token the push came to, `action` (`ring`, the default, or `cancel_ring`) and optionally `participantId` (`genesys_participant_id`). 204, also for a repeat; 404 unless the token is one of this agent’s devices and a push of that conversation went to it. Feeds the receipt latency and the agent’s reachability.',
    security: [{ agentToken: [] }],
  },
  'GET /api/v1/admin/reachability': {
    tags: ['operations'],
    summary: 'Agents’ reachability from device receipts',
    description:
      'Every agent with devices: `reachable` (a phone reported its last ring), `unreachable` (every reporting phone missed UNREACHABLE_AFTER rings in a row) or `unknown` (no ring yet, or an app that does not report), with each device’s token prefix, last receipt, receipt latency and misses in a row. `?state=` filters. Admin token.',
    security: [{ adminToken: [] }],
  },
  'GET /api/v1/admin/alarms': {
    tags: ['operations'],
    summary: 'Provider configuration alarms',
    description:
      'Push services that refused the gateway’s credentials (APNs 403, FCM 401, Web Push 401/403) and have not delivered since. Admin token.',
    security: [{ adminToken: [] }],
  },
  'POST /api/v1/events': {
    tags: ['events'],
    summary: 'Webhook event source',
    description:
      'Genesys Cloud events through Amazon EventBridge (an API destination) or any relay; authenticated by the `x-webhook-secret` header. 202 accepted (a repeated event id too).',
  },
  'DELETE /api/v1/devices': {
    tags: ['devices'],
    summary: 'Remove one of this agent’s phones (sign-out)',
    description:
      'Removes every token registered with `?deviceId=`. 204 when removed; 404 when this agent has no phone with that deviceId.',
    security: [{ agentToken: [] }],
  },
  'DELETE /api/v1/devices/{token}': {
    tags: ['devices'],
    summary: 'Remove one of this agent’s devices',
    description: '204 when removed; 404 when the token is not one of this agent’s devices.',
    security: [{ agentToken: [] }],
  },
}

/** The package version (src/api and dist/api both sit two levels below package.json). */
export function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string'
      ? pkg.version
      : '0.0.0'
  } catch {
    return '0.0.0'
  }
}

export async function registerDocs(app: FastifyInstance, options: { version?: string } = {}): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'genesys-push-gateway',
        version: options.version ?? packageVersion(),
        description:
          'Turns Genesys Cloud CX routing events into APNs / FCM pushes. Agents register their devices with their own Genesys Cloud access token; operators use the admin token (ADMIN_TOKEN). Errors are `{ "error": { "code", "message" } }`.',
      },
      tags: [
        { name: 'devices', description: 'Mobile agents register the devices that ring' },
        { name: 'operations', description: 'Health, metrics, audit and the live dashboard' },
        { name: 'events', description: 'Genesys Cloud events pushed to the gateway' },
      ],
      components: {
        securitySchemes: {
          agentToken: { type: 'http', scheme: 'bearer', description: 'The agent’s own Genesys Cloud access token' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'The gateway’s ADMIN_TOKEN' },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      const openapiUrl = url.replace(/:(\w+)/g, '{$1}')
      const fallback = methods.map((m) => FALLBACK[`${m} ${openapiUrl}`]).find((f) => f !== undefined)
      const own = (schema ?? {}) as FastifySchema & { description?: string }
      if (!fallback || own.description) return { schema: own, url }
      return { schema: { ...fallback, ...own }, url }
    },
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: false },
  })
}
