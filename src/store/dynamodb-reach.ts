// Device receipts on the DynamoDB store (the ReachStore of store.ts), in the state table:
//   delivery#<conversationId>#<token>  one attribute `f:<field>` per field, exp/ttl
//   reach#<userId>                     {doc, v, exp, ttl}: the agent's document, compare-and-set on v
//   reach-agents#<n>                   {agents: map userId → exp}: which agents have a document,
//                                      spread over REACH_SHARDS items (each item holds ~8,000)
// DynamoDB deletes expired items only within days, so every read checks `exp` itself, and a write
// over an expired item replaces it rather than merging into it.
import { createHash } from 'node:crypto'
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { Clock } from '../clock.js'
import type { ReachStore } from './store.js'

const REACH_SHARDS = 8
const FIELD = 'f:'

const conditionFailed = (err: unknown): boolean => (err as Error).name === 'ConditionalCheckFailedException'
const ttlOf = (exp: number): number => Math.ceil(exp / 1000) + 60

export function dynamoReach(doc: DynamoDBDocumentClient, table: string, clock: Clock): ReachStore {
  const shardOf = (userId: string): string =>
    `reach-agents#${createHash('sha256').update(userId).digest()[0]! % REACH_SHARDS}`

  async function noteDelivery(
    conversationId: string,
    token: string,
    fields: Record<string, string>,
    ttlMs: number,
  ): Promise<void> {
    const pk = `delivery#${conversationId}#${token}`
    const entries = Object.entries(fields)
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = clock.now()
      const exp = now + ttlMs
      try {
        // Merge into a live record…
        const names: Record<string, string> = { '#exp': 'exp', '#ttl': 'ttl' }
        const values: Record<string, unknown> = { ':exp': exp, ':ttl': ttlOf(exp), ':now': now }
        const sets = ['#exp = :exp', '#ttl = :ttl']
        entries.forEach(([name, value], i) => {
          names[`#f${i}`] = `${FIELD}${name}`
          values[`:f${i}`] = value
          sets.push(`#f${i} = :f${i}`)
        })
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk },
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: '#exp > :now',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        )
        return
      } catch (err) {
        if (!conditionFailed(err)) throw err
      }
      try {
        // …or start a fresh one where there is none, or only an expired one.
        const item: Record<string, unknown> = { pk, exp, ttl: ttlOf(exp) }
        for (const [name, value] of entries) item[`${FIELD}${name}`] = value
        await doc.send(
          new PutCommand({
            TableName: table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk) OR #exp <= :now',
            ExpressionAttributeNames: { '#exp': 'exp' },
            ExpressionAttributeValues: { ':now': now },
          }),
        )
        return
      } catch (err) {
        if (!conditionFailed(err)) throw err // another writer created it in between: merge again
      }
    }
    throw new Error(`delivery record ${conversationId} kept changing`)
  }

  async function getDelivery(conversationId: string, token: string): Promise<Record<string, string> | undefined> {
    const item = (
      await doc.send(
        new GetCommand({ TableName: table, Key: { pk: `delivery#${conversationId}#${token}` }, ConsistentRead: true }),
      )
    ).Item
    if (!item || !(Number(item.exp) > clock.now())) return undefined
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(item))
      if (name.startsWith(FIELD) && typeof value === 'string') out[name.slice(FIELD.length)] = value
    return out
  }

  async function getReach(userId: string): Promise<{ doc: string; version: number } | undefined> {
    const item = (
      await doc.send(new GetCommand({ TableName: table, Key: { pk: `reach#${userId}` }, ConsistentRead: true }))
    ).Item
    if (!item || !(Number(item.exp) > clock.now()) || typeof item.doc !== 'string') return undefined
    return { doc: item.doc, version: Number(item.v) }
  }

  async function putReach(userId: string, body: string, version: number, ttlMs: number): Promise<boolean> {
    const now = clock.now()
    const exp = now + ttlMs
    try {
      await doc.send(
        new PutCommand({
          TableName: table,
          Item: { pk: `reach#${userId}`, doc: body, v: version + 1, exp, ttl: ttlOf(exp) },
          // Version 0: there is none (or only an expired one); otherwise the version read is still there.
          ConditionExpression: version === 0 ? 'attribute_not_exists(pk) OR #exp <= :now' : 'v = :v AND #exp > :now',
          ExpressionAttributeNames: { '#exp': 'exp' },
          ExpressionAttributeValues: version === 0 ? { ':now': now } : { ':now': now, ':v': version },
        }),
      )
    } catch (err) {
      if (conditionFailed(err)) return false
      throw err
    }
    await listAgent(userId, exp)
    return true
  }

  async function listAgent(userId: string, exp: number): Promise<void> {
    const pk = shardOf(userId)
    const update = () =>
      doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk },
          UpdateExpression: 'SET agents.#u = :exp',
          ConditionExpression: 'attribute_exists(agents)',
          ExpressionAttributeNames: { '#u': userId },
          ExpressionAttributeValues: { ':exp': exp },
        }),
      )
    try {
      await update()
    } catch (err) {
      if (!conditionFailed(err)) throw err
      try {
        await doc.send(
          new PutCommand({
            TableName: table,
            Item: { pk, agents: { [userId]: exp } },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        )
      } catch (again) {
        if (!conditionFailed(again)) throw again
        await update() // another instance created the shard first
      }
    }
  }

  async function listReachUsers(): Promise<string[]> {
    const now = clock.now()
    const out: string[] = []
    for (let n = 0; n < REACH_SHARDS; n++) {
      const item = (
        await doc.send(new GetCommand({ TableName: table, Key: { pk: `reach-agents#${n}` }, ConsistentRead: true }))
      ).Item
      const agents = (item?.agents ?? {}) as Record<string, number>
      const gone = Object.keys(agents).filter((userId) => !(agents[userId]! > now))
      out.push(...Object.keys(agents).filter((userId) => agents[userId]! > now))
      if (gone.length > 0) await forget(`reach-agents#${n}`, gone, now)
    }
    return out
  }

  // Expired entries leave the shard, unless a write renewed them in the meantime.
  async function forget(pk: string, userIds: string[], now: number): Promise<void> {
    for (const userId of userIds.slice(0, 50)) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk },
            UpdateExpression: 'REMOVE agents.#u',
            ConditionExpression: 'agents.#u <= :now',
            ExpressionAttributeNames: { '#u': userId },
            ExpressionAttributeValues: { ':now': now },
          }),
        )
      } catch (err) {
        if (!conditionFailed(err)) throw err
      }
    }
  }

  return { noteDelivery, getDelivery, getReach, putReach, listReachUsers }
}
