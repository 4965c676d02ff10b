// Device registration for mobile agents. The user is always the owner of the bearer token.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Clock } from '../../clock.js'
import type { Device, DeviceChange, Platform, WebPushSubscription } from '../../model.js'
import { tokenPrefix } from '../../observability/logger.js'
import { registerBySteps, type DeviceStore } from '../../store/store.js'
import { agentAuth, type AgentResolver } from '../auth.js'
import type { RequestHook } from '../limits.js'
import { ApiError, errorResponseSchema } from '../errors.js'
import { devicesPastCap, TOKENS_PER_PHONE } from '../device-cap.js'
import { normaliseDeviceToken } from '../device-token.js'

export interface DeviceRoutesOptions {
  store: DeviceStore
  agents: AgentResolver
  clock: Clock
  /** Platforms with a configured push service; registering another is refused up front. */
  platforms: Record<Platform, boolean>
  defaultApnsEnvironment: 'production' | 'sandbox'
  /**
   * Whether a Web Push endpoint may be contacted (the push-service allow-list): its normalised form,
   * stored as the device's token, or why not. Without it no web device is accepted.
   */
  webPushEndpoint?: (endpoint: string) => { ok: true; endpoint: string } | { ok: false; reason: string }
  /**
   * Called after a user's set of devices changed (first device added, last removed, token moved),
   * with whether the user still has any when the route knows it (so it need not list them again).
   */
  onDevicesChanged?: (userId: string, hasDevices?: boolean) => Promise<void> | void
  /** MAX_DEVICES_PER_AGENT: phones per agent; a registration past it evicts the least recently registered phone. */
  maxDevicesPerAgent?: number
  /** A device taken from an agent (evicted, or moved to another agent): audited and counted. */
  onDeviceChange?: (change: DeviceChange) => void
  /** The per-agent rate limit, checked before Genesys is asked who the token belongs to. */
  limit?: RequestHook
  /** Device writes per Genesys user, checked once the token's owner is known. */
  writeLimit?: RequestHook
}

// APNs tokens are hex (32 bytes today; Apple says not to hard-code the length). FCM registration
// tokens are URL-safe base64 with ':' separators, ~150-250 characters.
const TOKEN_RULES: Record<Exclude<Platform, 'web'>, { pattern: RegExp; hint: string }> = {
  ios: { pattern: /^(?:[0-9a-fA-F]{2}){32,100}$/, hint: 'an APNs device token: hex, 64 characters or more' },
  android: { pattern: /^[A-Za-z0-9_:.-]{20,4096}$/, hint: 'an FCM registration token' },
}

const deviceSchema = {
  type: 'object',
  properties: {
    userId: { type: 'string' },
    platform: { type: 'string' },
    token: { type: 'string' },
    pushType: { type: 'string' },
    environment: { type: 'string' },
    appId: { type: 'string' },
    deviceId: { type: 'string' },
    registeredAt: { type: 'string' },
  },
} as const

// The app's installation id: iOS identifierForVendor (a UUID), the Firebase installation id, or an
// id a web app keeps. Tokens with the same one are one phone.
const DEVICE_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$'

const registerBody = {
  type: 'object',
  additionalProperties: false,
  required: ['platform'],
  properties: {
    platform: { type: 'string', enum: ['ios', 'android', 'web'] },
    token: { type: 'string', minLength: 1, maxLength: 4096 },
    // Web only: what the browser's PushSubscription.toJSON() gives; the endpoint is the device's token.
    subscription: {
      type: 'object',
      additionalProperties: false,
      required: ['endpoint', 'keys'],
      properties: {
        endpoint: { type: 'string', minLength: 1, maxLength: 2048 },
        expirationTime: { type: ['number', 'null'] },
        keys: {
          type: 'object',
          additionalProperties: false,
          required: ['p256dh', 'auth'],
          properties: {
            p256dh: { type: 'string', pattern: '^[A-Za-z0-9_-]+=*$', maxLength: 200 },
            auth: { type: 'string', pattern: '^[A-Za-z0-9_-]+=*$', maxLength: 100 },
          },
        },
      },
    },
    pushType: { type: 'string', enum: ['voip', 'alert'] },
    environment: { type: 'string', enum: ['production', 'sandbox'] },
    appId: { type: 'string', pattern: '^[A-Za-z0-9.-]{1,255}$' },
    deviceId: { type: 'string', pattern: DEVICE_ID_PATTERN },
  },
} as const

