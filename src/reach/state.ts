// Whether an agent's phones really ring, from the receipts their apps send: the pure rules, no I/O.
// A phone is the tokens of one app installation (Device.deviceId), or one token when the app gives
// no deviceId: an iPhone's PushKit and alert tokens share one record, so a call rung through PushKit
// and a chat rung on the alert token count for the same phone.
import type { Device } from '../model.js'

export type ReachState = 'reachable' | 'unreachable' | 'unknown'

export interface PhoneReach {
  /** Epoch ms of the last receipt (or answer) from this phone; absent: it never reported. */
  lastReceiptAt?: number
  /** Push service accepted → app reported, of the last receipt that had both times. */
  receiptLatencyMs?: number
  /** Rings in a row that ended without a receipt from this phone. */
  missedInARow: number
}

export interface AgentReach {
  /** The agent's display name, as Genesys gave it when the agent last called the gateway. */
  name?: string
  state: ReachState
  /** Epoch ms of the last change of `state`. */
  changedAt?: number
  phones: Record<string, PhoneReach>
}

export const emptyReach = (): AgentReach => ({ state: 'unknown', phones: {} })

export function phoneKey(device: Pick<Device, 'token' | 'deviceId'>): string {
  return device.deviceId ? `phone:${device.deviceId}` : `token:${device.token}`
}

/**
 * An app that never sent a receipt is `unknown`, however many rings it missed: it may simply not
 * report (an older app version), and flagging it would take working agents off queue.
 */
export function phoneState(phone: PhoneReach | undefined, unreachableAfter: number): ReachState {
  if (phone?.lastReceiptAt === undefined) return 'unknown'
  return phone.missedInARow >= unreachableAfter ? 'unreachable' : 'reachable'
}

/** Reachable when one phone is; unreachable when every phone that reports missed `unreachableAfter` rings in a row. */
export function agentState(reach: AgentReach, unreachableAfter: number): ReachState {
  let unreachable = false
  for (const phone of Object.values(reach.phones)) {
    const state = phoneState(phone, unreachableAfter)
    if (state === 'reachable') return 'reachable'
    if (state === 'unreachable') unreachable = true
  }
  return unreachable ? 'unreachable' : 'unknown'
}

/** A receipt (or an answer) from the phone: it is reachable now, whatever it missed before. */
export function applyReceipt(reach: AgentReach, key: string, at: number, latencyMs?: number): void {
  const phone = reach.phones[key] ?? { missedInARow: 0 }
  phone.lastReceiptAt = Math.max(at, phone.lastReceiptAt ?? 0)
  if (latencyMs !== undefined) phone.receiptLatencyMs = latencyMs
  phone.missedInARow = 0
  reach.phones[key] = phone
}

/** A ring ended: each phone it rang either reported it (or answered) or missed it. */
export function applyRingEnd(reach: AgentReach, rung: Array<{ key: string; received: boolean }>): void {
  for (const { key, received } of rung) {
    const phone = reach.phones[key] ?? { missedInARow: 0 }
    phone.missedInARow = received ? 0 : phone.missedInARow + 1
    reach.phones[key] = phone
  }
}

/** Forgets phones the agent no longer has, so a thrown-away phone cannot keep the agent unreachable. */
export function keepPhones(reach: AgentReach, devices: Array<Pick<Device, 'token' | 'deviceId'>>): void {
  const current = new Set(devices.map(phoneKey))
  for (const key of Object.keys(reach.phones)) if (!current.has(key)) delete reach.phones[key]
}
