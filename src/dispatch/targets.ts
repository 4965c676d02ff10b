// Which of an agent's devices get a ring and which get its cancel.
// docs/ARCHITECTURE.md: calls ring iOS through PushKit when the app registered a VoIP token; everything
// else rings as an alert. Apple requires every VoIP push to be reported to CallKit as a call
// (PushKit PKPushType.voIP), so chats never go through PushKit, and a cancel goes to the phone's
// alert token when it has one (the app then dismisses the CallKit call) and through PushKit only
// when it has nothing else.
import type { Device, MediaType, PushTarget } from '../model.js'

export type RingTarget = PushTarget

function iosPushType(device: Device): 'voip' | 'alert' {
  return device.pushType === 'voip' ? 'voip' : 'alert'
}

export function selectRingTargets(devices: Device[], mediaType: MediaType): { targets: RingTarget[]; skipped: Array<{ device: Device; reason: string }> } {
  const targets: RingTarget[] = []
  const skipped: Array<{ device: Device; reason: string }> = []
  const ios = devices.filter((d) => d.platform === 'ios')
  const hasVoip = ios.some((d) => iosPushType(d) === 'voip')
  for (const device of devices) {
    if (device.platform !== 'ios') {
      targets.push({ device, via: 'data' })
      continue
    }
    const type = iosPushType(device)
    if (mediaType === 'voice') {
      // A phone with both tokens would ring twice: PushKit rings, the alert token stays quiet.
      if (type === 'alert' && hasVoip) skipped.push({ device, reason: 'voice rings through the PushKit token' })
      else targets.push({ device, via: type })
    } else if (type === 'voip') {
      skipped.push({ device, reason: `${mediaType} cannot go through PushKit (calls only)` })
    } else {
      targets.push({ device, via: 'alert' })
    }
  }
  return { targets, skipped }
}

/**
 * Cancel targets for a ring that reached `rung` devices. A rung PushKit token is replaced by the
 * agent's alert tokens when there are any (each alert token once), else cancelled through PushKit.
 */
export function selectCancelTargets(rung: Device[], current: Device[]): RingTarget[] {
  const alertTokens = current.filter((d) => d.platform === 'ios' && iosPushType(d) === 'alert')
  const out = new Map<string, RingTarget>()
  for (const device of rung) {
    if (device.platform !== 'ios') out.set(device.token, { device, via: 'data' })
    else if (iosPushType(device) === 'alert') out.set(device.token, { device, via: 'alert' })
    else if (alertTokens.length > 0) for (const a of alertTokens) out.set(a.token, { device: a, via: 'alert' })
    else out.set(device.token, { device, via: 'voip' })
  }
  return [...out.values()]
}
