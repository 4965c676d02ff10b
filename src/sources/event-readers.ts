// Readers for untrusted event JSON, shared by the webhook, the analytics detail events and the event
// stream: each either returns a well-formed value or nothing, and a reader that must refuse throws
// MalformedEventError, which the sources count and log as a rejected frame.
import { MEDIA_TYPES, type MediaType } from '../model.js'

export class MalformedEventError extends Error {
  readonly code = 'EVENT_MALFORMED'
  constructor(message: string) {
    super(message)
    this.name = 'MalformedEventError'
  }
}

/** Untrusted input in an error message: String() throws on objects whose toString is not callable. */
export function shown(v: unknown): string {
  return typeof v === 'string'
    ? JSON.stringify(v.slice(0, 40))
    : typeof v === 'object'
      ? v === null
        ? 'null'
        : 'an object'
      : typeof v
}

/** Genesys spells media types per surface: voice, VOICE, call, callback, webmessaging, sms… */
export function mediaTypeOf(v: unknown): MediaType | undefined {
  if (typeof v !== 'string') return undefined
  const m = v.toLowerCase()
  if ((MEDIA_TYPES as readonly string[]).includes(m)) return m as MediaType
  if (m === 'call') return 'voice'
  if (m === 'webmessaging' || m === 'sms' || m === 'messaging' || m === 'whatsapp') return 'message'
  return undefined
}

export function stringOf(record: Record<string, unknown>, key: string): string | undefined {
  const v = record[key]
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

// A time outside what a Date can hold (±8.64e15 ms) is as good as none: take the receipt time.
export function epochOf(v: unknown, fallback: number): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN
  return Number.isFinite(new Date(ms).getTime()) ? ms : fallback
}

export function callerOf(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined
  const s = v.trim().replace(/^(tel|sip):/i, '')
  return s.length > 0 ? s.slice(0, 128) : undefined
}
