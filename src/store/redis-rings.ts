// The Redis store's rings: their records and states, cancel claims and the outbox, and the
// once-only claims (RingStore).
import { randomBytes } from 'node:crypto'
import { ringKey, type RingRecord, type RingState } from '../model.js'
import type { RedisConnection } from './redis-connection.js'
import { runScript } from './redis-scripts.js'
import type { WriteBehind } from './redis-write-behind.js'
import type { RingStore } from './store.js'
import { ORPHAN_CANCEL_TTL_MS } from './ttl.js'

// Names each write that must tell its own earlier landing from another's (pgwCreateRing, claimOnce):
// unique per process and call, and short, as it is stored with the ring.
const WRITER_PREFIX = randomBytes(6).toString('base64url')
let writes = 0
const nextWriter = (): string => WRITER_PREFIX + (writes++).toString(36)

export function redisRingStore(connection: RedisConnection, writeBehind: WriteBehind): RingStore {
  const { redis, prefix, keys: k } = connection

  async function readRing(key: string): Promise<RingRecord | undefined> {
    const res = await redis.multi().hmget(k.ring(key), 'state', 'record', 'sent').smembers(k.cancelled(key)).exec()
    return toRing(res)
  }

  return {
    createRing: (record, ttlMs) =>
      connection.write(async () => {
        const key = ringKey(record)
        connection.coalesceWrites()
        const created = await runScript(redis, 'pgwCreateRing', {
          keys: { ring: k.ring(key), cancelled: k.cancelled(key), open: k.open, unsent: k.unsent(key) },
          args: {
            key,
            state: record.state,
            recordJson: JSON.stringify(record),
            ttlMs,
            expiresAt: record.expiresAt,
            writer: nextWriter(),
          },
        })
        return created === 1
      }),
    getRing: (key) => connection.call(() => readRing(key)),
    transitionRing: (key: string, from: RingState[], to: RingState, ttlMs: number) =>
      connection.write(async () =>
        transitioned(
          await runScript(redis, 'pgwTransitionRing', {
            keys: { ring: k.ring(key), cancelled: k.cancelled(key), open: k.open, unsent: k.unsent(key) },
            args: { key, to, ttlMs },
            rest: from,
          }),
        ),
      ),
    endRing: (key, from, to, ttlMs, guess) =>
      connection.write(async () => {
        connection.coalesceWrites()
        const res = await runScript(redis, 'pgwEndRing', {
          keys: {
            ring: k.ring(key),
            cancelled: k.cancelled(key),
            open: k.open,
            unsent: k.unsent(key),
            unsentIndex: k.unsentIndex,
          },
          args: { key, to, ttlMs, orphanTtlMs: ORPHAN_CANCEL_TTL_MS, fromCount: from.length },
          rest: [...from, guess.ifRung.length, ...guess.ifRung, ...guess.tokens],
        })
        if (!Array.isArray(res)) return undefined
        const before = transitioned(res[0])
        if (before === undefined) return undefined
        return Array.isArray(res[1]) ? { before, claimed: res[1] as string[] } : { before }
      }),
    claimCancels: (key, tokens, silent = []) =>
      connection.write(async () => {
        if (tokens.length + silent.length === 0) return []
        return (await runScript(redis, 'pgwClaimCancels', {
          keys: { ring: k.ring(key), cancelled: k.cancelled(key), unsent: k.unsent(key), unsentIndex: k.unsentIndex },
          args: { key, orphanTtlMs: ORPHAN_CANCEL_TTL_MS, pushed: tokens.length },
          rest: silent.length === 0 ? tokens : [...tokens, ...silent],
        })) as string[]
      }),
    markSent: (key, sent, at) =>
      connection.call(async () => {
        const tokens = sent.cancelTokens ?? []
        if (sent.ring !== true && tokens.length === 0) return
        await writeBehind.queueMark(key, at, sent.ring === true, tokens)
      }),
    listUnsentCancels: (olderThanMs) =>
      connection.call(async () => {
        const keys = (await runScript(redis, 'pgwUnsentCancelKeys', {
          keys: { unsentIndex: k.unsentIndex },
          args: { prefix, olderThanMs },
        })) as string[]
        if (keys.length === 0) return []
        const batch = redis.multi()
        for (const key of keys)
          batch.hmget(k.ring(key), 'state', 'record', 'sent').smembers(k.cancelled(key)).smembers(k.unsent(key))
        const res = (await batch.exec()) ?? []
        const out: Array<{ ring: RingRecord; tokens: string[] }> = []
        for (let i = 0; i < res.length; i += 3) {
          const ring = toRing(res.slice(i, i + 2))
          const [err, tokens] = res[i + 2] ?? []
          if (err) throw err
          if (ring && Array.isArray(tokens) && tokens.length > 0) out.push({ ring, tokens: tokens as string[] })
        }
        return out
      }),
    listOpenRings: (dueBy) =>
      connection.call(async () => {
        const keys = (await runScript(redis, 'pgwOpenRingKeys', {
          keys: { open: k.open },
          args: { prefix, dueBy: dueBy ?? '+inf' },
        })) as string[]
        if (keys.length === 0) return []
        const batch = redis.multi()
        for (const key of keys) batch.hmget(k.ring(key), 'state', 'record', 'sent').smembers(k.cancelled(key))
        const res = (await batch.exec()) ?? []
        const out: RingRecord[] = []
        for (let i = 0; i < res.length; i += 2) {
          const r = toRing(res.slice(i, i + 2))
          if (r?.state === 'ringing') out.push(r)
        }
        return out
      }),
    claimOnce: (key, ttlMs) =>
      connection.write(async () => {
        const writer = nextWriter()
        if ((await redis.set(k.once(key), writer, 'PX', ttlMs, 'NX')) === 'OK') return true
        // Taken: by someone else, or by this very claim whose first reply was lost (pgwCreateRing says why).
        return (await redis.get(k.once(key))) === writer
      }),
  }
}

/** pgwTransitionRing's answer (also the first part of pgwEndRing's): the record before the move. */
function transitioned(res: unknown): RingRecord | undefined {
  if (!Array.isArray(res)) return undefined
  const [state, record, sent, ...cancelled] = res as string[]
  return record === undefined || state === undefined ? undefined : merge(record, state, cancelled, sent)
}

function merge(record: string, state: string, cancelled: string[], sent?: string | null): RingRecord {
  const r = JSON.parse(record) as RingRecord
  r.state = state as RingState
  if (sent) r.dispatchedAt = Number(sent)
  for (const t of cancelled) if (!r.cancelledTokens.includes(t)) r.cancelledTokens.push(t)
  return r
}

function toRing(res: [Error | null, unknown][] | null): RingRecord | undefined {
  const [hm, members] = res ?? []
  if (hm?.[0]) throw hm[0]
  if (members?.[0]) throw members[0]
  const [state, record, sent] = (hm?.[1] ?? []) as (string | null)[]
  if (typeof state !== 'string' || typeof record !== 'string') return undefined
  return merge(record, state, (members?.[1] ?? []) as string[], sent)
}
