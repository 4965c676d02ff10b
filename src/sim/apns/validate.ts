// The request rules the sandbox enforces, each answered with Apple's status and reason.
// Sources: Apple, "Sending notification requests to APNs" (headers, path, payload limits) and
// "Handling notification responses from APNs" (status codes and reason strings).
import type { IncomingHttpHeaders } from 'node:http2'

export interface Rejection {
  status: number
  reason: string
}

export const PUSH_TYPES = [
  'alert',
  'background',
  'voip',
  'location',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
  'controls',
  'widgets',
] as const
const PUSH_TYPE_SET: ReadonlySet<string> = new Set(PUSH_TYPES)

/** 4 KB for ordinary notifications, 5 KB for VoIP. */
export function payloadLimit(pushType: string): number {
  return pushType === 'voip' ? 5120 : 4096
}

const DEVICE_PATH = /^\/3\/device\/([^/?]*)$/

export function checkRoute(method: string | undefined, path: string | undefined): Rejection | { token: string } {
  if (method !== 'POST') return { status: 405, reason: 'MethodNotAllowed' }
  const match = DEVICE_PATH.exec(path ?? '')
  if (!match) return { status: 404, reason: 'BadPath' }
  const token = match[1] ?? ''
  if (token === '') return { status: 400, reason: 'MissingDeviceToken' }
  // Device tokens are hex: 32 bytes today, longer tokens have been announced, so any even length ≥ 64.
  if (!/^[0-9a-fA-F]+$/.test(token) || token.length < 64 || token.length % 2 !== 0)
    return { status: 400, reason: 'BadDeviceToken' }
  return { token }
}

function one(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Header checks that need no body. `topics` are the bundle ids the key may push to. */
export function checkHeaders(
  headers: IncomingHttpHeaders,
  topics: ReadonlySet<string>,
): Rejection | { pushType: string; priority: number } {
  const topic = one(headers, 'apns-topic')
  // With token-based auth the topic is mandatory: a token can push to every app of the team.
  if (topic === undefined || topic === '') return { status: 400, reason: 'MissingTopic' }
  const bundle = topic.endsWith('.voip') ? topic.slice(0, -'.voip'.length) : topic
  if (!topics.has(bundle)) return { status: 400, reason: 'TopicDisallowed' }

  const pushType = one(headers, 'apns-push-type')
  if (pushType === undefined || !PUSH_TYPE_SET.has(pushType)) return { status: 400, reason: 'InvalidPushType' }
  // PushKit tokens belong to the `<bundle>.voip` topic and alert tokens to the bundle itself;
  // mixing them is answered DeviceTokenNotForTopic (observed by several APNs client projects).
  if ((pushType === 'voip') !== topic.endsWith('.voip')) return { status: 400, reason: 'DeviceTokenNotForTopic' }

  const priorityHeader = one(headers, 'apns-priority')
  const priority = priorityHeader === undefined ? 10 : Number(priorityHeader)
  if (![10, 5, 1].includes(priority) || !/^\d+$/.test(priorityHeader ?? '10'))
    return { status: 400, reason: 'BadPriority' }
  // Background pushes must be sent with priority 5 ("Pushing background updates to your App").
  if (pushType === 'background' && priority !== 5) return { status: 400, reason: 'BadPriority' }

  const expiration = one(headers, 'apns-expiration')
  if (expiration !== undefined && !/^\d+$/.test(expiration)) return { status: 400, reason: 'BadExpirationDate' }

  const collapseId = one(headers, 'apns-collapse-id')
  if (collapseId !== undefined && Buffer.byteLength(collapseId, 'utf8') > 64)
    return { status: 400, reason: 'BadCollapseId' }

  const apnsId = one(headers, 'apns-id')
  if (
    apnsId !== undefined &&
    !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(apnsId)
  ) {
    return { status: 400, reason: 'BadMessageId' }
  }
  return { pushType, priority }
}

/** Body checks: size first (Apple measures bytes), then the JSON shape. */
export function checkPayload(body: Buffer, pushType: string): Rejection | { payload: Record<string, unknown> } {
  if (body.length === 0) return { status: 400, reason: 'PayloadEmpty' }
  if (body.length > payloadLimit(pushType)) return { status: 413, reason: 'PayloadTooLarge' }
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    parsed = undefined
  }
  // Apple lists no reason for malformed JSON or a missing `aps` dictionary; the sandbox answers
  // with the nearest documented one so a payload-builder bug fails loudly in tests.
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { status: 400, reason: 'PayloadEmpty' }
  const payload = parsed as Record<string, unknown>
  const aps = payload.aps
  if (typeof aps !== 'object' || aps === null || Array.isArray(aps)) return { status: 400, reason: 'PayloadEmpty' }
  // A background (silent) push must not carry alert, badge or sound; its push type would then
  // misdescribe the payload, which Apple may reject ("Pushing background updates to your App").
  if (pushType === 'background') {
    const a = aps as Record<string, unknown>
    if ('alert' in a || 'badge' in a || 'sound' in a) return { status: 400, reason: 'InvalidPushType' }
  }
  return { payload }
}
