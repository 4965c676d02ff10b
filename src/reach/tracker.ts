// Device receipts: the agent's app reports each ring (and cancel) its phone received, and the
// gateway learns which phones really ring. Everything lives in the shared store, so the instance
// that pushed, the one that hears the receipt and the one that ends the ring agree:
//   delivery record (conversation, token): which participant's ring/cancel was sent, when the push
//     service accepted it, when the app reported it. Field names: `<participantId>:<action>:<what>`,
//     so a conversation routed back to the agent (a new participant) starts clean.
//   reach document (agent): per phone the last receipt, its latency and the misses in a row, and the
//     agent's state; written by compare-and-set, so exactly one instance sees each change of state.
import type { Clock } from '../clock.js'
import type { Device, PushIntent, RingRecord } from '../model.js'
import { tokenPrefix, type Logger } from '../observability/logger.js'
import type { DeviceStore, ReachStore, RingStore } from '../store/store.js'
import {
  agentState,
  applyReceipt,
  applyRingEnd,
  emptyReach,
  keepPhones,
  phoneKey,
  phoneState,
  type AgentReach,
  type ReachState,
} from './state.js'

export type ReceiptAction = 'ring' | 'cancel_ring'

export interface ReachChange {
  userId: string
  from: ReachState
  to: ReachState
  at: number
  reach: AgentReach
}

export interface Receipt {
  conversationId: string
  userId: string
  /** The agent's display name from Genesys, kept for the admin view. */
  name?: string
  device: Device
  action: ReceiptAction
  participantId?: string
}

export type ReceiptResult =
  | { kind: 'no-such-push' }
  /** A repeat of a receipt already counted: harmless, changes nothing. */
  | { kind: 'repeat' }
  | { kind: 'recorded'; provider?: string; latencyMs?: number }

export interface CountedReceipt {
  userId: string
  /** The full token: for in-process observers only (metrics and the dashboard keep the rest). */
  token: string
  action: ReceiptAction
  provider?: string
  latencyMs?: number
}

/** The admin view of one agent (GET /api/v1/admin/reachability). */
export interface AgentView {
  userId: string
  name: string | null
  state: ReachState
  devices: Array<{
    token: string
    platform: string
    deviceId: string | null
    state: ReachState
    lastReceiptAt: string | null
    missedInARow: number
    receiptLatencyMs: number | null
  }>
}

export interface ReachTrackerOptions {
  store: DeviceStore & ReachStore & Pick<RingStore, 'claimOnce'>
  clock: Clock
  logger: Logger
  /** UNREACHABLE_AFTER: rings missed in a row, on every phone, before an agent is unreachable. */
  unreachableAfter: number
  /** How long an agent's reach document lives after its last change. */
  ttlMs: number
  /** How long a delivery record lives: long enough for the latest receipt an app could send. */
  deliveryTtlMs: number
  /** One instance (the one whose write made it) hears each change of an agent's state. */
  onChange?: (change: ReachChange) => void
  /** Every receipt counted (not repeats), for metrics and the dashboard. */
  onReceipt?: (receipt: CountedReceipt) => void
}

// Compare-and-set retries: each loser re-reads; more than a few means something is writing in a loop.
const MAX_WRITES = 8
// Agents whose app does not report receipts: how long one read is believed, and how many are kept.
const UNKNOWN_RECHECK_MS = 10_000
const UNKNOWN_MAX = 100_000

const field = (participantId: string, action: ReceiptAction, what: 'sent' | 'accepted' | 'received'): string =>
  `${participantId}:${action}:${what}`
const actionOf = (intent: PushIntent): ReceiptAction => (intent.action === 'ring' ? 'ring' : 'cancel_ring')
// A delivery record's fields are named per participant (field()): on an ordinary object each new
// name is a new hidden class for V8, several per push; a prototype-less object is a plain
// dictionary from the start.
const deliveryFields = (): Record<string, string> => Object.create(null) as Record<string, string>

export class ReachTracker {
  private unreachable:
    { at: number; value: Promise<Array<{ userId: string; name: string | null; since: string | null }>> } | undefined

  // Agents whose reach document was missing when a ring of theirs ended, until when to believe it.
  private readonly unknownUntil = new Map<string, number>()

  constructor(private readonly options: ReachTrackerOptions) {}

  /** The ring engine decided to push: the devices may now report this conversation. Call before the push leaves. */
  async pushing(intent: PushIntent): Promise<void> {
    if (intent.repeat !== undefined) return
    const { conversationId, participantId, userId } = intent.ring
    const action = actionOf(intent)
    const fields = deliveryFields()
    fields.userId = userId
    if (action === 'ring') fields.participantId = participantId
    fields[field(participantId, action, 'sent')] = String(this.options.clock.now())
    await this.each(
      intent.targets.map((t) => t.device.token),
      (token) => this.options.store.noteDelivery(conversationId, token, fields, this.options.deliveryTtlMs),
    )
  }

