// MAX_DEVICES_PER_AGENT counts phones, not tokens: an iPhone registers a PushKit and an alert token
// under one deviceId (src/ring/phones.ts), and rings once. A token registered without a deviceId
// counts as a phone of its own, since nothing says which tokens share a phone. A phone keeps at
// most TOKENS_PER_PHONE tokens, so counting phones bounds the tokens too (and with them a ring's
// fan-out and the list a registration may read).
import type { Device } from '../model.js'

/** A phone's PushKit and alert tokens, and one token of each the OS replaced before the app re-registered. */
export const TOKENS_PER_PHONE = 4

export interface Eviction {
  device: Device
  /** 'phones': its phone was the agent's least recently registered; 'tokens': its phone's oldest token. */
  past: 'phones' | 'tokens'
}

const capKey = (d: Device): string => (d.deviceId !== undefined ? `id:${d.deviceId}` : `token:${d.token}`)

/**
 * The devices to remove so that the agent keeps at most `maxPhones` phones of at most
 * TOKENS_PER_PHONE tokens each: the least recently registered phones (a phone's time is its newest
 * token's), and within a phone its least recently registered tokens. The phone of `kept` (the token
 * just registered) and `kept` itself always stay.
 */
export function devicesPastCap(devices: readonly Device[], kept: string, maxPhones: number): Eviction[] {
  const phones = new Map<string, Device[]>()
  for (const device of devices) {
    const key = capKey(device)
    const tokens = phones.get(key)
    if (tokens) tokens.push(device)
    else phones.set(key, [device])
  }
  const newestFirst = (a: Device, b: Device): number =>
    Number(b.token === kept) - Number(a.token === kept) || b.registeredAt - a.registeredAt
  const evictions: Eviction[] = []
  const ranked: Array<{ tokens: Device[]; last: number; keeps: boolean }> = []
  for (const tokens of phones.values()) {
    tokens.sort(newestFirst)
    for (const device of tokens.slice(TOKENS_PER_PHONE)) evictions.push({ device, past: 'tokens' })
    const last = Math.max(...tokens.map((d) => d.registeredAt))
    ranked.push({ tokens: tokens.slice(0, TOKENS_PER_PHONE), last, keeps: tokens.some((d) => d.token === kept) })
  }
  const excess = ranked.length - maxPhones
  if (excess <= 0) return evictions
  const oldestFirst = ranked.filter((p) => !p.keeps).sort((a, b) => a.last - b.last)
  for (const phone of oldestFirst.slice(0, excess))
    for (const device of phone.tokens) evictions.push({ device, past: 'phones' })
  return evictions
}
