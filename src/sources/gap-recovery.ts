// Gap recovery. The Notifications API replays nothing after a drop (docs/PLATFORMS.md), and a new lease holder
// starts with rings other instances left open in the shared store. So after every reconnect and at
// start:
//  1. every open ring is re-checked with GET /api/v2/conversations/{id}: a leg that connected is
//     `answered`, one that ended (or vanished, or a conversation that is gone) is `ended`;
//  2. offers made during the gap are found through the analytics details query (conversations that
//     have not ended, with a segment of one of our agents or queues, whose agent segment is still
//     an alert) and each one is read with GET /api/v2/conversations/{id}: a leg still alerting is an
//     `offer`. The ring engine creates rings with SET NX, so re-emitting a known offer is harmless.
// Snapshots go through the same normaliser as live frames, so only real transitions come out.
// Every event recovered here is flagged `recovered`: the ring engine then also pushes a ring that an
// instance claimed in the store and died before pushing (its offer is still alerting, as read here).
// Analytics detail data can lag real time by a few seconds; an offer that started in the last
// instants of a gap may only be found by the live socket, which is open again by then.
import type { Clock } from '../clock.js'
import { GenesysApiError } from '../genesys/errors.js'
import type { GenesysRest } from '../genesys/rest.js'
import type { EventSourceName, RingRecord, RoutingEvent } from '../model.js'
import type { Logger } from '../observability/logger.js'
import { isRecord, readLegs } from './genesys-wire.js'
import type { ConversationNormaliser } from './normalise.js'

export interface RecoveryReport {
  reason: string
  openRingsChecked: number
  ringsAnswered: number
  ringsEnded: number
  offersRecovered: number
  conversationsScanned: number
  errors: number
  durationMs: number
}

export interface GapRecoveryOptions {
  rest: GenesysRest
  normaliser: ConversationNormaliser
  source: EventSourceName
  clock: Clock
  logger: Logger
  emit: (event: RoutingEvent) => void
  listOpenRings?: () => Promise<RingRecord[]>
  /** Whose active conversations to look for: the agents (users mode) or the queues (queues mode). */
  scope: () => { dimension: 'userId' | 'queueId'; ids: string[] }
  /** Conversations older than this are not searched (a gap longer than that is a restart anyway). */
  lookbackMs?: number
  /** Parallel REST calls; Genesys allows about 300 requests a minute per client. */
  concurrency?: number
}

// Predicates per analytics query and rows per page (PagingSpec: pageSize ≤ 100).
const IDS_PER_QUERY = 50
const PAGE_SIZE = 100
const MAX_PAGES = 10

export class GapRecovery {
  private running: Promise<RecoveryReport> | undefined
  private again = false
  lastReport: RecoveryReport | undefined

  constructor(private readonly options: GapRecoveryOptions) {}

  /** Runs a recovery; a request while one runs makes exactly one more run after it. */
  run(reason: string): Promise<RecoveryReport> {
    if (this.running) {
      this.again = true
      return this.running
    }
    const go = async (): Promise<RecoveryReport> => {
      let report = await this.once(reason)
      while (this.again) {
        this.again = false
        report = await this.once(`${reason}+again`)
      }
      return report
    }
    this.running = go().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private async once(reason: string): Promise<RecoveryReport> {
    const started = this.options.clock.now()
    const r: RecoveryReport = {
      reason,
      openRingsChecked: 0,
      ringsAnswered: 0,
      ringsEnded: 0,
      offersRecovered: 0,
      conversationsScanned: 0,
      errors: 0,
      durationMs: 0,
    }
    const fetched = new Set<string>()
    await this.recheckOpenRings(r, fetched)
    await this.findMissedOffers(r, fetched)
    r.durationMs = this.options.clock.now() - started
    this.lastReport = r
    this.options.logger.info(r, 'genesys gap recovery done')
    return r
  }

  private async recheckOpenRings(r: RecoveryReport, fetched: Set<string>): Promise<void> {
    if (!this.options.listOpenRings) return
    let rings: RingRecord[]
    try {
      rings = await this.options.listOpenRings()
    } catch (err) {
      r.errors++
      this.options.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'gap recovery: cannot list open rings',
      )
      return
    }
    r.openRingsChecked = rings.length
    const byConversation = new Map<string, RingRecord[]>()
    for (const ring of rings)
      byConversation.set(ring.conversationId, [...(byConversation.get(ring.conversationId) ?? []), ring])
    await this.pool([...byConversation], async ([conversationId, open]) => {
      fetched.add(conversationId)
      const body = await this.conversation(conversationId, r)
      if (body === 'error') return
      const now = this.options.clock.now()
      const seen = new Set<string>()
      if (body !== 'gone') {
        const users = new Set(open.map((ring) => ring.userId))
        for (const userId of users) {
          for (const e of this.options.normaliser.fromSnapshot(
            `v2.users.${userId}.conversations`,
            body,
            now,
            this.options.source,
          )) {
            this.count(e, r, open)
            this.options.emit({ ...e, recovered: true })
          }
        }
        const participants = isRecord(body) && Array.isArray(body.participants) ? (body.participants as unknown[]) : []
        for (const leg of readLegs(participants, undefined).legs) seen.add(leg.participantId)
      }
      // A ring whose participant is not in the conversation at all (or no conversation): it is over.
      for (const ring of open) {
        if (seen.has(ring.participantId)) continue
        r.ringsEnded++
        this.options.emit({
          kind: 'ended',
          reason: 'ended',
          conversationId: ring.conversationId,
          userId: ring.userId,
          participantId: ring.participantId,
          mediaType: ring.mediaType,
          ...(ring.queueId !== undefined && { queueId: ring.queueId }),
          occurredAt: now,
          receivedAt: now,
          source: this.options.source,
          recovered: true,
        })
      }
    })
  }

