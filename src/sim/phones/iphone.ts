// A simulated iPhone running the agent app, held to Apple's rules:
// - PushKit (PKPushType.voIP): iOS launches the app for every VoIP push, even a killed one, and the
//   app must report a call to CallKit before its handler returns (iOS 13+). A push it does not
//   report is a violation: iOS kills the app and, repeatedly, stops delivering VoIP pushes.
// - An alert push is shown when the app is not in the foreground; it reaches app code in the
//   foreground, in the background only with `content-available: 1`, and never in a killed app.
//   A notification with the same apns-collapse-id replaces the one shown.
// The app's handlers are the ones README "For app developers" documents: a call rung through
// PushKit is a CallKit call; a cancel ends it (PushKit: report a call and end it at once).
import { randomBytes, randomUUID } from 'node:crypto'
import type { Clock } from '../../clock.js'
import type { AcceptedPush } from '../apns/index.js'
import { pushKeys, SimulatedPhone, type PushKeys } from './phone.js'

export type IosAppState = 'foreground' | 'background' | 'killed'

export interface CallKitCall {
  conversationId: string
  state: 'ringing' | 'connected' | 'ended'
  /** Epoch ms from the push's expires_at: the app ends an unanswered call by then. */
  expiresAt: number
}

export interface ShownNotification {
  collapseId?: string
  category?: string
  title?: string
  body?: string
  keys: PushKeys
}

export interface SimulatedIPhoneOptions {
  name: string
  /** The app's bundle id (APNS_TOPIC); PushKit pushes come on `<bundle>.voip`. */
  bundleId: string
  /** Register a PushKit token (default true). */
  voip?: boolean
  /** Register an alert token (default true). */
  alert?: boolean
  /** identifierForVendor; false: the app registers without a deviceId (as apps before phones did). */
  deviceId?: string | false
  appState?: IosAppState
  clock?: Clock
}

const hexToken = (): string => randomBytes(32).toString('hex')

export class SimulatedIPhone extends SimulatedPhone {
  appState: IosAppState
  readonly bundleId: string
  readonly voipToken: string | undefined
  readonly alertToken: string | undefined
  readonly deviceId: string | undefined
  /** CallKit's calls, by conversation. */
  readonly calls = new Map<string, CallKitCall>()
  /** Notification Center, oldest first. */
  readonly shown: ShownNotification[] = []
  // The app's own ringing screen while in the foreground (an alert is not shown then).
  private readonly inApp = new Map<string, number>()

  constructor(options: SimulatedIPhoneOptions) {
    super(options.name, options.clock)
    this.bundleId = options.bundleId
    this.appState = options.appState ?? 'background'
    this.voipToken = options.voip === false ? undefined : hexToken()
    this.alertToken = options.alert === false ? undefined : hexToken()
    this.deviceId = options.deviceId === false ? undefined : (options.deviceId ?? randomUUID().toUpperCase())
  }

  tokens(): string[] {
    return [this.voipToken, this.alertToken].filter((t): t is string => t !== undefined)
  }

  /** The bodies the app POSTs to /api/v1/devices at start. */
  registrations(environment: 'sandbox' | 'production' = 'sandbox'): Array<Record<string, unknown>> {
    const phone = this.deviceId ? { deviceId: this.deviceId } : {}
    const out: Array<Record<string, unknown>> = []
    if (this.voipToken) out.push({ platform: 'ios', token: this.voipToken, pushType: 'voip', environment, ...phone })
    if (this.alertToken) out.push({ platform: 'ios', token: this.alertToken, pushType: 'alert', environment, ...phone })
    return out
  }

  setAppState(state: IosAppState): void {
    this.appState = state
    // A killed app loses its own ringing screen; CallKit's calls belong to the system and stay.
    if (state === 'killed') this.inApp.clear()
  }

  /** A push APNs accepted: handled when it is for one of this phone's tokens. */
  receive(push: AcceptedPush): boolean {
    if (push.token === this.voipToken) this.onVoipToken(push)
    else if (push.token === this.alertToken) this.onAlertToken(push)
    else return false
    return true
  }

  /** The agent answers on this phone (CallKit's answer button or the app's screen). */
  answer(conversationId: string): void {
    const expiresAt = this.calls.get(conversationId)?.expiresAt ?? this.inApp.get(conversationId) ?? Number.NaN
    this.calls.set(conversationId, { conversationId, state: 'connected', expiresAt })
    this.inApp.delete(conversationId)
    this.removeRings(conversationId)
    if (this.appState === 'killed') this.appState = 'foreground'
  }

  ringing(): boolean {
    return this.ringingConversations().length > 0
  }