  /** The push service accepted a push: the start of its receipt latency (the first push of a ring, not its repeats). */
  async accepted(intent: PushIntent, token: string, provider: string): Promise<void> {
    if (intent.repeat !== undefined) return
    const { conversationId, participantId } = intent.ring
    const fields = deliveryFields()
    fields.provider = provider
    fields[field(participantId, actionOf(intent), 'accepted')] = String(this.options.clock.now())
    await this.guard(() => this.options.store.noteDelivery(conversationId, token, fields, this.options.deliveryTtlMs))
  }

  /** The app reported a push. Only a push of this conversation that went to this very device counts. */
  async receipt(r: Receipt): Promise<ReceiptResult> {
    const { store, clock } = this.options
    const token = r.device.token
    const delivery = await store.getDelivery(r.conversationId, token)
    const participantId = r.participantId ?? delivery?.participantId
    if (!delivery || participantId === undefined || delivery.userId !== r.userId) return { kind: 'no-such-push' }
    const sent = delivery[field(participantId, r.action, 'sent')]
    if (sent === undefined) return { kind: 'no-such-push' }
    if (
      !(await store.claimOnce(
        `receipt:${r.conversationId}:${token}:${participantId}:${r.action}`,
        this.options.deliveryTtlMs,
      ))
    )
      return { kind: 'repeat' }

    const now = clock.now()
    // The app's report can beat the push service's answer to the gateway; the send time then
    // stands in for the acceptance (the push was accepted between the two).
    const from = Number(delivery[field(participantId, r.action, 'accepted')] ?? sent)
    const latencyMs = Number.isFinite(from) ? Math.max(0, now - from) : undefined
    await store.noteDelivery(
      r.conversationId,
      token,
      { [field(participantId, r.action, 'received')]: String(now) },
      this.options.deliveryTtlMs,
    )
    const devices = await store.listDevices(r.userId)
    await this.update(r.userId, r.name, (reach) => {
      keepPhones(reach, devices)
      applyReceipt(reach, phoneKey(r.device), now, latencyMs)
    })
    const provider = delivery.provider
    this.options.onReceipt?.({
      userId: r.userId,
      token,
      action: r.action,
      ...(provider ? { provider } : {}),
      ...(latencyMs !== undefined ? { latencyMs } : {}),
    })
    return { kind: 'recorded', ...(provider ? { provider } : {}), ...(latencyMs !== undefined ? { latencyMs } : {}) }
  }

  /** The agent answered on this phone (POST /api/v1/agent/answered): its ring counts as received. */
  async answered(a: {
    conversationId: string
    userId: string
    tokens: string[]
    participantId?: string
  }): Promise<void> {
    const { store, clock } = this.options
    const now = clock.now()
    const devices = await store.listDevices(a.userId)
    const answering = devices.filter((d) => a.tokens.includes(d.token))
    for (const device of answering) {
      const delivery = await store.getDelivery(a.conversationId, device.token)
      const participantId = a.participantId ?? delivery?.participantId
      if (participantId !== undefined && delivery?.[field(participantId, 'ring', 'sent')] !== undefined) {
        await store.noteDelivery(
          a.conversationId,
          device.token,
          { [field(participantId, 'ring', 'received')]: String(now) },
          this.options.deliveryTtlMs,
        )
      }
    }
    if (answering.length === 0) return
    await this.update(a.userId, undefined, (reach) => {
      keepPhones(reach, devices)
      for (const device of answering) applyReceipt(reach, phoneKey(device), now)
    })
  }

  /** A ring ended (answered, abandoned, timed out…): every phone it rang received it or missed it. */
  async ringEnded(ring: RingRecord): Promise<void> {
    const { store } = this.options
    // An agent whose app never reported stays unknown whatever it misses: the common case while apps
    // do not report yet, so it costs the ring's end one read per agent every UNKNOWN_RECHECK_MS, not
    // one per ring. An app that starts reporting is judged from its next ring after that.
    const now = this.options.clock.now()
    if ((this.unknownUntil.get(ring.userId) ?? 0) > now) return
    if ((await store.getReach(ring.userId)) === undefined) {
      if (this.unknownUntil.size >= UNKNOWN_MAX) this.unknownUntil.clear()
      this.unknownUntil.set(ring.userId, now + UNKNOWN_RECHECK_MS)
      return
    }
    const devices = await store.listDevices(ring.userId)
    const byToken = new Map(devices.map((d) => [d.token, d]))
    const received = new Map<string, boolean>()
    for (const token of ring.rungTokens) {
      const device = byToken.get(token)
      if (!device) continue // removed since: nothing to judge
      const delivery = await store.getDelivery(ring.conversationId, token)
      const got = delivery?.[field(ring.participantId, 'ring', 'received')] !== undefined
      const key = phoneKey(device)
      received.set(key, (received.get(key) ?? false) || got)
    }
    if (received.size === 0) return
    await this.update(ring.userId, undefined, (reach) => {
      keepPhones(reach, devices)
      applyRingEnd(
        reach,
        [...received].map(([key, got]) => ({ key, received: got })),
      )
    })
  }

