// POST /api/v1/agent/answered/{conversationId}: the agent's app says "I answered on this device".
// The agent's other phones stop ringing at once, without waiting for Genesys to report the
// connect; when Genesys does, no phone gets a second cancel and the answering phone none at all:
// every token of the answering phone (the same deviceId) is silenced, not only the one named.
import type { FastifyInstance } from 'fastify'
import type { DeviceAnswer } from '../../ring/engine.js'
import { phoneOf } from '../../ring/phones.js'
import type { DeviceStore } from '../../store/store.js'
import { agentAuth, type AgentResolver } from '../auth.js'
import type { RequestHook } from '../limits.js'
import { normaliseDeviceToken as normalise, GENESYS_ID_PATTERN } from '../device-token.js'
import { ApiError, errorResponseSchema } from '../errors.js'

export interface AnsweredRouteOptions {
  store: DeviceStore
  agents: AgentResolver
  answered: (a: DeviceAnswer) => Promise<{ rings: number; cancelled: number }>
  /** The per-agent rate limit, checked before Genesys is asked who the token belongs to. */
  limit?: RequestHook
}

const body = {
  type: 'object',
  additionalProperties: false,
  required: ['token'],
  properties: {
    // The answering device's token (APNs hex token, FCM token, or Web Push endpoint).
    token: { type: 'string', minLength: 1, maxLength: 4096 },
    // The same phone's other tokens, for apps that register no deviceId (with one, the gateway knows them).
    siblingTokens: { type: 'array', maxItems: 4, items: { type: 'string', minLength: 1, maxLength: 4096 } },
    // genesys_participant_id from the ring's payload: narrows the answer to that ring.
    participantId: { type: 'string', pattern: GENESYS_ID_PATTERN },
  },
} as const

interface AnsweredBody {
  token: string
  siblingTokens?: string[]
  participantId?: string
}

export function answeredRoutes(app: FastifyInstance, options: AnsweredRouteOptions): void {
  app.post<{ Params: { conversationId: string }; Body: AnsweredBody }>(
    '/api/v1/agent/answered/:conversationId',
    {
      onRequest: options.limit ? [options.limit, agentAuth(options.agents)] : agentAuth(options.agents),
      schema: {
        params: { type: 'object', properties: { conversationId: { type: 'string', pattern: GENESYS_ID_PATTERN } } },
        body,
        response: {
          200: {
            type: 'object',
            properties: {
              conversationId: { type: 'string' },
              rings: { type: 'integer' },
              cancelled: { type: 'integer' },
            },
          },
          '4xx': errorResponseSchema,
        },
      },
    },
    async (req) => {
      const userId = req.agent!.userId
      // The agent answers only for itself: the user comes from the bearer token, and the device
      // must be one of that agent's own.
      const device = await options.store.getDevice(normalise(req.body.token))
      if (!device || device.userId !== userId)
        throw new ApiError(404, 'DEVICE_NOT_FOUND', "body.token is not one of this agent's devices")
      const tokens = phoneOf(device.token, await options.store.listDevices(userId)).map((d) => d.token)
      if (!tokens.includes(device.token)) tokens.push(device.token)
      for (const t of req.body.siblingTokens ?? []) {
        const sibling = await options.store.getDevice(normalise(t))
        if (sibling?.userId === userId && !tokens.includes(sibling.token)) tokens.push(sibling.token)
      }
      const { conversationId } = req.params
      const result = await options.answered({
        conversationId,
        userId,
        tokens,
        ...(req.body.participantId ? { participantId: req.body.participantId } : {}),
      })
      req.log.info({ userId, conversationId, ...result }, 'agent answered on a device')
      return { conversationId, ...result }
    },
  )
}