  ringingConversations(): string[] {
    const out = new Set<string>()
    for (const call of this.calls.values())
      if (call.state === 'ringing' && this.current(call.expiresAt)) out.add(call.conversationId)
    for (const [cid, expiresAt] of this.inApp) if (this.current(expiresAt)) out.add(cid)
    for (const n of this.shown)
      if (n.keys.action === 'ring' && n.keys.conversationId && this.current(n.keys.expiresAt))
        out.add(n.keys.conversationId)
    return [...out]
  }

  private onVoipToken(push: AcceptedPush): void {
    // APNs would refuse it (DeviceTokenNotForTopic); the sandbox cannot tell the two token kinds apart.
    if (push.headers['apns-push-type'] !== 'voip' || push.headers['apns-topic'] !== `${this.bundleId}.voip`) {
      return this.violation(
        `a ${push.headers['apns-push-type'] ?? 'typeless'} push to the PushKit token: APNs answers DeviceTokenNotForTopic`,
      )
    }
    // PushKit launches a killed app in the background to handle the push.
    if (this.appState === 'killed') this.appState = 'background'
    const keys = pushKeys(push.payload)
    this.reachedApp('pushkit', push.token, push.payload)
    const cid = keys.conversationId
    if (cid === undefined)
      return this.violation('a PushKit push the app could not report as a call (no conversation): iOS kills the app')
    if (keys.action === 'ring' && keys.mediaType === 'voice') {
      const existing = this.calls.get(cid)
      if (existing === undefined || existing.state === 'ended')
        this.calls.set(cid, { conversationId: cid, state: 'ringing', expiresAt: keys.expiresAt })
      return
    }
    if (keys.action === 'cancel_ring') {
      // Reported as a call and ended at once; a call already connected on this phone stays.
      const call = this.calls.get(cid)
      if (call?.state === 'ringing') call.state = 'ended'
      else if (call === undefined)
        this.calls.set(cid, { conversationId: cid, state: 'ended', expiresAt: keys.expiresAt })
      return
    }
    this.violation(
      `a PushKit push for ${keys.mediaType ?? 'unknown media'} (${keys.action ?? 'no action'}) the app cannot report as a call: iOS kills the app`,
    )
  }

  private onAlertToken(push: AcceptedPush): void {
    if (push.headers['apns-push-type'] === 'voip' || push.headers['apns-topic'] !== this.bundleId) {
      return this.violation(
        `a ${push.headers['apns-push-type'] ?? 'typeless'} push on ${push.headers['apns-topic'] ?? 'no topic'} to the alert token: APNs answers DeviceTokenNotForTopic`,
      )
    }
    const aps = (push.payload.aps ?? {}) as Record<string, unknown>
    const keys = pushKeys(push.payload)
    if (aps.alert !== undefined && this.appState !== 'foreground') this.show(push, aps, keys)
    const appCode = this.appState === 'foreground' || (this.appState === 'background' && aps['content-available'] === 1)
    if (!appCode) return
    this.reachedApp('apns-alert', push.token, push.payload)
    const cid = keys.conversationId
    if (cid === undefined) return
    if (keys.action === 'ring' && this.appState === 'foreground' && this.calls.get(cid)?.state !== 'connected')
      this.inApp.set(cid, keys.expiresAt)
    if (keys.action === 'cancel_ring') this.stopRinging(cid)
  }

  private show(push: AcceptedPush, aps: Record<string, unknown>, keys: PushKeys): void {
    const collapseId = push.headers['apns-collapse-id']
    if (collapseId !== undefined) {
      const i = this.shown.findIndex((n) => n.collapseId === collapseId)
      if (i >= 0) this.shown.splice(i, 1)
    }
    const alert =
      typeof aps.alert === 'object' && aps.alert !== null ? (aps.alert as Record<string, unknown>) : { body: aps.alert }
    this.shown.push({
      keys,
      ...(collapseId !== undefined ? { collapseId } : {}),
      ...(typeof aps.category === 'string' ? { category: aps.category } : {}),
      ...(typeof alert.title === 'string' ? { title: alert.title } : {}),
      ...(typeof alert.body === 'string' ? { body: alert.body } : {}),
    })
  }

  // The app's cancel handler: end the CallKit call unless the agent answered here, stop its own
  // ringing screen, and remove the ring's notification.
  private stopRinging(conversationId: string): void {
    const call = this.calls.get(conversationId)
    if (call?.state === 'ringing') call.state = 'ended'
    this.inApp.delete(conversationId)
    this.removeRings(conversationId)
  }

  private removeRings(conversationId: string): void {
    for (let i = this.shown.length - 1; i >= 0; i--) {
      const n = this.shown[i]
      if (n?.keys.action === 'ring' && n.keys.conversationId === conversationId) this.shown.splice(i, 1)
    }
  }
}
