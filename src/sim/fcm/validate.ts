// Validation of a `messages:send` body the way FCM HTTP v1 does it, in two layers:
// 1. Google's JSON→proto transcoding: unknown names, wrong JSON types, bad enum values and bad
//    Duration strings fail with "Invalid JSON payload received…" / "Invalid value at '…'" and a
//    google.rpc.BadRequest detail only (example 1 of https://firebase.google.com/docs/cloud-messaging/error-codes).
// 2. FCM's own checks (target, token, reserved data keys, TTL range, size), which add the FcmError
//    INVALID_ARGUMENT detail (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).
// Proto JSON accepts both the proto field name (snake_case) and its lowerCamelCase json_name.
// android.notification, webpush, apns and fcm_options are checked for being objects, not deeper.
import type { FieldViolation } from './errors.js'

export type SendValidation =
  | { ok: true; message: Record<string, unknown>; validateOnly: boolean; token?: string }
  | { ok: false; errorCode?: 'INVALID_ARGUMENT'; message: string; violations: FieldViolation[] }

type FieldKind = 'string' | 'bool' | 'stringMap' | 'object' | 'priority' | 'duration' | 'notification' | 'android'

const REQUEST_FIELDS: Record<string, FieldKind> = { message: 'object', validate_only: 'bool' }
const MESSAGE_FIELDS: Record<string, FieldKind> = {
  name: 'string',
  data: 'stringMap',
  notification: 'notification',
  android: 'android',
  webpush: 'object',
  apns: 'object',
  fcm_options: 'object',
  token: 'string',
  topic: 'string',
  condition: 'string',
}
const NOTIFICATION_FIELDS: Record<string, FieldKind> = { title: 'string', body: 'string', image: 'string' }
const ANDROID_FIELDS: Record<string, FieldKind> = {
  collapse_key: 'string',
  priority: 'priority',
  ttl: 'duration',
  restricted_package_name: 'string',
  data: 'stringMap',
  notification: 'object',
  fcm_options: 'object',
  direct_boot_ok: 'bool',
  bandwidth_constrained_ok: 'bool',
  restricted_satellite_ok: 'bool',
}

// AndroidMessagePriority: proto3 JSON takes the enum name or its number (NORMAL = 0, HIGH = 1).
const PRIORITIES = new Set<unknown>(['NORMAL', 'HIGH', 0, 1])
// google.protobuf.Duration JSON form: seconds with up to 9 fractional digits and an "s" suffix.
const DURATION = /^-?\d+(\.\d{1,9})?s$/
// "Invalid TTL: … between 0 and 2,419,200 (4 weeks)" (ErrorCode INVALID_ARGUMENT).
const MAX_TTL_S = 2_419_200
// "4096 bytes for most messages, or 2048 bytes in the case of messages to topics … both the keys and the values."
const MAX_DATA_BYTES = 4096
const MAX_TOPIC_DATA_BYTES = 2048
const TOPIC = /^(\/topics\/)?[a-zA-Z0-9-_.~%]+$/

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

class ParseErrors {
  readonly violations: FieldViolation[] = []
  add(field: string | undefined, description: string): void {
    this.violations.push(field ? { field, description } : { description })
  }
}

function invalidValue(path: string, type: string, value: unknown): string {
  return `Invalid value at '${path}' (${type}), ${JSON.stringify(value)}`
}

/** Walks one proto message: reports unknown names and type mismatches; returns it keyed by proto name. */
function parseObject(
  obj: Record<string, unknown>,
  fields: Record<string, FieldKind>,
  path: string,
  errs: ParseErrors,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(obj)) {
    const proto = fields[name] ? name : snake(name)
    const kind = fields[proto]
    if (!kind) {
      const at = path ? ` at '${path}'` : ''
      errs.add(
        path || undefined,
        `Invalid JSON payload received. Unknown name ${JSON.stringify(name)}${at}: Cannot find field.`,
      )
      continue
    }
    const fieldPath = path ? `${path}.${proto}` : proto
    if (value === null) continue // proto3 JSON: null means "default value"
    out[proto] = parseField(kind, value, fieldPath, errs)
  }
  return out
}

