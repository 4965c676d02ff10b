// POST /api/v1/agent/received/{conversationId}: the agent's app says "this push reached my phone",
// from its push handler (PushKit, the notification service extension or background handler, FCM
// onMessageReceived, the service worker). The gateway learns which phones really ring (src/reach/).
// 204 every time it counts or was counted before; 404 unless the token is one of the caller's
// devices and a push of that conversation went to it.
import type { FastifyInstance } from 'fastify'
import type { ReceiptAction, ReachTracker } from '../../reach/tracker.js'
import type { DeviceStore } from '../../store/store.js'
import { agentAuth, type AgentResolver } from '../auth.js'
import type { RequestHook } from '../limits.js'
import { normaliseDeviceToken as normalise, GENESYS_ID_PATTERN } from '../device-token.js'
import { ApiError, errorResponseSchema } from '../errors.js'

export interface ReceivedRouteOptions {
  store: DeviceStore
  agents: AgentResolver
  receipts: Pick<ReachTracker, 'receipt'>
  /** The per-agent rate limit, checked before Genesys is asked who the token belongs to. */
  limit?: RequestHook
}

const ID = GENESYS_ID_PATTERN

const body = {
  type: 'object',
  additionalProperties: false,
  required: ['token'],
  properties: {
    // The token the push came to (APNs hex token, FCM token, or Web Push endpoint).
    token: { type: 'string', minLength: 1, maxLength: 4096 },
    // The payload's `action`: the ring itself or its cancel.
    action: { type: 'string', enum: ['ring', 'cancel_ring'] },
    // genesys_participant_id from the payload: which ring of the conversation.
    participantId: { type: 'string', pattern: ID },
  },
} as const

interface ReceivedBody {
  token: string
  action?: ReceiptAction
  participantId?: string
}

export function receivedRoutes(app: FastifyInstance, options: ReceivedRouteOptions): void {
  app.post<{ Params: { conversationId: string }; Body: ReceivedBody }>(
    '/api/v1/agent/received/:conversationId',
    {
      onRequest: options.limit ? [options.limit, agentAuth(options.agents)] : agentAuth(options.agents),
      schema: {
        params: { type: 'object', properties: { conversationId: { type: 'string', pattern: ID } } },
        body,
        response: { '4xx': errorResponseSchema },
      },
    },
    async (req, reply) => {
      const { userId, name } = req.agent!
      // Only the caller's own devices: another agent's token answers as if it did not exist.
      const device = await options.store.getDevice(normalise(req.body.token))
      if (!device || device.userId !== userId)
        throw new ApiError(404, 'DEVICE_NOT_FOUND', "body.token is not one of this agent's devices")
      const { conversationId } = req.params
      const action = req.body.action ?? 'ring'
      const result = await options.receipts.receipt({
        conversationId,
        userId,
        ...(name ? { name } : {}),
        device,
        action,
        ...(req.body.participantId ? { participantId: req.body.participantId } : {}),
      })
      if (result.kind === 'no-such-push')
        throw new ApiError(404, 'PUSH_NOT_FOUND', `no ${action} push of this conversation went to this device`)
      if (result.kind === 'recorded')
        req.log.debug({ userId, conversationId, action, latencyMs: result.latencyMs }, 'device receipt')
      return reply.code(204).send()
    },
  )
}
