// A simulated browser with the agent web app's service worker. The Web Push sandbox has already
// decrypted the push (RFC 8291) with this subscription's keys; the service worker's push handler is
// the one README "For app developers" documents: a ring shows a notification tagged with the
// conversation (requireInteraction), a cancel replaces it with the cancel text. Browsers require
// every push to show a notification (userVisibleOnly), so a push it cannot read is a violation.
import { randomUUID } from 'node:crypto'
import type { Clock } from '../../clock.js'
import type { AcceptedWebPush, SandboxSubscription } from '../webpush/index.js'
import { NotificationPhone, pushKeys } from './phone.js'

export interface SimulatedBrowserOptions {
  name: string
  /** What PushManager.subscribe() gave the page. */
  subscription: SandboxSubscription
  /** An id the web app keeps in localStorage; false: it registers without one. */
  deviceId?: string | false
  clock?: Clock
}

export class SimulatedBrowser extends NotificationPhone {
  readonly subscription: SandboxSubscription
  readonly deviceId: string | undefined

  constructor(options: SimulatedBrowserOptions) {
    super(options.name, options.clock)
    this.subscription = options.subscription
    this.deviceId = options.deviceId === false ? undefined : (options.deviceId ?? randomUUID())
  }

  tokens(): string[] {
    return [this.subscription.endpoint]
  }

  registrations(): Array<Record<string, unknown>> {
    return [{ platform: 'web', subscription: this.subscription, ...(this.deviceId ? { deviceId: this.deviceId } : {}) }]
  }

  receive(push: AcceptedWebPush): boolean {
    if (push.endpoint !== this.subscription.endpoint) return false
    if (push.payload === undefined) {
      this.violation('a push the service worker cannot read (not JSON): the browser shows its generic notification')
      return true
    }
    this.reachedApp('webpush', push.endpoint, push.payload)
    this.showPush(pushKeys(push.payload), push.payload.title)
    return true
  }
}
