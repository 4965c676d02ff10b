// A simulated Android phone running the agent app, held to Firebase's rules ("Android message
// priority", "About FCM messages"):
// - a data message reaches the app's FirebaseMessagingService in every app state (a killed app's
//   process is started for it), but in Doze only a high-priority one is delivered at once; a
//   normal-priority one waits for the next maintenance window (here: until Doze ends), and is
//   dropped if its ttl ran out by then;
// - a message with a `notification` block is shown by the system while the app is in the
//   background, without running app code.
// The app's handler is the one README "For app developers" documents: a ring shows a full-screen
// call notification tagged with the conversation; a cancel removes it.
import { randomBytes, randomUUID } from 'node:crypto'
import type { Clock } from '../../clock.js'
import type { AcceptedMessage } from '../fcm/index.js'
import { NotificationPhone, pushKeys } from './phone.js'

export type AndroidAppState = 'foreground' | 'background' | 'killed'

export interface SimulatedAndroidOptions {
  name: string
  /** The Firebase installation id; false: the app registers without a deviceId. */
  deviceId?: string | false
  appState?: AndroidAppState
  doze?: boolean
  clock?: Clock
}

interface Deferred {
  message: Record<string, unknown>
  /** Epoch ms after which FCM drops it (android.ttl). */
  dropAt: number
}

function ttlMs(message: Record<string, unknown>): number {
  const ttl = (message.android as { ttl?: unknown } | undefined)?.ttl
  // FCM's default ttl is four weeks.
  return typeof ttl === 'string' && /^\d+(\.\d+)?s$/.test(ttl) ? Number(ttl.slice(0, -1)) * 1000 : 28 * 86_400_000
}

export class SimulatedAndroid extends NotificationPhone {
  appState: AndroidAppState
  doze: boolean
  readonly token: string
  readonly deviceId: string | undefined
  private readonly deferred: Deferred[] = []

  constructor(options: SimulatedAndroidOptions) {
    super(options.name, options.clock)
    this.appState = options.appState ?? 'background'
    this.doze = options.doze ?? false
    this.token = `${randomBytes(12).toString('base64url')}:APA91b${randomBytes(96).toString('base64url')}`
    this.deviceId = options.deviceId === false ? undefined : (options.deviceId ?? randomUUID())
  }

  tokens(): string[] {
    return [this.token]
  }

  registrations(): Array<Record<string, unknown>> {
    return [{ platform: 'android', token: this.token, ...(this.deviceId ? { deviceId: this.deviceId } : {}) }]
  }

  setAppState(state: AndroidAppState): void {
    this.appState = state
  }

  /** Doze ends (the agent picks the phone up): deferred messages still alive arrive. */
  setDoze(doze: boolean): void {
    this.doze = doze
    if (doze) return
    const waiting = this.deferred.splice(0)
    for (const d of waiting) if (d.dropAt > this.clock.now()) this.handle(d.message)
  }

  /** A message FCM accepted: handled when it is for this phone's token. */
  receive(accepted: AcceptedMessage): boolean {
    const message = accepted.message
    if (message.token !== this.token) return false
    const priority = String((message.android as { priority?: unknown } | undefined)?.priority ?? 'NORMAL').toUpperCase()
    if (this.doze && priority !== 'HIGH') this.deferred.push({ message, dropAt: this.clock.now() + ttlMs(message) })
    else this.handle(message)
    return true
  }

  private handle(message: Record<string, unknown>): void {
    const notification = message.notification as { title?: unknown } | undefined
    if (notification !== undefined && this.appState !== 'foreground') {
      // The system shows it; the app's code does not run, so it cannot ring or stop ringing.
      const tag = typeof message.collapse_key === 'string' ? message.collapse_key : randomUUID()
      this.notifications.set(tag, {
        kind: 'system',
        expiresAt: Number.NaN,
        ...(typeof notification.title === 'string' ? { title: notification.title } : {}),
      })
      return
    }
    const data = (message.data ?? {}) as Record<string, unknown>
    this.reachedApp('fcm', this.token, data)
    this.showPush(pushKeys(data), data.title)
  }
}
