// What every simulated phone shares: the keys the gateway's pushes carry, the hook through which a
// push that reaches app code is announced, and the rule each phone answers: "is it ringing now?".
import { systemClock, type Clock } from '../../clock.js'

/** How a push reached the app's own code (not only the system UI). */
export type AppChannel = 'pushkit' | 'apns-alert' | 'fcm' | 'webpush'

/** A push that reached the app's code: what a device receipt (an app's acknowledgement) would build on. */
export interface AppDelivery {
  phone: string
  channel: AppChannel
  /** The token (or Web Push endpoint) the push arrived on. */
  token: string
  /** The custom keys of the push: action, genesys_conversation_id, media_type, expires_at, … */
  keys: Record<string, unknown>
  /** Epoch ms, from the phone's clock. */
  at: number
}

/** Something the platform would punish or refuse, recorded instead of thrown so tests can assert on it. */
export interface PhoneViolation {
  phone: string
  rule: string
  at: number
}

export type AppListener = (delivery: AppDelivery) => void

export interface PushKeys {
  action?: string
  conversationId?: string
  mediaType?: string
  /** Epoch ms; NaN when absent. */
  expiresAt: number
}

export function pushKeys(keys: Record<string, unknown>): PushKeys {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
  const expires = str(keys.expires_at)
  return {
    ...(str(keys.action) ? { action: str(keys.action) } : {}),
    ...(str(keys.genesys_conversation_id) ? { conversationId: str(keys.genesys_conversation_id) } : {}),
    ...(str(keys.media_type) ? { mediaType: str(keys.media_type) } : {}),
    expiresAt: expires ? Date.parse(expires) : Number.NaN,
  }
}

/** The parts every simulated phone has: a name, a clock, app-code listeners and violations. */
export abstract class SimulatedPhone {
  readonly violations: PhoneViolation[] = []
  protected readonly clock: Clock
  private readonly listeners = new Set<AppListener>()

  constructor(
    readonly name: string,
    clock?: Clock,
  ) {
    this.clock = clock ?? systemClock
  }

  /** Is anything ringing on this phone now (a call screen, a ringing notification)? */
  abstract ringing(): boolean

  /** Conversations ringing on this phone now. */
  abstract ringingConversations(): string[]

  /** Tokens (or Web Push endpoints) this phone receives pushes on. */
  abstract tokens(): string[]

  /** Called for every push that reaches the app's code; returns a function that removes the listener. */
  onAppCode(listener: AppListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  protected reachedApp(channel: AppChannel, token: string, keys: Record<string, unknown>): void {
    const delivery: AppDelivery = { phone: this.name, channel, token, keys, at: this.clock.now() }
    for (const listener of this.listeners) listener(delivery)
  }

  protected violation(rule: string): void {
    this.violations.push({ phone: this.name, rule, at: this.clock.now() })
  }

  /** Whether a ring with this expiry is still current (a ring without one never expires by itself). */
  protected current(expiresAt: number): boolean {
    return Number.isNaN(expiresAt) || expiresAt > this.clock.now()
  }
}

export interface TrayNotification {
  /** `system`: shown by the OS from a `notification` block, without the app's code running. */
  kind: 'ring' | 'cancel' | 'system'
  expiresAt: number
  title?: string
}

/**
 * A phone whose app rings by posting a notification tagged with the conversation (the Android app's
 * full-screen call notification, the service worker's notification): a ring shows one, a cancel
 * replaces it, and a conversation answered on this phone is never shown again.
 */
export abstract class NotificationPhone extends SimulatedPhone {
  /** Notifications the app (or the system) posted, by tag (the conversation). */
  readonly notifications = new Map<string, TrayNotification>()
  private readonly connected = new Set<string>()

  answer(conversationId: string): void {
    this.connected.add(conversationId)
    this.notifications.delete(conversationId)
  }

  ringing(): boolean {
    return this.ringingConversations().length > 0
  }

  ringingConversations(): string[] {
    const out: string[] = []
    for (const [tag, n] of this.notifications) if (n.kind === 'ring' && this.current(n.expiresAt)) out.push(tag)
    return out
  }

  /** What the app's push handler does with a ring or a cancel it was handed. */
  protected showPush(keys: PushKeys, title: unknown): void {
    const cid = keys.conversationId
    if (cid === undefined || this.connected.has(cid)) return
    const shown = typeof title === 'string' ? { title } : {}
    if (keys.action === 'ring') this.notifications.set(cid, { kind: 'ring', expiresAt: keys.expiresAt, ...shown })
    if (keys.action === 'cancel_ring') this.notifications.set(cid, { kind: 'cancel', expiresAt: Number.NaN, ...shown })
  }
}
