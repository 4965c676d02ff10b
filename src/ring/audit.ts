// The audit log: every push that was suppressed, failed or expired, with the reason, so an admin
// can answer "why did my phone not ring?" (GET /api/v1/admin/audit). Bounded: the oldest entries
// are overwritten once AUDIT_MAX_ENTRIES is reached. Kept in this process's memory; each entry is
// also a log line, so a log pipeline keeps the long history and every instance's entries (a push's
// outcome is the dispatcher's "push not delivered" line: each failure is logged once).
import type { Clock } from '../clock.js'
import type { DeviceChange, PushAction } from '../model.js'
import { tokenPrefix, type Logger } from '../observability/logger.js'
import type { ProviderName, PushOutcome, RingDecision } from '../outcomes.js'

// 'reachability': an optional action taken when an agent became unreachable or reachable again.
// 'device-evicted' / 'device-moved': a device taken from an agent (MAX_DEVICES_PER_AGENT, another agent registered it).
export type AuditKind =
  'suppressed' | 'failed' | 'expired' | 'invalid-token' | 'skipped' | 'reachability' | 'device-evicted' | 'device-moved'

export interface AuditEntry {
  /** Epoch ms. */
  at: number
  kind: AuditKind
  userId: string
  /** Absent on reachability and device entries, which are about an agent, not a conversation. */
  conversationId?: string
  participantId?: string
  action?: PushAction
  /** The device, as a non-secret prefix of its token or endpoint. */
  device?: string
  provider?: ProviderName
  reason: string
  attempts?: number
}

export interface AuditQuery {
  userId?: string
  conversationId?: string
  limit?: number
}

// Suppressions that are not a push being held back: an agent without devices (queue topics hear
// every agent of the queue) and an end event for a ring that is not ringing.
const NOT_AUDITED = new Set(['no-devices', 'not-ringing'])

export class AuditLog {
  private readonly entries: AuditEntry[] = []
  private next = 0

  constructor(private readonly options: { maxEntries: number; clock: Clock; logger: Logger }) {}

  get size(): number {
    return this.entries.length
  }

  record(entry: Omit<AuditEntry, 'at'> & { at?: number }, { logged = false }: { logged?: boolean } = {}): void {
    const full: AuditEntry = { ...entry, at: entry.at ?? this.options.clock.now() }
    if (this.entries.length < this.options.maxEntries) this.entries.push(full)
    else this.entries[this.next] = full
    this.next = (this.next + 1) % this.options.maxEntries
    if (logged) return
    const what =
      full.kind === 'reachability'
        ? 'reachability action'
        : full.kind.startsWith('device-')
          ? full.kind
          : `push ${full.kind}`
    this.options.logger.info({ audit: full }, `${what}: ${full.reason}`)
  }

  /** Newest first. */
  query(q: AuditQuery = {}): AuditEntry[] {
    const limit = q.limit ?? 100
    const out: AuditEntry[] = []
    const n = this.entries.length
    for (let i = 1; i <= n && out.length < limit; i++) {
      const e = this.entries[(this.next - i + n * 2) % n]
      if (!e) continue
      if (q.userId !== undefined && e.userId !== q.userId) continue
      if (q.conversationId !== undefined && e.conversationId !== q.conversationId) continue
      out.push(e)
    }
    return out
  }

  /** A device that left an agent: evicted past MAX_DEVICES_PER_AGENT, or registered by another agent. */
  recordDevice(change: DeviceChange): void {
    this.record({
      kind: change.kind === 'evicted' ? 'device-evicted' : 'device-moved',
      userId: change.userId,
      device: tokenPrefix(change.token),
      reason: change.kind === 'evicted' ? evictionReason(change) : `registered by agent ${change.toUserId}`,
    })
  }

  /** The ring engine's decisions that held a push back. */
  recordDecision(d: RingDecision): void {
    if (d.kind !== 'suppressed' || NOT_AUDITED.has(d.reason)) return
    this.record({
      kind: 'suppressed',
      userId: d.event.userId,
      conversationId: d.event.conversationId,
      participantId: d.event.participantId,
      action: 'ring',
      reason: d.detail ? `${d.reason}: ${d.detail}` : d.reason,
    })
  }

  /** The dispatcher's outcomes other than delivered (the dispatcher has logged them). */
  recordOutcome(outcome: PushOutcome): void {
    if (outcome.result.kind === 'delivered' || outcome.result.kind === 'retry') return
    this.record(
      {
        kind: outcome.result.kind,
        userId: outcome.target.device.userId,
        conversationId: outcome.intent.ring.conversationId,
        participantId: outcome.intent.ring.participantId,
        action: outcome.intent.action,
        device: tokenPrefix(outcome.target.device.token),
        reason: outcome.pruned ? `${outcome.result.reason} (device removed)` : outcome.result.reason,
        attempts: outcome.attempts,
        ...(outcome.provider ? { provider: outcome.provider } : {}),
      },
      { logged: true },
    )
  }
}

function evictionReason(change: Extract<DeviceChange, { kind: 'evicted' }>): string {
  const phone = change.phone === undefined ? 'phone' : `phone ${change.phone}`
  return change.past === 'phones'
    ? `least recently registered ${phone} of more than ${change.limit} phones`
    : `least recently registered token of ${phone}, which had more tokens than a phone keeps`
}