function parseField(kind: FieldKind, value: unknown, path: string, errs: ParseErrors): unknown {
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') errs.add(path, invalidValue(path, 'TYPE_STRING', value))
      return value
    case 'bool':
      if (typeof value !== 'boolean') errs.add(path, invalidValue(path, 'TYPE_BOOL', value))
      return value
    case 'priority':
      if (!PRIORITIES.has(value)) {
        errs.add(path, invalidValue(path, 'type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority', value))
      }
      return value === 0 ? 'NORMAL' : value === 1 ? 'HIGH' : value
    case 'duration':
      if (typeof value !== 'string' || !DURATION.test(value)) {
        errs.add(path, invalidValue(path, 'type.googleapis.com/google.protobuf.Duration', value))
      }
      return value
    case 'stringMap':
      if (!isObject(value)) {
        errs.add(path, invalidValue(path, 'TYPE_MESSAGE', value))
        return value
      }
      Object.values(value).forEach((v, i) => {
        if (typeof v !== 'string')
          errs.add(`${path}[${i}].value`, invalidValue(`${path}[${i}].value`, 'TYPE_STRING', v))
      })
      return value
    case 'notification':
    case 'android':
    case 'object':
      if (!isObject(value)) {
        errs.add(path, invalidValue(path, 'TYPE_MESSAGE', value))
        return value
      }
      if (kind === 'notification') return parseObject(value, NOTIFICATION_FIELDS, path, errs)
      if (kind === 'android') return parseObject(value, ANDROID_FIELDS, path, errs)
      return value
  }
}

function semanticError(message: string, field: string): SendValidation {
  return { ok: false, errorCode: 'INVALID_ARGUMENT', message, violations: [{ field, description: message }] }
}

function dataBytes(data: unknown): number {
  if (!isObject(data)) return 0
  let n = 0
  for (const [k, v] of Object.entries(data)) n += Buffer.byteLength(k) + Buffer.byteLength(String(v))
  return n
}

// "The key should not be a reserved word ("from", "message_type", or any word starting with
// "google" or "gcm")" — REST reference, projects.messages#Message.FIELDS.data.
function reservedKey(data: unknown): string | undefined {
  if (!isObject(data)) return undefined
  return Object.keys(data).find((k) => k === 'from' || k === 'message_type' || /^(google|gcm)/i.test(k))
}

export function validateSendRequest(body: unknown): SendValidation {
  if (!isObject(body)) {
    return {
      ok: false,
      message: 'Invalid JSON payload received. Expected an object.',
      violations: [{ description: 'Expected an object.' }],
    }
  }
  const errs = new ParseErrors()
  const request = parseObject(body, REQUEST_FIELDS, '', errs)
  const message = isObject(request.message) ? parseObject(request.message, MESSAGE_FIELDS, 'message', errs) : undefined
  const targets = message ? (['token', 'topic', 'condition'] as const).filter((t) => message[t] !== undefined) : []
  if (targets.length > 1) {
    errs.add(
      'message',
      `Invalid JSON payload received. Oneof field 'target' is already set. Cannot set '${targets[1]}'`,
    )
  }
  if (errs.violations.length > 0) {
    const text = errs.violations.map((v) => v.description).join('\n')
    return { ok: false, message: text, violations: errs.violations }
  }
  if (!message) return semanticError('Request contains an invalid argument.', 'message')
  if (targets.length === 0) return semanticError('Recipient of the message is not set.', 'message')

  const token = typeof message.token === 'string' ? message.token : undefined
  if (token !== undefined && (token.length === 0 || /\s/.test(token))) {
    return semanticError('The registration token is not a valid FCM registration token', 'message.token')
  }
  if (typeof message.topic === 'string' && !TOPIC.test(message.topic)) {
    return semanticError('Invalid topic name.', 'message.topic')
  }
  const android = isObject(message.android) ? message.android : {}
  for (const [field, data] of [
    ['message.data', message.data],
    ['message.android.data', android.data],
  ] as const) {
    const key = reservedKey(data)
    if (key !== undefined) return semanticError(`Invalid data payload key: ${key}`, field)
  }
  if (typeof android.ttl === 'string') {
    const seconds = Number(android.ttl.slice(0, -1))
    if (seconds < 0 || seconds > MAX_TTL_S) return semanticError(`Invalid TTL: ${android.ttl}`, 'message.android.ttl')
  }
  const limit = message.token === undefined ? MAX_TOPIC_DATA_BYTES : MAX_DATA_BYTES
  if (dataBytes(message.data) + dataBytes(android.data) > limit) {
    return semanticError('Android message is too big', 'message')
  }
  return { ok: true, message, validateOnly: request.validate_only === true, token }
}
