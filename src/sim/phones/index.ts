// Simulated phones on the push sandboxes: every push a sandbox accepts is handed to the phone that
// owns the token, as Apple's, Google's and the browsers' push services would deliver it. Tests and
// the demo then ask each phone what the agent sees: is it ringing now?
import type { Clock } from '../../clock.js'
import type { AcceptedPush, ApnsSandbox } from '../apns/index.js'
import type { AcceptedMessage, FcmSandbox } from '../fcm/index.js'
import type { AcceptedWebPush, WebPushSandbox } from '../webpush/index.js'
import { SimulatedAndroid, type SimulatedAndroidOptions } from './android.js'
import { SimulatedBrowser, type SimulatedBrowserOptions } from './browser.js'
import { SimulatedIPhone, type SimulatedIPhoneOptions } from './iphone.js'
import type { PhoneViolation, SimulatedPhone } from './phone.js'

export { SimulatedAndroid, type AndroidAppState, type SimulatedAndroidOptions } from './android.js'
export { SimulatedBrowser, type SimulatedBrowserOptions } from './browser.js'
export {
  SimulatedIPhone,
  type CallKitCall,
  type IosAppState,
  type ShownNotification,
  type SimulatedIPhoneOptions,
} from './iphone.js'
export { SimulatedPhone, type AppChannel, type AppDelivery, type AppListener, type PhoneViolation } from './phone.js'

export { ReceiptReporter, type ReceiptReport, type ReceiptReporterOptions } from './receipts.js'

/**
 * How pushes travel from the push service to a phone: a fixed delay plus a uniformly random part,
 * and a share that never arrives (no network, a phone off). Without one, a push arrives at once.
 */
export interface DeliveryModel {
  delayMs?: number
  jitterMs?: number
  /** 0 to 1. */
  loss?: number
}

export interface PushSandboxes {
  apns: ApnsSandbox
  fcm: FcmSandbox
  webpush: WebPushSandbox
}

export class PhoneNetwork {
  private readonly iphones: SimulatedIPhone[] = []
  private readonly androids: SimulatedAndroid[] = []
  private readonly browsers: SimulatedBrowser[] = []
  private readonly onApns = (push: AcceptedPush): void =>
    this.deliver(
      this.iphones.find((p) => p.tokens().includes(push.token)),
      (p) => p.receive(push),
    )
  private readonly onFcm = (message: AcceptedMessage): void =>
    this.deliver(
      this.androids.find((p) => p.tokens().includes(String(message.message.token))),
      (p) => p.receive(message),
    )
  private readonly onWebPush = (push: AcceptedWebPush): void =>
    this.deliver(
      this.browsers.find((p) => p.tokens().includes(push.endpoint)),
      (p) => p.receive(push),
    )
  private readonly models = new Map<SimulatedPhone, DeliveryModel>()
  private readonly timers = new Set<NodeJS.Timeout>()
  /** Pushes the delivery model dropped. */
  lost = 0

  constructor(
    private readonly sandboxes: PushSandboxes,
    private readonly options: { clock?: Clock; bundleId: string; delivery?: DeliveryModel; random?: () => number },
  ) {
    sandboxes.apns.on('push', this.onApns)
    sandboxes.fcm.on('message', this.onFcm)
    sandboxes.webpush.on('push', this.onWebPush)
  }

  iphone(options: Omit<SimulatedIPhoneOptions, 'bundleId' | 'clock'>): SimulatedIPhone {
    const phone = new SimulatedIPhone({ ...options, bundleId: this.options.bundleId, ...this.clock() })
    this.iphones.push(phone)
    return phone
  }

  android(options: Omit<SimulatedAndroidOptions, 'clock'>): SimulatedAndroid {
    const phone = new SimulatedAndroid({ ...options, ...this.clock() })
    this.androids.push(phone)
    return phone
  }

  /** A browser that subscribed with the gateway's VAPID public key. */
  browser(
    options: Omit<SimulatedBrowserOptions, 'subscription' | 'clock'> & { applicationServerKey: string },
  ): SimulatedBrowser {
    const subscription = this.sandboxes.webpush.subscribe({ applicationServerKey: options.applicationServerKey })
    const phone = new SimulatedBrowser({
      name: options.name,
      subscription,
      ...(options.deviceId !== undefined ? { deviceId: options.deviceId } : {}),
      ...this.clock(),
    })
    this.browsers.push(phone)
    return phone
  }

  phones(): SimulatedPhone[] {
    return [...this.iphones, ...this.androids, ...this.browsers]
  }

  violations(): PhoneViolation[] {
    return this.phones().flatMap((p) => p.violations)
  }

  /** This phone's own way of receiving pushes (a phone in a basement), instead of the network's. */
  setDelivery(phone: SimulatedPhone, model: DeliveryModel): void {
    this.models.set(phone, model)
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.sandboxes.apns.off('push', this.onApns)
    this.sandboxes.fcm.off('message', this.onFcm)
    this.sandboxes.webpush.off('push', this.onWebPush)
  }

  private deliver<P extends SimulatedPhone>(phone: P | undefined, receive: (phone: P) => void): void {
    if (!phone) return
    const model = this.models.get(phone) ?? this.options.delivery
    if (!model) return receive(phone)
    const random = this.options.random ?? Math.random
    if ((model.loss ?? 0) > 0 && random() < (model.loss ?? 0)) {
      this.lost++
      return
    }
    const delay = (model.delayMs ?? 0) + (model.jitterMs ?? 0) * random()
    if (delay <= 0) return receive(phone)
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      receive(phone)
    }, delay)
    this.timers.add(timer)
  }

  private clock(): { clock?: Clock } {
    return this.options.clock ? { clock: this.options.clock } : {}
  }
}
