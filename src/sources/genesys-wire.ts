// Reading Genesys conversation wire shapes (purecloud-platform-client-v2 ConversationEventTopic* models
// and the REST Conversation model, which share the fields used here). Validation happens here, once;
// nothing downstream sees a Genesys field name.
import type { MediaType } from '../model.js'
import { legPhase } from './disconnect.js'

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Media arrays of a participant and what each means to the gateway. */
const MEDIA_KEYS: ReadonlyArray<readonly [string, MediaType]> = [
  ['calls', 'voice'],
  ['callbacks', 'callback'],
  ['chats', 'chat'],
  ['messages', 'message'],
  ['emails', 'email'],
]
const MEDIA_BY_SUFFIX: Readonly<Record<string, MediaType>> = Object.fromEntries(MEDIA_KEYS)

export interface ConversationTopic {
  scope: 'user' | 'queue'
  /** The user id or queue id named by the topic. */
  id: string
  /** Set for per-media topics (…conversations.calls etc.), whose participants carry state themselves. */
  mediaType?: MediaType
}

// v2.users.{id}.conversations[.calls|.callbacks|.chats|.messages|.emails] and the same under
// v2.routing.queues.{id}. Topic names are Genesys' filter: see notificationMappings.json.
const TOPIC_RE = /^v2\.(users|routing\.queues)\.([^.]+)\.conversations(?:\.(calls|callbacks|chats|messages|emails))?$/

export function parseConversationTopic(topicName: string): ConversationTopic | undefined {
  const m = TOPIC_RE.exec(topicName)
  if (!m || m[1] === undefined || m[2] === undefined) return undefined
  const scope = m[1] === 'users' ? 'user' : 'queue'
  const mediaType = m[3] === undefined ? undefined : MEDIA_BY_SUFFIX[m[3]]
  return mediaType === undefined ? { scope, id: m[2] } : { scope, id: m[2], mediaType }
}

export interface LegReading {
  participantId: string
  userId: string
  mediaType: MediaType
  state: 'alerting' | 'connected' | 'ended' | 'other'
  disconnectType?: string
  connectedAt?: number
  endedAt?: number
  queueId?: string
  callerDisplay?: string
  alertingTimeoutMs?: number
}

interface MediaEntry {
  mediaType: MediaType
  state: string
  disconnectType?: string
  connectedTime?: unknown
  disconnectedTime?: unknown
}

const isTerminal = (state: string): boolean => legPhase(state) === 'ended'

function mediaEntries(p: Record<string, unknown>, topicMediaType: MediaType | undefined): MediaEntry[] {
  const out: MediaEntry[] = []
  for (const [key, mediaType] of MEDIA_KEYS) {
    const list = p[key]
    if (!Array.isArray(list)) continue
    for (const e of list) {
      if (!isRecord(e) || typeof e.state !== 'string') continue
      out.push({
        mediaType,
        state: e.state.toLowerCase(),
        ...(typeof e.disconnectType === 'string' && { disconnectType: e.disconnectType }),
        connectedTime: e.connectedTime,
        disconnectedTime: e.disconnectedTime,
      })
    }
  }
  // Per-media topics flatten the media leg into the participant (…EventTopicCallMediaParticipant).
  if (out.length === 0 && topicMediaType !== undefined && typeof p.state === 'string') {
    out.push({
      mediaType: topicMediaType,
      state: p.state.toLowerCase(),
      ...(typeof p.disconnectType === 'string' && { disconnectType: p.disconnectType }),
      connectedTime: p.connectedTime,
      disconnectedTime: p.endTime,
    })
  }
  return out
}

function refId(p: Record<string, unknown>, flat: string, nested: string): string | undefined {
  const v = p[flat]
  if (typeof v === 'string' && v.length > 0) return v
  const ref = p[nested]
  return isRecord(ref) && typeof ref.id === 'string' && ref.id.length > 0 ? ref.id : undefined
}

function epochMs(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined
  const ms = Date.parse(v)
  return Number.isFinite(ms) ? ms : undefined
}

