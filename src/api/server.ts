// The HTTP API. Fastify's JSON schemas are the validation (and, later, the OpenAPI description).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { Logger } from '../observability/logger.js'
import { registerDocs } from './docs.js'
import { dashboardRoutes, type DashboardOptions } from './routes/dashboard.js'
import { metricsRoutes } from './routes/metrics.js'
import { errorBody, installErrorHandler } from './errors.js'
import { deviceRoutes, type DeviceRoutesOptions } from './routes/devices.js'
import { answeredRoutes, type AnsweredRouteOptions } from './routes/answered.js'
import { adminRoutes, type AdminRouteOptions } from './routes/admin.js'
import { receivedRoutes, type ReceivedRouteOptions } from './routes/received.js'
import { eventsRoutes, type EventsRouteOptions } from './routes/events.js'
import { healthRoutes, type ReadinessCheck } from './routes/health.js'
import { registerRateLimits, type RateLimitOptions } from './limits.js'

export interface ApiOptions {
  logger: Logger
  devices: DeviceRoutesOptions
  readiness: ReadinessCheck[]
  /** POST /api/v1/events (the webhook source), when WEBHOOK_SECRET is set. */
  events?: EventsRouteOptions
  /** Request bodies above this are refused with 413 before parsing. */
  bodyLimit?: number
  /** GET /metrics and the /dashboard (admin token). */
  operations?: DashboardOptions
  /** POST /api/v1/agent/answered/{conversationId}. */
  answered?: AnsweredRouteOptions
  /** POST /api/v1/agent/received/{conversationId} (device receipts). */
  received?: ReceivedRouteOptions
  /** GET /api/v1/admin/audit, /api/v1/admin/alarms and /api/v1/admin/reachability. */
  admin?: AdminRouteOptions
  /** Requests per minute per agent and per client address (RATE_LIMIT_PER_MINUTE, RATE_LIMIT_PER_IP_PER_MINUTE); off when absent. */
  rateLimit?: RateLimitOptions
  /** TRUST_PROXY: whose X-Forwarded-For gives the client address. */
  trustProxy?: false | number | string[]
  /** HTTP_REQUEST_TIMEOUT_MS, HTTP_KEEP_ALIVE_TIMEOUT_MS, HTTP_MAX_CONNECTIONS. */
  http?: ServerLimits
}

export interface ServerLimits {
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  maxConnections: number
}

const DEFAULT_LIMITS: ServerLimits = { requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 4096 }

// Node enforces requestTimeout and headersTimeout only when it sweeps its connections, every
// connectionsCheckingInterval (30 s by default): a body that never finishes would live that long.
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000

// Answers given before the body was read (no or wrong credential, too large, too many requests):
// the connection is closed rather than kept reading whatever the client still sends.
const CLOSE_AFTER = new Set([401, 413, 429])

// A caller's X-Request-Id is kept when it is a sane id (a load balancer's trace id), else a new one.
const REQUEST_ID = /^[\w.:-]{1,128}$/

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const limits = options.http ?? DEFAULT_LIMITS
  const app = Fastify({
    // A client must send its whole request (headers and body) within requestTimeout; idle
    // keep-alive connections close after keepAliveTimeout. The dashboard's event stream is a
    // response, which neither limits.
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.requestTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    },
    // Fastify bundles its own pino typings; the instance is the same pino logger.
    loggerInstance: options.logger.child({ component: 'api' }) as unknown as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 16 * 1024,
    // Device tokens travel in DELETE paths; FCM tokens are longer than find-my-way's default 100.
    routerOptions: { maxParamLength: 4096 },
    // One line per request is too much at thousands of registrations a second; routes log what matters.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
    // The router's own refusals (a parameter over maxParamLength, a malformed %-escape) get the API's
    // error shape too, and never echo the path: it may hold a device token.
    frameworkErrors: (err, _req, reply) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      void (reply as unknown as FastifyReply)
        .code(tooLong ? 414 : 400)
        .send(
          errorBody(
            tooLong ? 'PATH_TOO_LONG' : 'BAD_URL',
            tooLong ? 'a path parameter is longer than 4096 characters' : 'the URL is not valid',
          ),
        )
    },
    // A hop count trusts that many proxies in front (proxy-addr's hop index starts at 0).
    trustProxy:
      typeof options.trustProxy === 'number'
        ? (_addr: string, hop: number) => hop < (options.trustProxy as number)
        : (options.trustProxy ?? false),
  })
  installErrorHandler(app)
  // Answers are JSON or text for programs, never documents to sniff, frame or cache (device lists
  // hold tokens); the dashboard's pages set their own, stricter headers.
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('x-content-type-options', 'nosniff')
    if (!reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store')
    if (CLOSE_AFTER.has(reply.statusCode)) void reply.header('connection', 'close')
  })
  // Routes log through req.log, whose lines carry reqId; the id is echoed for the caller's traces.
  app.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id)
    done()
  })
  const limit = await registerRateLimits(app, options.rateLimit ?? { perAgentPerMinute: 0, perIpPerMinute: 0 })
  await registerDocs(app)
  healthRoutes(app, options.readiness)
  deviceRoutes(app, { ...options.devices, limit: limit.perAgent, writeLimit: limit.perUserWrites })
  if (options.events) eventsRoutes(app, options.events)
  if (options.answered) answeredRoutes(app, { ...options.answered, limit: limit.perAgent })
  if (options.received) receivedRoutes(app, { ...options.received, limit: limit.perAgent })
  if (options.admin) adminRoutes(app, options.admin)
  if (options.operations) {
    metricsRoutes(app, options.operations)
    dashboardRoutes(app, options.operations)
  }
  await app.ready()
  // Past this many open connections new ones are closed at once: file descriptors stay for the
  // push services, the store and Genesys.
  app.server.maxConnections = limits.maxConnections
  return app
}
