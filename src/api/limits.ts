// Request rate limits (@fastify/rate-limit, counted in this instance's memory): per client address on
// every route but the probes and the webhook, and per agent on the agent routes, so one leaked or
// scripted token cannot flood the store or make the gateway hammer Genesys with users/me lookups.
// Both answer 429 with Retry-After and the usual { error: { code, message } } body.
import { createHash } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from './errors.js'

export interface RateLimitOptions {
  /** Requests per minute per agent (bearer token) on the agent routes; 0 = no limit. */
  perAgentPerMinute: number
  /** Requests per minute per client address; 0 = no limit. */
  perIpPerMinute: number
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
  return new ApiError(429, 'RATE_LIMITED', `too many requests ${who}; retry in ${after} s`, { 'retry-after': String(after) })
}

/** Registers the per-address limit and returns the per-agent hook for the agent routes. */
export async function registerRateLimits(app: FastifyInstance, o: RateLimitOptions): Promise<RequestHook> {
  await app.register(rateLimit, { global: false, cache: TRACKED_KEYS })
  if (o.perIpPerMinute > 0) {
    const perIp = app.createRateLimit({ max: o.perIpPerMinute, timeWindow: WINDOW_MS, keyGenerator: (req) => `ip:${req.ip}` })
    app.addHook('onRequest', async (req) => {
      if (EXEMPT.has(req.routeOptions.url ?? '')) return
      const r = await perIp(req)
      if (!r.isAllowed && r.isExceeded) throw limited(r.ttlInSeconds, 'from this address')
    })
  }
  if (o.perAgentPerMinute <= 0) return async () => undefined
  const perAgent = app.createRateLimit({ max: o.perAgentPerMinute, timeWindow: WINDOW_MS, keyGenerator: agentKey })
  return async (req) => {
    const r = await perAgent(req)
    if (!r.isAllowed && r.isExceeded) throw limited(r.ttlInSeconds, 'for this agent')
  }
}
