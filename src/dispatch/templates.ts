// The words an agent sees. Kept apart from the wire formats so operators can change the wording
// without touching payload rules. A template is plain text with fields in braces; the body is
// split on " | " and a part whose fields are all empty is left out, so a redacted caller or an
// unknown queue name never leaves "From: " dangling.
import type { MediaType, PushIntent, RingContext } from '../model.js'

export interface NotificationText {
  title: string
  body: string
}

/** Fields: {caller} (empty when redacted), {queue} (the queue's name, when known), {media}. */
export interface TextTemplate {
  title: string
  body: string
}

export const DEFAULT_RING_TEMPLATES: Record<MediaType, TextTemplate> = {
  voice: { title: 'Incoming call', body: 'From: {caller} | Queue: {queue}' },
  callback: { title: 'Callback request', body: 'For: {caller} | Queue: {queue}' },
  chat: { title: 'Incoming chat', body: 'From: {caller} | Queue: {queue}' },
  message: { title: 'Incoming message', body: 'From: {caller} | Queue: {queue}' },
  email: { title: 'Incoming email', body: 'From: {caller} | Queue: {queue}' },
}

const MEDIA_WORDS: Record<MediaType, string> = {
  voice: 'call',
  callback: 'callback',
  chat: 'chat',
  message: 'message',
  email: 'email',
}
const FALLBACK_BODY = 'Tap to answer'

export interface TemplateOptions {
  /** Apple's guidance: no customer data in payloads unless encrypted. When true the caller is left out. */
  redactCaller: boolean
  /** Per media type overrides of DEFAULT_RING_TEMPLATES. */
  templates?: Partial<Record<MediaType, Partial<TextTemplate>>>
}

function fill(part: string, fields: Record<string, string>): string | undefined {
  let used = 0
  let filled = 0
  const text = part.replace(/\{(\w+)\}/g, (_m, name: string) => {
    used++
    const value = fields[name] ?? ''
    if (value) filled++
    return value
  })
  return used > 0 && filled === 0 ? undefined : text
}

/** Renders a template: parts separated by " | " whose fields are all empty are dropped. */
export function render(template: string, fields: Record<string, string>): string {
  return template
    .split(' | ')
    .map((part) => fill(part, fields))
    .filter((p): p is string => p !== undefined && p.trim() !== '')
    .join(' | ')
}

export function ringText(ring: RingContext, options: TemplateOptions): NotificationText {
  const template = { ...DEFAULT_RING_TEMPLATES[ring.mediaType], ...options.templates?.[ring.mediaType] }
  const fields = {
    caller: ring.callerDisplay && !options.redactCaller ? ring.callerDisplay : '',
    queue: ring.queueName ?? '',
    media: MEDIA_WORDS[ring.mediaType],
  }
  const body = render(template.body, fields)
  return {
    title: render(template.title, fields) || DEFAULT_RING_TEMPLATES[ring.mediaType].title,
    body: body || FALLBACK_BODY,
  }
}

/** What a cancelled ring leaves on the phone: "Missed call from …" or "Answered on another device". */
export function cancelText(
  ring: RingContext,
  reason: PushIntent['reason'],
  options: TemplateOptions,
): NotificationText {
  const word = MEDIA_WORDS[ring.mediaType]
  const what = word.charAt(0).toUpperCase() + word.slice(1)
  const caller = ring.callerDisplay && !options.redactCaller ? ` from ${ring.callerDisplay}` : ''
  switch (reason) {
    case 'answered':
    case 'answered-on-device':
      return { title: `${what} answered`, body: 'Answered on another device.' }
    case 'timeout':
    case 'not-answered':
      return { title: `Missed ${word}${caller}`, body: 'Nobody answered in time.' }
    case 'transferred':
      return { title: `Missed ${word}${caller}`, body: 'It was transferred.' }
    case 'abandoned':
      return { title: `Missed ${word}${caller}`, body: 'The customer hung up.' }
    case 'declined':
      return { title: `${what} declined`, body: 'You declined it.' }
    default:
      return { title: `Missed ${word}${caller}`, body: 'It has ended.' }
  }
}