  private async findMissedOffers(r: RecoveryReport, fetched: Set<string>): Promise<void> {
    const { dimension, ids } = this.options.scope()
    if (ids.length === 0) return
    const now = this.options.clock.now()
    const interval = { from: now - (this.options.lookbackMs ?? 6 * 3600_000), to: now + 60_000 }
    const wanted = new Set(ids)
    const candidates = new Map<string, Set<string>>()
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const chunk = ids.slice(i, i + IDS_PER_QUERY)
      for (let pageNumber = 1; pageNumber <= MAX_PAGES; pageNumber++) {
        let page: { conversations: unknown[]; totalHits: number }
        try {
          page = await this.options.rest.activeConversations(dimension, chunk, interval, {
            pageSize: PAGE_SIZE,
            pageNumber,
          })
        } catch (err) {
          r.errors++
          this.options.logger.warn(
            { err: err instanceof Error ? err.message : String(err) },
            'gap recovery: analytics query failed',
          )
          break
        }
        for (const c of page.conversations) {
          const hit = alertingAgents(c, dimension, wanted)
          if (hit)
            candidates.set(hit.conversationId, new Set([...(candidates.get(hit.conversationId) ?? []), ...hit.userIds]))
        }
        if (page.conversations.length < PAGE_SIZE || pageNumber * PAGE_SIZE >= page.totalHits) break
      }
    }
    r.conversationsScanned = candidates.size
    await this.pool(
      [...candidates].filter(([id]) => !fetched.has(id)),
      async ([conversationId, userIds]) => {
        const body = await this.conversation(conversationId, r)
        if (body === 'error' || body === 'gone') return
        for (const userId of userIds) {
          for (const e of this.options.normaliser.fromSnapshot(
            `v2.users.${userId}.conversations`,
            body,
            this.options.clock.now(),
            this.options.source,
          )) {
            if (e.kind === 'offer') r.offersRecovered++
            this.options.emit({ ...e, recovered: true })
          }
        }
      },
    )
  }

  private async conversation(id: string, r: RecoveryReport): Promise<unknown> {
    try {
      return await this.options.rest.getConversation(id)
    } catch (err) {
      if (err instanceof GenesysApiError && err.status === 404) return 'gone'
      r.errors++
      this.options.logger.warn(
        { conversationId: id, err: err instanceof Error ? err.message : String(err) },
        'gap recovery: cannot read conversation',
      )
      return 'error'
    }
  }

  private count(e: RoutingEvent, r: RecoveryReport, open: RingRecord[]): void {
    if (!open.some((ring) => ring.participantId === e.participantId)) return
    if (e.kind === 'answered') r.ringsAnswered++
    else if (e.kind === 'ended') r.ringsEnded++
  }

  private async pool<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
    let next = 0
    const lanes = Array.from({ length: Math.min(items.length, this.options.concurrency ?? 4) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T
        await work(item)
      }
    })
    await Promise.all(lanes)
  }
}

/**
 * From an AnalyticsConversationWithoutAttributes: the agents (of ours) whose last segment is an
 * alert that has not ended. Returns undefined when nobody of ours is alerting.
 */
function alertingAgents(
  c: unknown,
  dimension: 'userId' | 'queueId',
  wanted: Set<string>,
): { conversationId: string; userIds: string[] } | undefined {
  if (!isRecord(c) || typeof c.conversationId !== 'string' || !Array.isArray(c.participants)) return undefined
  const userIds: string[] = []
  for (const p of c.participants as unknown[]) {
    if (!isRecord(p) || p.purpose !== 'agent' || typeof p.userId !== 'string' || !Array.isArray(p.sessions)) continue
    if (dimension === 'userId' && !wanted.has(p.userId)) continue
    for (const s of p.sessions as unknown[]) {
      const segments = isRecord(s) && Array.isArray(s.segments) ? (s.segments as unknown[]) : []
      const last = segments[segments.length - 1]
      if (!isRecord(last) || last.segmentType !== 'alert' || last.segmentEnd !== undefined) continue
      if (dimension === 'queueId' && !(typeof last.queueId === 'string' && wanted.has(last.queueId))) continue
      userIds.push(p.userId)
    }
  }
  return userIds.length > 0 ? { conversationId: c.conversationId, userIds } : undefined
}