  /** Whether this device reported the ring of `participantId` (ring repeats stop for it). */
  async received(conversationId: string, token: string, participantId: string): Promise<boolean> {
    const delivery = await this.options.store.getDelivery(conversationId, token)
    return delivery?.[field(participantId, 'ring', 'received')] !== undefined
  }

  /** Agents with devices, with their phones' state; `state` filters. */
  async agents(state?: ReachState): Promise<AgentView[]> {
    const { store } = this.options
    const out: AgentView[] = []
    for (const userId of (await store.listUserIds()).sort()) {
      const view = await this.agent(userId)
      if (view && (state === undefined || view.state === state)) out.push(view)
    }
    return out
  }

  async agent(userId: string): Promise<AgentView | undefined> {
    const { store, unreachableAfter } = this.options
    const devices = await store.listDevices(userId)
    if (devices.length === 0) return undefined
    const reach = parse((await store.getReach(userId))?.doc)
    keepPhones(reach, devices)
    return {
      userId,
      name: reach.name ?? null,
      state: agentState(reach, unreachableAfter),
      devices: devices.map((d) => {
        const phone = reach.phones[phoneKey(d)]
        return {
          token: tokenPrefix(d.token),
          platform: d.platform,
          deviceId: d.deviceId ?? null,
          state: phoneState(phone, unreachableAfter),
          lastReceiptAt: phone?.lastReceiptAt !== undefined ? new Date(phone.lastReceiptAt).toISOString() : null,
          missedInARow: phone?.missedInARow ?? 0,
          receiptLatencyMs: phone?.receiptLatencyMs ?? null,
        }
      }),
    }
  }

  /** Agents whose last known state is unreachable (the gauge, the dashboard), read at most every 5 s. */
  unreachableAgents(): Promise<Array<{ userId: string; name: string | null; since: string | null }>> {
    const now = this.options.clock.now()
    if (this.unreachable && now - this.unreachable.at < 5_000) return this.unreachable.value
    const value = (async () => {
      const out: Array<{ userId: string; name: string | null; since: string | null }> = []
      for (const userId of (await this.options.store.listReachUsers()).sort()) {
        const reach = parse((await this.options.store.getReach(userId))?.doc)
        if (reach.state === 'unreachable')
          out.push({
            userId,
            name: reach.name ?? null,
            since: reach.changedAt !== undefined ? new Date(reach.changedAt).toISOString() : null,
          })
      }
      return out
    })()
    this.unreachable = { at: now, value }
    // A failed read is not kept: the next caller tries again.
    value.catch(() => {
      if (this.unreachable?.value === value) this.unreachable = undefined
    })
    return value
  }

  async unreachableCount(): Promise<number> {
    return (await this.unreachableAgents()).length
  }

  private async update(userId: string, name: string | undefined, change: (reach: AgentReach) => void): Promise<void> {
    const { store, clock, unreachableAfter, ttlMs } = this.options
    for (let attempt = 0; attempt < MAX_WRITES; attempt++) {
      const current = await store.getReach(userId)
      const reach = parse(current?.doc)
      const from = reach.state
      change(reach)
      if (name !== undefined) reach.name = name
      reach.state = agentState(reach, unreachableAfter)
      const at = clock.now()
      if (reach.state !== from) reach.changedAt = at
      if (await store.putReach(userId, JSON.stringify(reach), current?.version ?? 0, ttlMs)) {
        this.unknownUntil.delete(userId)
        if (reach.state !== from) {
          this.unreachable = undefined
          this.options.logger.info({ userId, from, to: reach.state }, 'agent reachability changed')
          this.options.onChange?.({ userId, from, to: reach.state, at, reach })
        }
        return
      }
    }
    this.options.logger.warn({ userId }, 'agent reachability not updated: the document kept changing under us')
  }

  private async each(tokens: string[], work: (token: string) => Promise<void>): Promise<void> {
    await Promise.all(tokens.map((token) => this.guard(() => work(token), token)))
  }

  // Receipt bookkeeping never stops a ring: a store error is logged, the push goes on.
  private async guard(work: () => Promise<void>, token?: string): Promise<void> {
    try {
      await work()
    } catch (err) {
      this.options.logger.warn(
        { err, ...(token ? { device: tokenPrefix(token) } : {}) },
        'device receipt bookkeeping failed',
      )
    }
  }
}

function parse(doc: string | undefined): AgentReach {
  if (doc === undefined) return emptyReach()
  try {
    const value = JSON.parse(doc) as AgentReach
    return typeof value === 'object' && value !== null && typeof value.phones === 'object' ? value : emptyReach()
  } catch {
    return emptyReach()
  }
}
