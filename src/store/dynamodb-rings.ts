// A ring in DynamoDB is one item of the state table: the record, its state, the cancels claimed and
// not yet marked sent, and the marks. One item, so every change to a ring is one conditional write
// (DynamoDB makes a single-item write atomic; two instances racing are told by the condition).
// These functions compute the next item from the current one, with the same rules as the memory
// store (memory.ts); dynamodb.ts reads, applies and writes back under a version condition.
// Expiry follows the injected clock: DynamoDB has no server time a condition could use, and its TTL
// deletes expired items lazily (within days), so every read checks `ringExp` and `cancelExp` itself.
import { randomUUID } from 'node:crypto'
import { rangExactly } from './store.js'
import type { RingRecord, RingState } from '../model.js'
import { ORPHAN_CANCEL_TTL_MS } from './ttl.js'
import { DUE_PARTITION } from './dynamodb-tables.js'

export interface RingItem {
  pk: string
  /** Version, for the optimistic write: each write requires the version it read. */
  v: number
  /** A random id of the write that left the item so: a writer whose reply was lost recognises its own write. */
  w?: string
  /** The RingRecord JSON as created (its state lives in `state`). Absent: cancel claims without a ring. */
  record?: string
  state?: RingState
  /** Epoch ms (injected clock) when the ring stops existing. */
  ringExp?: number
  cancelled?: string[]
  cancelExp?: number
  /** Claimed cancels not marked sent yet (the outbox), with the time of the last claim. */
  unsent?: string[]
  claimAt?: number
  /** When the ring's pushes were handed to the push services (dispatchedAt). */
  sent?: number
  /**
   * Present only while the ring needs the sweep (ringing, or alive with unsent cancels): the sparse
   * `due` index, one partition (DUE_PARTITION) ordered by `dueAt`.
   */
  duePart?: string
  /** Epoch ms: the ring's timeout (expiresAt) while ringing, or its last claim while cancels are unsent, whichever is first. */
  dueAt?: number
  /** Epoch seconds, DynamoDB's TTL attribute. */
  ttl: number
}

export const ringPk = (key: string): string => `ring#${key}`

export function liveRing(
  item: RingItem | undefined,
  now: number,
): item is RingItem & { record: string; state: RingState; ringExp: number } {
  return item?.record !== undefined && item.state !== undefined && (item.ringExp ?? 0) > now
}

function liveCancels(item: RingItem | undefined, now: number): string[] {
  return item !== undefined && (item.cancelExp ?? 0) > now ? (item.cancelled ?? []) : []
}

/** The ring as callers see it, or undefined when there is none (or it expired). */
export function ringView(item: RingItem | undefined, now: number): RingRecord | undefined {
  if (!liveRing(item, now)) return undefined
  const record = JSON.parse(item.record) as RingRecord
  record.state = item.state
  if (item.sent !== undefined) record.dispatchedAt = item.sent
  for (const t of liveCancels(item, now)) if (!record.cancelledTokens.includes(t)) record.cancelledTokens.push(t)
  return record
}

function settle(item: RingItem, now: number): RingItem {
  const alive = liveRing(item, now)
  const ringing = alive && item.state === 'ringing'
  const unsent = alive && (item.unsent?.length ?? 0) > 0
  if (ringing || unsent) {
    item.duePart = DUE_PARTITION
    item.dueAt = Math.min(
      ringing ? (JSON.parse(item.record as string) as RingRecord).expiresAt : Infinity,
      unsent ? (item.claimAt ?? now) : Infinity,
    )
  } else {
    delete item.duePart
    delete item.dueAt
  }
  const until = Math.max(item.ringExp ?? 0, item.cancelExp ?? 0)
  item.ttl = Math.ceil(until / 1000) + 60
  return item
}

export function createdRing(key: string, record: RingRecord, ttlMs: number, now: number): RingItem {
  return settle(
    {
      pk: ringPk(key),
      v: 0,
      w: randomUUID(),
      record: JSON.stringify(record),
      state: record.state,
      ringExp: now + ttlMs,
      ttl: 0,
    },
    now,
  )
}

export function transitioned(
  item: RingItem | undefined,
  key: string,
  from: RingState[],
  to: RingState,
  ttlMs: number,
  now: number,
): { next: RingItem; before: RingRecord } | undefined {
  if (!liveRing(item, now) || !from.includes(item.state)) return undefined
  const before = ringView(item, now) as RingRecord
  const next = structuredClone(item)
  next.state = to
  next.ringExp = now + ttlMs
  if (liveCancels(item, now).length > 0) next.cancelExp = next.ringExp
  return { next: settle(next, now), before }
}

export function claimed(
  item: RingItem | undefined,
  key: string,
  tokens: string[],
  silent: string[],
  now: number,
): { next: RingItem; fresh: string[] } {
  const next: RingItem = item ? structuredClone(item) : { pk: ringPk(key), v: 0, ttl: 0 }
  const ring = liveRing(next, now) ? next : undefined
  if (liveCancels(next, now).length === 0) {
    next.cancelled = []
    next.cancelExp = ring?.ringExp ?? now + ORPHAN_CANCEL_TTL_MS
  }
  const cancelled = next.cancelled as string[]
  const preset = new Set(ring ? (JSON.parse(ring.record) as RingRecord).cancelledTokens : [])
  const fresh: string[] = []
  const pending: string[] = []
  for (const [list, sent] of [
    [tokens, false],
    [silent, true],
  ] as const) {
    for (const t of list) {
      if (preset.has(t) || cancelled.includes(t)) continue
      cancelled.push(t)
      fresh.push(t)
      if (!sent) pending.push(t)
    }
  }
  // Only a live ring can be resent (its record is the cancel's context).
  if (ring && pending.length > 0) {
    next.unsent = [...new Set([...(next.unsent ?? []), ...pending])]
    next.claimAt = now
  }
  return { next: settle(next, now), fresh }
}

export function ended(
  item: RingItem | undefined,
  key: string,
  from: RingState[],
  to: RingState,
  ttlMs: number,
  guess: { ifRung: string[]; tokens: string[] },
  now: number,
): { next?: RingItem; before: RingRecord; claimed?: string[] } | undefined {
  const moved = transitioned(item, key, from, to, ttlMs, now)
  if (!moved) return undefined
  // A wrong guess changes nothing (no `next`): the end and its claims go together or not at all.
  if (!rangExactly(moved.before, guess.ifRung)) return { before: moved.before }
  const claim = claimed(moved.next, key, guess.tokens, [], now)
  return { next: claim.next, before: moved.before, claimed: claim.fresh }
}

/** The outbox mark; undefined when nothing changes (a ring that is gone is ignored). */
export function marked(
  item: RingItem | undefined,
  key: string,
  ring: boolean,
  tokens: string[],
  at: number,
  now: number,
): RingItem | undefined {
  if (!liveRing(item, now)) return undefined
  const next = structuredClone(item)
  if (ring) next.sent = at
  if (tokens.length > 0) next.unsent = (next.unsent ?? []).filter((t) => !tokens.includes(t))
  if ((next.unsent?.length ?? 0) === 0) delete next.unsent
  return settle(next, now)
}

/** The ring key of a state-table item (`ring#<key>`). */
export function keyOf(item: RingItem): string {
  return item.pk.slice('ring#'.length)
}