interface RegisterBody {
  platform: Platform
  token?: string
  subscription?: WebPushSubscription & { expirationTime?: number | null }
  pushType?: 'voip' | 'alert'
  environment?: 'production' | 'sandbox'
  appId?: string
  deviceId?: string
}

/**
 * RFC 8291: p256dh is an uncompressed P-256 point (65 bytes), auth a 16-byte secret. The endpoint is
 * where the gateway will POST: only a push service's (the allow-list), stored normalised.
 */
function webSubscription(
  body: RegisterBody,
  checkEndpoint: DeviceRoutesOptions['webPushEndpoint'],
): WebPushSubscription {
  const sub = body.subscription
  if (!sub)
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      'body.subscription is required for web devices (PushSubscription.toJSON())',
    )
  if (body.token !== undefined && body.token !== sub.endpoint)
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      'body.token must be left out for web devices (the endpoint is the token)',
    )
  const verdict = checkEndpoint
    ? checkEndpoint(sub.endpoint)
    : { ok: false as const, reason: 'cannot be checked (no push-service allow-list)' }
  if (!verdict.ok) throw new ApiError(400, 'ENDPOINT_NOT_ALLOWED', `body.subscription.endpoint ${verdict.reason}`)
  const p256dh = Buffer.from(sub.keys.p256dh, 'base64url')
  if (p256dh.length !== 65 || p256dh[0] !== 4)
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      'body.subscription.keys.p256dh must be an uncompressed P-256 public key (65 bytes)',
    )
  if (Buffer.from(sub.keys.auth, 'base64url').length !== 16)
    throw new ApiError(400, 'INVALID_REQUEST', 'body.subscription.keys.auth must be a 16-byte secret')
  return { endpoint: verdict.endpoint, keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth } }
}

function present(d: Device): Record<string, unknown> {
  return { ...d, registeredAt: new Date(d.registeredAt).toISOString() }
}

