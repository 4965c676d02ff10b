// Counts what the push sandboxes accepted per conversation and device, and names every broken
// promise: a device rung twice for one call (duplicate ring), a ring never cancelled or cancelled
// twice (an open ring not ended), a cancel that overtook its ring, a call that never rang.
import type { TestWorld } from '../../src/sim/world.js'

interface Push {
  conversationId: string
  token: string
  action: string
  at: number
}

export function pushes(world: Pick<TestWorld, 'apns' | 'fcm'>): Push[] {
  const out: Push[] = []
  for (const p of world.apns.accepted)
    out.push({
      conversationId: String(p.payload.genesys_conversation_id),
      token: p.token,
      action: String(p.payload.action),
      at: p.hrtime,
    })
  for (const m of world.fcm.accepted) {
    const data = (m.message.data ?? {}) as Record<string, string>
    out.push({
      conversationId: String(data.genesys_conversation_id),
      token: String((m.message as { token?: string }).token),
      action: String(data.action),
      at: m.hrtime,
    })
  }
  return out
}

export interface Verdict {
  /** (call, device) pairs that should have rung (the call alerted long enough) but did not. */
  notRung: string[]
  /** (call, device) pairs rung more than once. */
  duplicateRings: string[]
  /** (call, device) pairs rung but not cancelled exactly once, or cancelled before the ring. */
  notEnded: string[]
  rings: number
  cancels: number
}

/** `calls`: conversation id → the device tokens its agent had; `mustRing`: calls that had to ring. */
export function verdict(
  world: Pick<TestWorld, 'apns' | 'fcm'>,
  calls: Map<string, string[]>,
  mustRing: Set<string> = new Set(calls.keys()),
): Verdict {
  const all = pushes(world).filter((p) => calls.has(p.conversationId))
  const v: Verdict = { notRung: [], duplicateRings: [], notEnded: [], rings: 0, cancels: 0 }
  for (const [conversationId, tokens] of calls) {
    for (const token of tokens) {
      const mine = all.filter((p) => p.conversationId === conversationId && p.token === token)
      const rings = mine.filter((p) => p.action === 'ring')
      const cancels = mine.filter((p) => p.action === 'cancel_ring')
      v.rings += rings.length
      v.cancels += cancels.length
      if (rings.length === 0 && mustRing.has(conversationId))
        v.notRung.push(`${conversationId.slice(0, 8)}/${token.slice(0, 8)}`)
      if (rings.length > 1)
        v.duplicateRings.push(`${conversationId.slice(0, 8)}/${token.slice(0, 8)}: ${rings.length} rings`)
      if (rings.length === 1 && (cancels.length !== 1 || (cancels[0]?.at ?? 0) < (rings[0]?.at ?? 0)))
        v.notEnded.push(`${conversationId.slice(0, 8)}/${token.slice(0, 8)}: ${cancels.length} cancels`)
    }
  }
  return v
}

export const lostIn = (v: Verdict): number => v.notRung.length + v.duplicateRings.length + v.notEnded.length
