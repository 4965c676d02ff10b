// The DynamoDB store's URL and tables: the one place that knows their names, keys and indexes (the
// README shows the same definitions for operators who create the tables themselves).
//
//   STORE_URL=dynamodb://<table-prefix>?region=<region>[&endpoint=<url>]
//
//   <prefix>-devices  pk token (S); attributes userId, platform, registeredAt, deviceId?, device
//                     (the Device JSON). GSI byUser: userId → the agent's devices (projection ALL).
//   <prefix>-state    pk pk (S): rings (`ring#<key>`), once-only claims (`once#<key>`) and leases
//                     (`lease#<name>`). Sparse GSI due (duePart = 'ring', dueAt): only while a ring
//                     rings or has cancels not marked sent, by when it is due. TTL
//                     attribute `ttl` (epoch seconds): DynamoDB deletes expired items within days,
//                     so every read checks expiry itself.
import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb'

export type { DynamoTarget } from './dynamodb-url.js'

export interface DynamoTables {
  devices: string
  state: string
}

export const BY_USER_INDEX = 'byUser'
/**
 * The sweep's index: rings that ring or have cancels not marked sent, ordered by when they are due.
 * One partition, so the sweep reads what is due with one query (not one per shard); a ring writes
 * it about four times in its life, well within the ~1,000 writes a second an index partition takes.
 */
export const DUE_INDEX = 'due'
export const DUE_PARTITION = 'ring'

export function tableNames(prefix: string): DynamoTables {
  return { devices: `${prefix}-devices`, state: `${prefix}-state` }
}

export function tableDefinitions(tables: DynamoTables): CreateTableCommandInput[] {
  const index = (name: string, hash: string, range?: string) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: hash, KeyType: 'HASH' as const },
      ...(range !== undefined ? [{ AttributeName: range, KeyType: 'RANGE' as const }] : []),
    ],
    Projection: { ProjectionType: 'ALL' as const },
  })
  return [
    {
      TableName: tables.devices,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'token', AttributeType: 'S' },
        { AttributeName: 'userId', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'token', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [index(BY_USER_INDEX, 'userId')],
    },
    {
      TableName: tables.state,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'duePart', AttributeType: 'S' },
        { AttributeName: 'dueAt', AttributeType: 'N' },
      ],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [index(DUE_INDEX, 'duePart', 'dueAt')],
    },
  ]
}

/** What keeps the tables from being used: tables that do not exist, and indexes a table lacks. */
export interface TableProblems {
  missingTables: string[]
  /** `<table>: <index>`, e.g. a state table made before the `due` index existed. */
  missingIndexes: string[]
}

/** The message /readyz and the start-up log give for `problems`, or undefined when there are none. */
export function tableProblemText(problems: TableProblems): string | undefined {
  const parts: string[] = []
  if (problems.missingTables.length > 0)
    parts.push(
      `DynamoDB table ${problems.missingTables.join(', ')} does not exist: create it (README: DynamoDB tables) or set DYNAMODB_CREATE_TABLES=1`,
    )
  // An index cannot be added by DYNAMODB_CREATE_TABLES: DynamoDB builds it from the table's items,
  // which can take long on a large table, and the operator decides when that load runs.
  if (problems.missingIndexes.length > 0)
    parts.push(
      `DynamoDB index ${problems.missingIndexes.join(', ')} does not exist (a table made by an older version): add it with aws dynamodb update-table (README: DynamoDB tables)`,
    )
  return parts.length > 0 ? parts.join('; ') : undefined
}

/**
 * Which tables are missing, and which indexes the existing ones lack. With `create`, creates the
 * missing tables (on-demand billing), waits until they are active and turns on TTL for the state
 * table; only the missing indexes are left then.
 */
export async function ensureTables(
  client: DynamoDBClient,
  tables: DynamoTables,
  create: boolean,
): Promise<TableProblems> {
  const missing: CreateTableCommandInput[] = []
  const missingIndexes: string[] = []
  for (const definition of tableDefinitions(tables)) {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: definition.TableName }))
      const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName))
      for (const index of definition.GlobalSecondaryIndexes ?? [])
        if (!present.has(index.IndexName)) missingIndexes.push(`${definition.TableName}: ${index.IndexName}`)
    } catch (err) {
      if ((err as Error).name !== 'ResourceNotFoundException') throw err
      missing.push(definition)
    }
  }
  if (!create) return { missingTables: missing.map((d) => d.TableName as string), missingIndexes }
  for (const definition of missing) {
    try {
      await client.send(new CreateTableCommand(definition))
    } catch (err) {
      // Another instance starting at the same moment created it first.
      if ((err as Error).name !== 'ResourceInUseException') throw err
    }
    await waitUntilTableExists(
      { client, maxWaitTime: 120, minDelay: 1, maxDelay: 5 },
      { TableName: definition.TableName },
    )
    if (definition.TableName === tables.state) {
      await client
        .send(
          new UpdateTimeToLiveCommand({
            TableName: tables.state,
            TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
          }),
        )
        .catch((err: Error) => {
          // dynalite and some DynamoDB-compatible servers do not offer TTL; expiry is checked on read anyway.
          if (err.name !== 'UnknownOperationException' && err.name !== 'ValidationException') throw err
        })
    }
  }
  return { missingTables: [], missingIndexes }
}