export function deviceRoutes(app: FastifyInstance, options: DeviceRoutesOptions): void {
  const authenticate = options.limit ? [options.limit, agentAuth(options.agents)] : agentAuth(options.agents)

  const register = async (body: RegisterBody, userId: string, log: FastifyBaseLogger): Promise<Device> => {
    if (!options.platforms[body.platform]) {
      throw new ApiError(422, 'PLATFORM_NOT_CONFIGURED', `${body.platform} push is not configured on this gateway`)
    }
    const phone = body.deviceId ? { deviceId: body.deviceId } : {}
    if (body.platform === 'web')
      return registerDevice(
        userId,
        { platform: 'web', token: '', subscription: webSubscription(body, options.webPushEndpoint), ...phone },
        log,
      )
    if (body.subscription) throw new ApiError(400, 'INVALID_REQUEST', 'body.subscription applies to web devices only')
    const rule = TOKEN_RULES[body.platform]
    if (body.token === undefined) throw new ApiError(400, 'INVALID_REQUEST', "body must have required property 'token'")
    if (!rule.pattern.test(body.token))
      throw new ApiError(400, 'INVALID_DEVICE_TOKEN', `body.token must be ${rule.hint}`)
    if (body.platform !== 'ios' && (body.pushType || body.environment)) {
      throw new ApiError(400, 'INVALID_REQUEST', 'body.pushType and body.environment apply to ios devices only')
    }
    const token = body.platform === 'ios' ? body.token.toLowerCase() : body.token
    return registerDevice(
      userId,
      {
        platform: body.platform,
        token,
        ...(body.platform === 'ios'
          ? { pushType: body.pushType ?? 'alert', environment: body.environment ?? options.defaultApnsEnvironment }
          : {}),
        ...(body.appId ? { appId: body.appId } : {}),
        ...phone,
      },
      log,
    )
  }

  // `log` is the request's logger: its lines carry the request id.
  const registerDevice = async (
    userId: string,
    fields: Omit<Device, 'userId' | 'registeredAt'>,
    log: FastifyBaseLogger,
  ): Promise<Device> => {
    const token = fields.subscription ? fields.subscription.endpoint : fields.token
    const device: Device = { ...fields, userId, token, registeredAt: options.clock.now() }
    const registered = await registerBySteps(options.store, device)
    const movedFrom = registered.movedFrom
    log.info(
      {
        userId,
        platform: device.platform,
        device: tokenPrefix(token),
        phone: device.deviceId,
        moved: movedFrom !== undefined,
      },
      'device registered',
    )
    // Fewer tokens than either bound: no phone can be past one, and the list need not be read.
    const limit = options.maxDevicesPerAgent
    if (limit !== undefined && registered.agentTokens > Math.min(limit, TOKENS_PER_PHONE))
      await evictPastLimit(device, limit, log)
    // An agent that had devices is subscribed already; only its first device changes its topics.
    if (registered.firstOfAgent) await options.onDevicesChanged?.(userId, true)
    if (movedFrom !== undefined) {
      // A shared phone handed over moves, but never silently: the previous owner's list loses it
      // (their next GET shows it gone) and the move is audited and counted.
      options.onDeviceChange?.({ kind: 'moved', userId: movedFrom, token, toUserId: userId })
      await options.onDevicesChanged?.(movedFrom)
    }
    return registered.device
  }

  /**
   * Keeps the agent at MAX_DEVICES_PER_AGENT phones (device-cap.ts): the least recently registered
   * go, never the phone just registered. The list read is bounded by the cap, so a registration
   * costs the same whatever an attacker tried; a list left longer from before the cap is cut once.
   */
  const evictPastLimit = async (kept: Device, limit: number, log: FastifyBaseLogger): Promise<void> => {
    const userId = kept.userId
    for (const { device, past } of devicesPastCap(await options.store.listDevices(userId), kept.token, limit)) {
      if (!(await options.store.removeDevice(userId, device.token))) continue
      log.info(
        { userId, device: tokenPrefix(device.token), phone: device.deviceId, limit, past },
        'device evicted: agent past MAX_DEVICES_PER_AGENT',
      )
      options.onDeviceChange?.({ kind: 'evicted', userId, token: device.token, limit, past, phone: device.deviceId })
    }
  }

  const registerRoute = {
    onRequest: authenticate,
    ...(options.writeLimit ? { preHandler: options.writeLimit } : {}),
    schema: { body: registerBody, response: { 201: deviceSchema, '4xx': errorResponseSchema } },
  }
  app.post<{ Body: RegisterBody }>('/api/v1/devices', registerRoute, async (req, reply) => {
    const saved = await register(req.body, req.agent!.userId, req.log)
    return reply.code(201).send(present(saved))
  })
  // The design guide's endpoint name, kept for apps built from the guide.
  app.post<{ Body: RegisterBody }>('/register-token', registerRoute, async (req, reply) => {
    const saved = await register(req.body, req.agent!.userId, req.log)
    return reply.code(201).send(present(saved))
  })

  app.get('/api/v1/devices', { onRequest: authenticate }, async (req) => {
    const devices = await options.store.listDevices(req.agent!.userId)
    return { userId: req.agent!.userId, devices: devices.map(present) }
  })

  // Sign-out: every token of one phone at once.
  app.delete<{ Querystring: { deviceId: string } }>(
    '/api/v1/devices',
    {
      onRequest: authenticate,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['deviceId'],
          properties: { deviceId: { type: 'string', pattern: DEVICE_ID_PATTERN } },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (req, reply) => {
      const userId = req.agent!.userId
      // Only the caller's own phones: another agent's deviceId answers 404, as if it did not exist.
      const removed = await options.store.removePhone(userId, req.query.deviceId)
      if (removed.length === 0)
        throw new ApiError(404, 'DEVICE_NOT_FOUND', 'no phone with this deviceId for this agent')
      req.log.info({ userId, phone: req.query.deviceId, devices: removed.length }, 'phone removed')
      await options.onDevicesChanged?.(userId)
      return reply.code(204).send()
    },
  )

  app.delete<{ Params: { token: string } }>(
    '/api/v1/devices/:token',
    {
      onRequest: authenticate,
      ...(options.writeLimit ? { preHandler: options.writeLimit } : {}),
      schema: { params: { type: 'object', properties: { token: { type: 'string', minLength: 1, maxLength: 4096 } } } },
    },
    async (req, reply) => {
      const userId = req.agent!.userId
      const token = normaliseDeviceToken(req.params.token)
      // Only the caller's own devices: another agent's token answers 404, as if it did not exist.
      const removed =
        (await options.store.removeDevice(userId, token)) ||
        (token !== req.params.token && (await options.store.removeDevice(userId, req.params.token)))
      if (!removed) throw new ApiError(404, 'DEVICE_NOT_FOUND', 'no such device for this agent')
      req.log.info({ userId, device: tokenPrefix(token) }, 'device removed')
      await options.onDevicesChanged?.(userId)
      return reply.code(204).send()
    },
  )
}
