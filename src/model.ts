// The shared vocabulary of the gateway. Sources produce RoutingEvents; the ring engine turns
// them into PushIntents; the dispatcher turns those into provider messages for Devices.
// Nothing here knows a Genesys, Apple or Google wire format.

export const MEDIA_TYPES = ['voice', 'callback', 'chat', 'message', 'email'] as const
export type MediaType = (typeof MEDIA_TYPES)[number]

export const PLATFORMS = ['ios', 'android', 'web'] as const
export type Platform = (typeof PLATFORMS)[number]

/** iOS only: a PushKit VoIP token or an ordinary (alert) APNs token. */
export type IosPushType = 'voip' | 'alert'
export type ApnsEnvironment = 'production' | 'sandbox'

export type EventSourceName = 'notifications' | 'eventstream' | 'webhook'

/** Why an agent participant stopped alerting without being answered (or after). */
export type EndReason =
  | 'abandoned' // the customer hung up while the agent was alerting
  | 'transferred' // routed away from this agent
  | 'not-answered' // the alert timed out (Genesys transfer.noanswer / NO_ANSWER_TRANSFER; the agent goes NOT_RESPONDING)
  | 'declined' // the agent rejected it
  | 'ended' // the conversation ended for another reason, or after it was answered

interface RoutingEventBase {
  conversationId: string
  userId: string
  /** The agent participant id: a call routed back to the same agent is a new participant, so a new ring. */
  participantId: string
  mediaType: MediaType
  queueId?: string
  /** Caller display (ANI, name, or address); may be absent or redacted. */
  callerDisplay?: string
  /** When Genesys says the change happened (epoch ms). */
  occurredAt: number
  /** When the gateway received the frame (epoch ms, from the gateway's clock); the start of latency. */
  receivedAt: number
  /** performance.now() at receipt, for sub-millisecond latency measurements inside one process. */
  receivedAtHr?: number
  source: EventSourceName
  /**
   * Re-derived by gap recovery from a fresh read of the conversation, not heard live: an offer
   * of a ring already claimed may then be a ring whose claiming instance died before pushing it.
   */
  recovered?: boolean
}

export type RoutingEvent =
  | (RoutingEventBase & { kind: 'offer'; alertingTimeoutMs?: number })
  | (RoutingEventBase & { kind: 'answered' })
  | (RoutingEventBase & { kind: 'ended'; reason: EndReason })

export type RoutingEventKind = RoutingEvent['kind']

/** A W3C Push API subscription as a browser hands it out (PushSubscription.toJSON()). */
export interface WebPushSubscription {
  endpoint: string
  keys: { p256dh: string; auth: string }
}

export interface Device {
  userId: string
  platform: Platform
  /** APNs device token (hex), FCM registration token, or the Web Push endpoint URL. Unique per device. */
  token: string
  /** iOS only; defaults to 'alert'. */
  pushType?: IosPushType
  /** iOS only; defaults to 'production'. */
  environment?: ApnsEnvironment
  /** Web only. */
  subscription?: WebPushSubscription
  /** Optional app identifier (bundle id / package name) when it differs from the gateway default. */
  appId?: string
  /**
   * The app's installation id (iOS identifierForVendor, the Firebase installation id, an id a web
   * app keeps): the tokens of one agent with the same deviceId are one phone, which rings once.
   */
  deviceId?: string
  /** Epoch ms. */
  registeredAt: number
}

/** A device taken from agent `userId`: evicted past MAX_DEVICES_PER_AGENT, or registered by another agent. */
export type DeviceChange =
  | {
      kind: 'evicted'
      userId: string
      token: string
      limit: number
      /** 'phones': its phone was the least recently registered past `limit` phones; 'tokens': its phone had too many tokens. */
      past: 'phones' | 'tokens'
      /** The deviceId of its phone, if it has one. */
      phone?: string | undefined
    }
  | { kind: 'moved'; userId: string; token: string; toUserId: string }

/** What the payload builders need to know about the interaction being rung or cancelled. */
export interface RingContext {
  conversationId: string
  userId: string
  participantId: string
  mediaType: MediaType
  queueId?: string
  queueName?: string
  callerDisplay?: string
  /** When the offer happened (epoch ms). */
  offeredAt: number
}

export type PushAction = 'ring' | 'cancel'

/** One device and the transport chosen for it: PushKit VoIP, an APNs alert, or a data message. */
export interface PushTarget {
  device: Device
  via: 'voip' | 'alert' | 'data'
}

export interface PushIntent {
  action: PushAction
  ring: RingContext
  targets: PushTarget[]
  /** Epoch ms after which the push is worthless: nothing (first try or retry) goes out after it. */
  expiresAt: number
  /** For cancels: why the ring ended. */
  reason?: EndReason | 'answered' | 'timeout' | 'answered-on-device'
  /** The event that caused this intent, for latency accounting. */
  cause?: RoutingEvent
  /** performance.now() when the ring engine decided this intent, for latency accounting (the live feed's stages). */
  decidedAtHr?: number
  /** RING_REPEAT_S: the n-th repeat of a ring no device reported yet (absent on the ring itself). */
  repeat?: number
}

/** The ring state machine of docs/ARCHITECTURE.md, keyed by (conversationId, userId, participantId). */
// The seams of the pipeline (src/app.ts wires them, docs/ARCHITECTURE.md draws them). Each stage
// hands its output to the next through one of these, so a frame can be followed from the socket to
// the push by name, and each stage depends on this file rather than on the stage after it.
/** Where a source hands each normalised event (the gateway's event intake, then the ring engine). */
export interface RoutingEventSink {
  handle(event: RoutingEvent): void
}

/** Where the ring engine's outbox and the ring repeater hand each push (the dispatcher). */
export interface PushIntentSink {
  dispatch(intent: PushIntent): Promise<unknown>
}

export type RingState = 'ringing' | 'answered' | 'cancelled'

export interface RingRecord {
  conversationId: string
  userId: string
  participantId: string
  mediaType: MediaType
  state: RingState
  /** Tokens of the devices that were sent the ring. */
  rungTokens: string[]
  /** Tokens that have already been sent a cancel (each device gets at most one). */
  cancelledTokens: string[]
  queueId?: string
  callerDisplay?: string
  offeredAt: number
  /** Epoch ms: the ring times out here. */
  expiresAt: number
  /**
   * Epoch ms when the ring's pushes were handed to the push services (sent, or definitively
   * failed); absent while the ring is only claimed. A ring left unmarked by an instance that died
   * between the claim and the push is sent again by recovery (RingStore.markSent).
   */
  dispatchedAt?: number
}

export function ringKey(r: { conversationId: string; userId: string; participantId: string }): string {
  return `${r.conversationId}:${r.userId}:${r.participantId}`
}