function legState(state: string): LegReading['state'] {
  switch (legPhase(state)) {
    case 'ringing':
      return 'alerting'
    case 'answered':
      return 'connected'
    case 'ended':
      return 'ended'
    case 'not-ringing':
      return 'other'
  }
}

/**
 * The media entry that decides an agent participant's ring. A participant can hold several: a
 * callback the agent accepted keeps its `callbacks[]` entry connected while a `calls[]` entry dials
 * the customer; a consult adds a leg. Connected wins (the interaction was answered), then alerting,
 * then any other live entry, then the last one (all ended).
 */
function decidingEntry(entries: MediaEntry[]): MediaEntry | undefined {
  return (
    entries.find((e) => legPhase(e.state) === 'answered') ??
    entries.find((e) => legPhase(e.state) === 'ringing') ??
    entries.find((e) => !isTerminal(e.state)) ??
    entries[entries.length - 1]
  )
}

function cleanAddress(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined
  const s = v.trim().replace(/^(tel|sip):/i, '')
  return s.length > 0 ? s.slice(0, 128) : undefined
}

/** Phone media show the number (ANI); digital media the customer's name. */
function callerDisplay(customer: Record<string, unknown> | undefined, mediaType: MediaType): string | undefined {
  if (!customer) return undefined
  const number = cleanAddress(customer.ani) ?? cleanAddress(customer.address)
  const name = cleanAddress(customer.name)
  return mediaType === 'voice' || mediaType === 'callback' ? (number ?? name) : (name ?? number)
}

function isCustomer(p: Record<string, unknown>): boolean {
  return p.purpose === 'customer' || p.purpose === 'external'
}

function hasLeft(p: Record<string, unknown>, topicMediaType: MediaType | undefined): boolean {
  const entries = mediaEntries(p, topicMediaType)
  if (entries.length > 0) return entries.every((e) => isTerminal(e.state))
  return typeof p.endTime === 'string'
}

export function readLegs(
  participants: unknown[],
  topicMediaType: MediaType | undefined,
): { legs: LegReading[]; customerGone: boolean; malformed: number } {
  let malformed = 0
  const records: Record<string, unknown>[] = []
  for (const p of participants) {
    if (isRecord(p)) records.push(p)
    else malformed++
  }
  const customers = records.filter(isCustomer)
  const customerGone = customers.length > 0 && customers.every((c) => hasLeft(c, topicMediaType))
  const acdQueueId = records
    .filter((p) => p.purpose === 'acd')
    .map((p) => refId(p, 'queueId', 'queue'))
    .find((q) => q)

  const legs: LegReading[] = []
  for (const p of records) {
    if (p.purpose !== 'agent') continue
    const userId = refId(p, 'userId', 'user')
    // An empty participant id would make every such leg of the conversation one ring key.
    if (typeof p.id !== 'string' || p.id === '' || userId === undefined) {
      malformed++
      continue
    }
    const entries = mediaEntries(p, topicMediaType)
    const current = decidingEntry(entries)
    if (!current) continue
    const queueId = refId(p, 'queueId', 'queue') ?? acdQueueId
    const display = callerDisplay(customers[0], current.mediaType)
    const connectedAt = epochMs(current.connectedTime) ?? epochMs(p.connectedTime)
    const endedAt = epochMs(current.disconnectedTime) ?? epochMs(p.endTime)
    legs.push({
      participantId: p.id,
      userId,
      mediaType: current.mediaType,
      state: legState(current.state),
      ...(current.disconnectType !== undefined && { disconnectType: current.disconnectType }),
      ...(connectedAt !== undefined && { connectedAt }),
      ...(endedAt !== undefined && { endedAt }),
      ...(queueId !== undefined && { queueId }),
      ...(display !== undefined && { callerDisplay: display }),
      ...(typeof p.alertingTimeoutMs === 'number' && { alertingTimeoutMs: p.alertingTimeoutMs }),
    })
  }
  return { legs, customerGone, malformed }
}
