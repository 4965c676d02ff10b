// Events for the webhook source (POST /api/v1/events) as Amazon EventBridge delivers them: each
// simulator conversation change, on each agent's v2.users.{id}.conversations topic, wrapped in the
// EventBridge envelope ({id, "detail-type": topic, detail: {topicName, version, eventBody, metadata,
// timestamp}}). Sent with undici, a few requests in flight per gateway instance.
import { randomUUID } from 'node:crypto'
import { Pool } from 'undici'
import type { TestWorld } from '../../src/sim/world.js'

export const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789'

/** Runs `act` and returns the EventBridge bodies of the conversation changes it made, in order. */
export function captureEvents(world: TestWorld, act: () => void): string[] {
  const out: string[] = []
  const unsubscribe = world.genesys.feed.subscribe((conv, snapshot) => {
    const users = new Set(conv.participants.flatMap((p) => (p.userId ? [p.userId] : [])))
    for (const userId of users) {
      const topic = `v2.users.${userId}.conversations`
      const time = new Date().toISOString()
      out.push(
        JSON.stringify({
          version: '0',
          id: randomUUID(),
          'detail-type': topic,
          source: `aws.partner/genesys.com/cloud/${world.genesys.orgId}/bench`,
          account: '123456789012',
          time,
          region: 'eu-west-1',
          resources: [],
          detail: {
            topicName: topic,
            version: '2',
            eventBody: snapshot,
            metadata: { CorrelationId: randomUUID() },
            timestamp: time,
          },
        }),
      )
    }
  })
  try {
    act()
  } finally {
    unsubscribe()
  }
  return out
}

export interface PostResult {
  sent: number
  non202: number
  firstError?: string
  elapsedMs: number
}

/**
 * Posts each sequence of bodies in order (a conversation's offer before its answer), sequences to
 * the instance `i % instances`, `concurrency` sequences in flight per instance.
 */
export async function postSequences(
  apis: string[],
  sequences: string[][],
  concurrency: number,
  onProgress?: (done: number) => void,
): Promise<PostResult> {
  const pools = apis.map((api) => new Pool(api, { connections: concurrency, pipelining: 1 }))
  let sent = 0
  let non202 = 0
  let firstError: string | undefined
  let done = 0
  const t0 = performance.now()
  try {
    await Promise.all(
      pools.map(async (pool, instance) => {
        const mine = sequences.filter((_, i) => i % pools.length === instance)
        let next = 0
        const worker = async (): Promise<void> => {
          while (next < mine.length) {
            const seq = mine[next++] as string[]
            for (const body of seq) {
              const res = await pool.request({
                method: 'POST',
                path: '/api/v1/events',
                headers: { 'content-type': 'application/json', 'x-webhook-secret': WEBHOOK_SECRET },
                body,
              })
              const text = await res.body.text()
              sent++
              if (res.statusCode !== 202) {
                non202++
                firstError ??= `${res.statusCode} ${text.slice(0, 200)}`
              }
            }
            if (++done % 200 === 0) onProgress?.(done)
          }
        }
        await Promise.all(Array.from({ length: concurrency }, worker))
      }),
    )
  } finally {
    await Promise.all(pools.map((p) => p.close()))
  }
  return { sent, non202, elapsedMs: performance.now() - t0, ...(firstError ? { firstError } : {}) }
}

/** Settings for a gateway that takes its events from the webhook only. */
export const webhookEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  GENESYS_EVENT_SOURCE: 'webhook',
  WEBHOOK_SECRET,
  ...extra,
})
