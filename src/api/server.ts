// The HTTP API. Fastify's JSON schemas are the validation (and, later, the OpenAPI description).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from '../observability/logger.js'
import { installErrorHandler } from './errors.js'
import { deviceRoutes, type DeviceRoutesOptions } from './routes/devices.js'
import { healthRoutes, type ReadinessCheck } from './routes/health.js'

export interface ApiOptions {
  logger: Logger
  devices: DeviceRoutesOptions
  readiness: ReadinessCheck[]
  /** Request bodies above this are refused with 413 before parsing. */
  bodyLimit?: number
}

export async function buildApi(o: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Fastify bundles its own pino typings; the instance is the same pino logger.
    loggerInstance: o.logger.child({ component: 'api' }) as unknown as FastifyBaseLogger,
    bodyLimit: o.bodyLimit ?? 16 * 1024,
    // Device tokens travel in DELETE paths; FCM tokens are longer than find-my-way's default 100.
    routerOptions: { maxParamLength: 4096 },
    // One line per request is too much at thousands of registrations a second; routes log what matters.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
  })
  installErrorHandler(app)
  healthRoutes(app, o.readiness)
  deviceRoutes(app, o.devices)
  await app.ready()
  return app
}
