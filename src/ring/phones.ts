// A phone is the unit that rings: the tokens an agent registered with the same deviceId (an
// iPhone holds a PushKit and an alert token). Each phone rings once and, if it rang, gets one
// cancel. Apple's rules decide the transport (PushKit PKPushType.voIP; "Pushing background
// updates"):
// - every PushKit push must be reported to CallKit as a call, so only calls go through PushKit;
// - a plain alert reaches app code in the background only with content-available, which is what
//   lets the app end a CallKit call: a phone rung through PushKit is cancelled on its own alert
//   token (IOS_CALL_CANCEL=alert, the default), through PushKit when it has none or when
//   IOS_CALL_CANCEL=voip (the app reports the call and ends it at once).
// iOS tokens registered without a deviceId keep the rule from before phones: all of them are one
// phone, whose PushKit tokens ring for a call (its alert tokens then stay quiet) and whose alert
// tokens carry the cancel. Android and browser tokens without a deviceId are a phone each.
import type { Device, MediaType, PushTarget } from '../model.js'

export type IosCallCancel = 'alert' | 'voip'

export interface Phone {
  /** deviceId, or a key standing for the legacy iOS phone / a lone token. */
  key: string
  devices: Device[]
}

const LEGACY_IOS = 'ios:legacy'

/** Which phone a device belongs to; tokens of one agent with the same key are one phone. */
export function phoneKey(device: Device): string {
  if (device.deviceId !== undefined) return `id:${device.deviceId}`
  return device.platform === 'ios' ? LEGACY_IOS : `token:${device.token}`
}

/** The agent's devices as phones (devices of one agent only). */
export function groupPhones(devices: readonly Device[]): Phone[] {
  const phones = new Map<string, Phone>()
  for (const device of devices) {
    const key = phoneKey(device)
    const phone = phones.get(key)
    if (phone) phone.devices.push(device)
    else phones.set(key, { key, devices: [device] })
  }
  return [...phones.values()]
}

/** The tokens of the phone `token` belongs to, among the agent's `devices` (empty when unknown). */
export function phoneOf(token: string, devices: readonly Device[]): Device[] {
  const device = devices.find((d) => d.token === token)
  if (device === undefined) return []
  const key = phoneKey(device)
  return devices.filter((d) => phoneKey(d) === key)
}

const isVoip = (d: Device): boolean => d.platform === 'ios' && d.pushType === 'voip'
const isIosAlert = (d: Device): boolean => d.platform === 'ios' && d.pushType !== 'voip'

// A phone with a deviceId may hold a token the OS replaced since: the newest registration wins.
function newest(devices: Device[]): Device | undefined {
  let best: Device | undefined
  for (const d of devices) if (best === undefined || d.registeredAt > best.registeredAt) best = d
  return best
}

function target(device: Device): PushTarget {
  if (device.platform !== 'ios') return { device, via: 'data' }
  return { device, via: isVoip(device) ? 'voip' : 'alert' }
}

export interface RingSelection {
  targets: PushTarget[]
  skipped: Array<{ device: Device; reason: string }>
}

/** The token (or, for the legacy iOS phone, tokens) each phone rings on for `mediaType`. */
export function selectRingTargets(devices: readonly Device[], mediaType: MediaType): RingSelection {
  const targets: PushTarget[] = []
  const skipped: RingSelection['skipped'] = []
  const call = mediaType === 'voice'
  for (const phone of groupPhones(devices)) {
    const voip = phone.devices.filter(isVoip)
    const alert = phone.devices.filter(isIosAlert)
    const other = phone.devices.filter((d) => d.platform !== 'ios')
    let chosen: Device[]
    if (phone.key === LEGACY_IOS) chosen = call && voip.length > 0 ? voip : alert
    else {
      const best = (call ? newest(voip) : undefined) ?? newest(alert) ?? newest(other)
      chosen = best ? [best] : []
    }
    const rung = new Set(chosen)
    for (const device of chosen) targets.push(target(device))
    for (const device of phone.devices) {
      if (rung.has(device)) continue
      const reason =
        isVoip(device) && !call
          ? `${mediaType} cannot go through PushKit (calls only)`
          : 'the phone rings on another of its tokens'
      skipped.push({ device, reason })
    }
  }
  return { targets, skipped }
}

/**
 * Cancel targets for a ring that reached the `rung` devices, among the agent's `current` devices:
 * one per phone that rang (the legacy iOS phone: each of its alert tokens once).
 */
export function selectCancelTargets(
  rung: readonly Device[],
  current: readonly Device[],
  iosCallCancel: IosCallCancel = 'alert',
): PushTarget[] {
  const phones = new Map(groupPhones(current).map((p) => [p.key, p]))
  const out = new Map<string, PushTarget>()
  for (const device of rung) {
    if (!isVoip(device)) {
      out.set(device.token, target(device))
      continue
    }
    const phone = phones.get(phoneKey(device))
    const alert = iosCallCancel === 'alert' ? (phone?.devices ?? []).filter(isIosAlert) : []
    if (alert.length === 0) out.set(device.token, target(device))
    else if (phoneKey(device) === LEGACY_IOS) for (const a of alert) out.set(a.token, target(a))
    else {
      const a = newest(alert) as Device
      out.set(a.token, target(a))
    }
  }
  return [...out.values()]
}
