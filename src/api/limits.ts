// Request rate limits (@fastify/rate-limit, counted in this instance's memory): per client address on
// every route but the probes and the webhook, and per agent on the agent routes, so one leaked or
// scripted token cannot flood the store or make the gateway hammer Genesys with users/me lookups.
// Then, once Genesys said whose token it is, device writes per user: an agent holding several
// tokens (phone, tablet, a script) does not get the per-token allowance once per token.
// All answer 429 with Retry-After and the usual { error: { code, message } } body.
import { createHash } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from './errors.js'

export interface RateLimitOptions {
  /** Requests per minute per agent (bearer token) on the agent routes; 0 = no limit. */
  perAgentPerMinute: number
  /** Requests per minute per client address; 0 = no limit. */
  perIpPerMinute: number
  /** Device writes (register, remove) per minute per Genesys user, whatever the token; 0 = no limit. */
  writesPerUserPerMinute?: number
}

export interface RateLimitHooks {
  /** onRequest, before the token is resolved. */
  perAgent: RequestHook
  /** preHandler of device writes, once req.agent is known. */
  perUserWrites: RequestHook
}

export type RequestHook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>

const WINDOW_MS = 60_000
// Addresses and agents remembered per window (LRU): beyond this the least recently seen are forgotten.
const TRACKED_KEYS = 100_000
// Liveness and readiness probes must never be throttled; the webhook has its own credential and
// EventBridge delivers from shared AWS addresses at whatever rate the organisation produces events.
const EXEMPT = new Set(['/healthz', '/readyz', '/api/v1/events'])

const agentKey = (req: FastifyRequest): string => {
  const header = req.headers.authorization ?? ''
  // Hashed: the limiter's memory never holds a usable token.
  return `agent:${createHash('sha256').update(header).digest('base64url')}`
}

function limited(ttlInSeconds: number, who: string): ApiError {
  const after = Math.max(1, ttlInSeconds)
  return new ApiError(429, 'RATE_LIMITED', `too many requests ${who}; retry in ${after} s`, {
    'retry-after': String(after),
  })
}

const none: RequestHook = async () => undefined

/** Registers the per-address limit and returns the per-agent and per-user hooks for the agent routes. */
export async function registerRateLimits(app: FastifyInstance, options: RateLimitOptions): Promise<RateLimitHooks> {
  await app.register(rateLimit, { global: false, cache: TRACKED_KEYS })
  if (options.perIpPerMinute > 0) {
    const perIp = app.createRateLimit({
      max: options.perIpPerMinute,
      timeWindow: WINDOW_MS,
      keyGenerator: (req) => `ip:${req.ip}`,
    })
    app.addHook('onRequest', async (req) => {
      if (EXEMPT.has(req.routeOptions.url ?? '')) return
      const r = await perIp(req)
      if (!r.isAllowed && r.isExceeded) throw limited(r.ttlInSeconds, 'from this address')
    })
  }
  return {
    perAgent: perAgentHook(app, options.perAgentPerMinute),
    perUserWrites: perUserHook(app, options.writesPerUserPerMinute ?? 0),
  }
}

function perAgentHook(app: FastifyInstance, max: number): RequestHook {
  if (max <= 0) return none
  const perAgent = app.createRateLimit({ max, timeWindow: WINDOW_MS, keyGenerator: agentKey })
  return async (req) => {
    const r = await perAgent(req)
    if (!r.isAllowed && r.isExceeded) throw limited(r.ttlInSeconds, 'for this agent')
  }
}

function perUserHook(app: FastifyInstance, max: number): RequestHook {
  if (max <= 0) return none
  const perUser = app.createRateLimit({
    max,
    timeWindow: WINDOW_MS,
    keyGenerator: (req) => `user:${req.agent?.userId ?? ''}`,
  })
  return async (req) => {
    // Runs after agentAuth; without an identity there is nothing to count (the route refuses anyway).
    if (!req.agent) return
    const r = await perUser(req)
    if (!r.isAllowed && r.isExceeded) throw limited(r.ttlInSeconds, 'device writes for this Genesys user')
  }
}
