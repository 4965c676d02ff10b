// The source lease and the agent-change counter on the DynamoDB store's state table:
//
//   lease#<name>     {holder: instanceId, fence: fencing token, exp: epoch ms}; fence only grows
//   agents#changed   {seq}: bumped by every registration or removal, polled by the lease holder
//
// Each step is one conditional write. DynamoDB has no server clock a condition could read, so `exp`
// is written and compared in the instances' wall-clock time: a holder counts its lease from when it
// sent the write (monotonic, lease.ts) minus a 5 % margin, which covers clocks that agree to within
// that margin (NTP or the AWS Time Sync Service keep them within milliseconds).
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb'
import type { LeaseBackend } from './lease.js'
import type { AgentChangeLog } from './leased-source.js'
import { tableNames, type DynamoTarget } from '../store/dynamodb-tables.js'

export interface DynamoCoordination {
  backend: LeaseBackend
  changes: AgentChangeLog
  close(): void
}

export function dynamoCoordination(options: {
  target: DynamoTarget
  name: string
  credentials?: DynamoDBClientConfig['credentials']
  now?: () => number
}): DynamoCoordination {
  const client = new DynamoDBClient({
    region: options.target.region,
    ...(options.target.endpoint !== undefined && { endpoint: options.target.endpoint }),
    ...(options.credentials && { credentials: options.credentials }),
    // A renewal must answer well inside the lease, or the holder gives the lease up anyway.
    maxAttempts: 1,
    // throwOnRequestTimeout: without it the SDK only logs a warning and the renewal waits on.
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 1_500, throwOnRequestTimeout: true },
  })
  const doc = DynamoDBDocumentClient.from(client)
  const table = tableNames(options.target.tablePrefix).state
  const pk = `lease#${options.name}`
  const now = options.now ?? (() => Date.now())
  const failedCondition = (err: unknown): boolean => (err as Error).name === 'ConditionalCheckFailedException'
  const split = (value: string): [string, number] => {
    const bar = value.lastIndexOf('|')
    return [value.slice(0, bar), Number(value.slice(bar + 1))]
  }

  /** An update that applies only while `value` (holder|fence) still holds the lease; false once it does not. */
  async function whileHeld(value: string, update: string, values: Record<string, unknown>): Promise<boolean> {
    const [holder, fence] = split(value)
    try {
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk },
          UpdateExpression: update,
          ConditionExpression: 'holder = :me AND fence = :fence',
          ExpressionAttributeNames: { '#exp': 'exp' },
          ExpressionAttributeValues: { ':me': holder, ':fence': fence, ...values },
        }),
      )
      return true
    } catch (err) {
      if (failedCondition(err)) return false
      throw err
    }
  }

  const backend: LeaseBackend = {
    async acquire(instanceId, ttlMs) {
      const at = now()
      try {
        const res = await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk },
            UpdateExpression: 'SET holder = :me, #exp = :exp, fence = if_not_exists(fence, :zero) + :one',
            ConditionExpression: 'attribute_not_exists(pk) OR attribute_not_exists(holder) OR #exp <= :now',
            ExpressionAttributeNames: { '#exp': 'exp' },
            ExpressionAttributeValues: { ':me': instanceId, ':exp': at + ttlMs, ':zero': 0, ':one': 1, ':now': at },
            ReturnValues: 'ALL_NEW',
          }),
        )
        return [1, `${instanceId}|${String(res.Attributes?.fence)}`, ttlMs]
      } catch (err) {
        if (!failedCondition(err)) throw err
        const item = (await doc.send(new GetCommand({ TableName: table, Key: { pk }, ConsistentRead: true }))).Item as
          { holder?: string; fence?: number; exp?: number } | undefined
        return [
          0,
          item?.holder !== undefined ? `${item.holder}|${String(item.fence)}` : '',
          Math.max(0, (item?.exp ?? 0) - now()),
        ]
      }
    },
    async renew(value, ttlMs) {
      return whileHeld(value, 'SET #exp = :exp', { ':exp': now() + ttlMs })
    },
    async release(value) {
      // The fence counter stays: the next holder's token is still larger.
      return whileHeld(value, 'REMOVE holder SET #exp = :exp', { ':exp': 0 })
    },
  }

  const changes: AgentChangeLog = {
    async announce() {
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: 'agents#changed' },
          UpdateExpression: 'ADD seq :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      )
    },
    async version() {
      const item = (
        await doc.send(new GetCommand({ TableName: table, Key: { pk: 'agents#changed' }, ConsistentRead: true }))
      ).Item as { seq?: number } | undefined
      return String(item?.seq ?? 0)
    },
  }

  return { backend, changes, close: () => client.destroy() }
}
