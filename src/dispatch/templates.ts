// The words an agent sees. Kept apart from the wire formats so operators can change the wording
// without touching payload rules.
import type { MediaType, PushIntent, RingContext } from '../model.js'

export interface NotificationText {
  title: string
  body: string
}

const RING_TITLES: Record<MediaType, string> = {
  voice: 'Incoming call',
  callback: 'Callback request',
  chat: 'Incoming chat',
  message: 'Incoming message',
  email: 'Incoming email',
}

export interface TemplateOptions {
  /** Apple's guidance: no customer data in payloads unless encrypted. When true the caller is left out. */
  redactCaller: boolean
}

export function ringText(ring: RingContext, options: TemplateOptions): NotificationText {
  const parts: string[] = []
  if (ring.callerDisplay && !options.redactCaller) parts.push(`From: ${ring.callerDisplay}`)
  if (ring.queueName) parts.push(`Queue: ${ring.queueName}`)
  return { title: RING_TITLES[ring.mediaType], body: parts.length > 0 ? parts.join(' | ') : 'Tap to answer' }
}

export function cancelText(ring: RingContext, reason: PushIntent['reason']): NotificationText {
  const what = ring.mediaType === 'voice' ? 'Call' : RING_TITLES[ring.mediaType].replace(/^Incoming /, '').replace(/^./, (c) => c.toUpperCase())
  switch (reason) {
    case 'answered':
    case 'answered-on-device':
      return { title: `${what} answered`, body: 'Answered on another device.' }
    case 'timeout':
    case 'not-answered':
      return { title: `Missed ${what.toLowerCase()}`, body: 'Nobody answered in time.' }
    case 'transferred':
      return { title: `${what} cancelled`, body: 'It was transferred.' }
    case 'abandoned':
      return { title: `${what} cancelled`, body: 'The customer hung up.' }
    default:
      return { title: `${what} cancelled`, body: 'The call has been transferred or abandoned.' }
  }
}
