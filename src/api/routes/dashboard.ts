// The live dashboard at /dashboard. The page, script and style sheet are public (they hold no data);
// the data (/dashboard/api/state, and the server-sent-event stream /dashboard/api/stream) needs
// `Authorization: Bearer <ADMIN_TOKEN>`, which the page's script sends from sessionStorage.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { FeedItem, LiveFeed } from '../../observability/live.js'
import type { GatewayMetrics } from '../../observability/metrics.js'
import { adminAuth } from '../dashboard/admin-auth.js'
import { DASHBOARD_JS } from '../dashboard/client.js'
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_ICON } from '../dashboard/page.js'
import { errorResponseSchema } from '../errors.js'

export interface DashboardOptions {
  adminToken?: string
  instanceId: string
  live: LiveFeed
  metrics: GatewayMetrics
  /** Agents whose phones do not ring (device receipts). */
  unreachableAgents?: () => Promise<Array<{ userId: string; name: string | null; since: string | null }>>
  /** How often the stream sends a fresh state (connection, lease, devices); default 2 s. */
  stateIntervalMs?: number
}

// Same-origin files only: no inline script or style, no framing (clickjacking), no referrer leak.
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
}

const hidden = { hide: true } as const

export function dashboardRoutes(app: FastifyInstance, options: DashboardOptions): void {
  const requireAdmin = adminAuth(options.adminToken)
  const streams = new Set<FastifyReply>()

  const state = async (): Promise<Record<string, unknown>> => {
    const s = await options.metrics.snapshot()
    const unreachable = options.unreachableAgents ? await options.unreachableAgents().catch(() => undefined) : undefined
    return {
      instanceId: options.instanceId,
      now: Date.now(),
      ...s,
      totals: options.live.totals,
      ...(unreachable ? { unreachable } : {}),
    }
  }

  const asset = (path: string, type: string, body: string) =>
    app.get(path, { schema: hidden }, async (_req, reply) =>
      reply.headers(SECURITY_HEADERS).header('content-type', type).send(body),
    )
  asset('/dashboard', 'text/html; charset=utf-8', DASHBOARD_HTML)
  asset('/dashboard/app.js', 'text/javascript; charset=utf-8', DASHBOARD_JS)
  asset('/dashboard/app.css', 'text/css; charset=utf-8', DASHBOARD_CSS)
  asset('/dashboard/favicon.svg', 'image/svg+xml', DASHBOARD_ICON)

  const adminErrors = {
    '4xx': { description: 'missing or wrong admin token, or ADMIN_TOKEN not set', ...errorResponseSchema },
  }
  app.get(
    '/dashboard/api/state',
    {
      onRequest: requireAdmin,
      schema: {
        tags: ['operations'],
        summary: 'Dashboard state',
        description:
          'Event-source connection and lease, store health, devices per platform, totals since start, and the most recent feed items (rings, cancels, suppressions, push outcomes with per-stage latency). Admin token.',
        security: [{ adminToken: [] }],
        response: {
          200: { description: 'the current state', type: 'object', additionalProperties: true },
          ...adminErrors,
        },
      },
    },
    async (_req, reply) =>
      reply
        .headers({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
        .send({ ...(await state()), recent: options.live.recent() }),
  )

  app.get(
    '/dashboard/api/stream',
    {
      onRequest: requireAdmin,
      schema: {
        tags: ['operations'],
        summary: 'Live feed (server-sent events)',
        description:
          '`text/event-stream`: a `state` event at once and every few seconds, and a `feed` event for every ring, cancel, suppression and push outcome as it happens. Admin token.',
        security: [{ adminToken: [] }],
        response: { 200: { description: 'an event stream that stays open', type: 'string' }, ...adminErrors },
      },
    },
    async (req, reply) => {
      // HEAD (Fastify adds it to every GET) must not open a stream: Node never flushes a HEAD
      // answer that does not end, so the client would wait, and the stream's timer run, forever.
      if (req.method === 'HEAD')
        return reply.headers({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' }).send()
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      })
      const send = (event: string, data: unknown): void => {
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      }
      const sendState = (): void => {
        state().then(
          (s) => !res.writableEnded && send('state', s),
          (err: unknown) => req.log.warn({ err }, 'dashboard state failed'),
        )
      }
      res.write('retry: 2000\n\n')
      sendState()
      const unsubscribe = options.live.subscribe((item: FeedItem) => send('feed', item))
      const timer = setInterval(sendState, options.stateIntervalMs ?? 2_000)
      streams.add(reply)
      const done = (): void => {
        clearInterval(timer)
        unsubscribe()
        streams.delete(reply)
      }
      res.on('close', done)
    },
  )

  // A stream never ends by itself; closing the server would wait for it forever.
  app.addHook('preClose', async () => {
    for (const reply of streams) reply.raw.end()
  })
}
