// The DynamoDB store, for teams on AWS who run the gateway without a Redis (EventBridge source,
// DynamoDB, containers). Tables and URL: dynamodb-tables.ts; devices: dynamodb-devices.ts; ring
// items: dynamodb-rings.ts; delivery records and reach: dynamodb-reach.ts.
//
// Atomicity: every operation changes one item, as one conditional write (README, DynamoDB, lists
// each). A device is one item keyed by its token (so a token handed to another agent moves in one
// write); a ring, with its cancel claims and outbox, is one item changed under a version condition
// (read, compute, write "if the version is still the one read"; a racing instance makes the
// condition fail and the loser reads again). createRing and claimOnce need no read. Each ring and
// once-only write carries a writer id, so a write whose reply was lost is recognised as our own.
//
// What DynamoDB does not give: an agent's device list comes from the byUser index, which DynamoDB
// updates asynchronously (usually well under a second): a device registered on another instance
// may be missing from a list read in that moment. The device cache in front (cached.ts) adds its
// own bounded staleness; README states both. Credentials come from the AWS SDK's default chain
// (environment, web identity on EKS, ECS task role, instance profile).
import { randomUUID } from 'node:crypto'
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import {
  DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  paginateScan,
  PutCommand,
  UpdateCommand,
  type QueryCommand,
  type ScanCommand,
} from '@aws-sdk/lib-dynamodb'
import { systemClock, type Clock } from '../clock.js'
import { ringKey, type RingRecord } from '../model.js'
import { silentLogger, type Logger } from '../observability/logger.js'
import {
  claimed,
  createdRing,
  ended,
  keyOf,
  liveRing,
  marked,
  ringPk,
  ringView,
  transitioned,
  type RingItem,
} from './dynamodb-rings.js'
import { dynamoDevices } from './dynamodb-devices.js'
import { dynamoReach } from './dynamodb-reach.js'
import {
  ensureTables,
  DUE_INDEX,
  DUE_PARTITION,
  tableNames,
  tableProblemText,
  type DynamoTarget,
} from './dynamodb-tables.js'
import { StoreError, StoreNotReadyError, StoreUnavailableError, type EndedRing, type Store } from './store.js'

export interface DynamoStoreOptions {
  target: DynamoTarget
  clock?: Clock
  logger?: Logger
  /** DYNAMODB_CREATE_TABLES=1: create missing tables at open. */
  createTables?: boolean
  /** Tests against dynalite; otherwise the SDK's default credential chain. */
  credentials?: DynamoDBClientConfig['credentials']
}

// Errors that mean "not now" (throttling, a service fault, the network), answered as 503 + Retry-After.
const UNAVAILABLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
])
/** Optimistic writes of one ring retried this often before the store calls itself unavailable. */
const MAX_ATTEMPTS = 40

export async function openDynamoStore(options: DynamoStoreOptions): Promise<Store> {
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? silentLogger()
  const tables = tableNames(options.target.tablePrefix)
  const client = new DynamoDBClient({
    region: options.target.region,
    ...(options.target.endpoint !== undefined && { endpoint: options.target.endpoint }),
    ...(options.credentials && { credentials: options.credentials }),
    // Fail fast (the API answers 503, rings fall back to the cache) rather than queue behind retries.
    maxAttempts: 2,
    // throwOnRequestTimeout: without it the SDK only logs a warning and the request waits on (an API
    // call hangs instead of answering 503).
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
  })
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } })
  // Until the tables (and their indexes) are there, readiness fails with what is missing.
  let problem: string | undefined
  try {
    problem = tableProblemText(await ensureTables(client, tables, options.createTables === true))
    if (problem !== undefined) logger.error(problem)
  } catch (err) {
    // Unreachable or throttled at start: the gateway starts not ready and ping() checks again.
    problem = `DynamoDB tables not checked yet: ${(err as Error).message}`
    logger.warn({ err: (err as Error).message }, 'DynamoDB store: could not check the tables at start')
  }

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw classify(err, tables)
    }
  }

  /** Read, compute, write back if no one wrote in between; again if someone did. */
  async function mutate<T>(
    key: string,
    change: (item: RingItem | undefined, now: number) => { next?: RingItem; result: T },
  ): Promise<T> {
    let sent: { writer: string; result: T } | undefined
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const item = (
        await doc.send(new GetCommand({ TableName: tables.state, Key: { pk: ringPk(key) }, ConsistentRead: true }))
      ).Item as RingItem | undefined
      // Our last write did land: its reply was lost and the SDK's retry of it failed the condition.
      if (sent && item?.w === sent.writer) return sent.result
      const { next, result } = change(item, clock.now())
      if (next === undefined) return result
      next.v = (item?.v ?? 0) + 1
      next.w = randomUUID()
      sent = { writer: next.w, result }
      try {
        await doc.send(
          new PutCommand({
            TableName: tables.state,
            Item: next,
            ConditionExpression: item ? 'v = :v' : 'attribute_not_exists(pk)',
            ...(item && { ExpressionAttributeValues: { ':v': item.v } }),
          }),
        )
        return result
      } catch (err) {
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)))
      }
    }
    throw new StoreUnavailableError(`DynamoDB store: ring ${key} changed by others ${MAX_ATTEMPTS} times in a row`)
  }

  /**
   * A create-if-absent write failed its condition: true when the item there is our own write (`writer`)
   * after all. The SDK retries a write whose reply was lost; when the first attempt had landed, the
   * retry finds it and fails the condition, and without this check the caller would read its own
   * ring as another instance's (and ring nobody) or its own once-only claim as taken.
   */
  async function landed(pk: string, writer: string | undefined): Promise<boolean> {
    const item = (await doc.send(new GetCommand({ TableName: tables.state, Key: { pk }, ConsistentRead: true })))
      .Item as { w?: string } | undefined
    return writer !== undefined && item?.w === writer
  }

  // The SDK's own paginators follow LastEvaluatedKey: a query or scan returns at most 1 MB a page.
  async function queryAll<T>(input: ConstructorParameters<typeof QueryCommand>[0]): Promise<T[]> {
    const out: T[] = []
    for await (const page of paginateQuery({ client: doc }, input)) out.push(...((page.Items ?? []) as T[]))
    return out
  }

  async function scanAll<T>(input: ConstructorParameters<typeof ScanCommand>[0]): Promise<T[]> {
    const out: T[] = []
    for await (const page of paginateScan({ client: doc }, input)) out.push(...((page.Items ?? []) as T[]))
    return out
  }

  /** Items of the sparse `due` index due at or before `dueBy` (all of them without it): one query, paged. */
  const due = (dueBy?: number): Promise<RingItem[]> =>
    queryAll<RingItem>({
      TableName: tables.state,
      IndexName: DUE_INDEX,
      KeyConditionExpression: dueBy === undefined ? 'duePart = :p' : 'duePart = :p AND dueAt <= :by',
      ExpressionAttributeValues: { ':p': DUE_PARTITION, ...(dueBy !== undefined && { ':by': dueBy }) },
    })

  /**
   * A ring whose record lapsed while still in the index (every instance was down through its dedup
   * window): taken out of it, or each sweep would read it until DynamoDB's TTL deletes it, days later.
   */
  function forget(item: RingItem): void {
    void doc
      .send(
        new UpdateCommand({
          TableName: tables.state,
          Key: { pk: item.pk },
          UpdateExpression: 'REMOVE duePart, dueAt',
          ConditionExpression: 'v = :v',
          ExpressionAttributeValues: { ':v': item.v },
        }),
      )
      .catch(() => undefined)
  }

  const devices = dynamoDevices({ doc, table: tables.devices, clock, call, queryAll, scanAll })
  const reach = dynamoReach(doc, tables.state, clock)

  return {
    kind: 'dynamodb',
    noteDelivery: (conversationId, token, fields, ttlMs) =>
      call(() => reach.noteDelivery(conversationId, token, fields, ttlMs)),
    getDelivery: (conversationId, token) => call(() => reach.getDelivery(conversationId, token)),
    getReach: (userId) => call(() => reach.getReach(userId)),
    putReach: (userId, doc, version, ttlMs) => call(() => reach.putReach(userId, doc, version, ttlMs)),
    listReachUsers: () => call(() => reach.listReachUsers()),
    ...devices,
    createRing: (record, ttlMs) =>
      call(async () => {
        const now = clock.now()
        const item = createdRing(ringKey(record), record, ttlMs, now)
        try {
          // A ring's key rings again only once the previous ring is gone (or was never more than cancel claims).
          await doc.send(
            new PutCommand({
              TableName: tables.state,
              Item: item,
              ConditionExpression: 'attribute_not_exists(pk) OR attribute_not_exists(#r) OR ringExp <= :now',
              ExpressionAttributeNames: { '#r': 'record' },
              ExpressionAttributeValues: { ':now': now },
            }),
          )
          return true
        } catch (err) {
          if ((err as Error).name === 'ConditionalCheckFailedException') return landed(item.pk, item.w)
          throw err
        }
      }),
    getRing: (key) =>
      call(async () => {
        const item = (
          await doc.send(new GetCommand({ TableName: tables.state, Key: { pk: ringPk(key) }, ConsistentRead: true }))
        ).Item as RingItem | undefined
        return ringView(item, clock.now())
      }),
    transitionRing: (key, from, to, ttlMs) =>
      call(() =>
        mutate(key, (item, now) => {
          const moved = transitioned(item, key, from, to, ttlMs, now)
          return moved ? { next: moved.next, result: moved.before } : { result: undefined }
        }),
      ),
    claimCancels: (key, tokens, silent = []) =>
      call(async () => {
        if (tokens.length + silent.length === 0) return []
        return mutate(key, (item, now) => {
          const claim = claimed(item, key, tokens, silent, now)
          return claim.fresh.length > 0 ? { next: claim.next, result: claim.fresh } : { result: [] }
        })
      }),
    endRing: (key, from, to, ttlMs, guess) =>
      call(() =>
        mutate(key, (item, now): { next?: RingItem; result: EndedRing | undefined } => {
          const end = ended(item, key, from, to, ttlMs, guess, now)
          if (!end) return { result: undefined }
          return end.next && end.claimed
            ? { next: end.next, result: { before: end.before, claimed: end.claimed } }
            : { result: { before: end.before } }
        }),
      ),
    markSent: (key, sent, at) =>
      call(async () => {
        const tokens = sent.cancelTokens ?? []
        if (sent.ring !== true && tokens.length === 0) return
        await mutate(key, (item, now) => {
          const next = marked(item, key, sent.ring === true, tokens, at, now)
          return next ? { next, result: undefined } : { result: undefined }
        })
      }),
    listUnsentCancels: (olderThanMs) =>
      call(async () => {
        const now = clock.now()
        const out: Array<{ ring: RingRecord; tokens: string[] }> = []
        for (const item of await due(now - olderThanMs)) {
          if (!liveRing(item, now)) forget(item)
          if (!liveRing(item, now) || (item.claimAt ?? now) > now - olderThanMs || (item.unsent?.length ?? 0) === 0)
            continue
          // The index is a moment behind the table: read the item itself before resending anything.
          const current = (
            await doc.send(new GetCommand({ TableName: tables.state, Key: { pk: item.pk }, ConsistentRead: true }))
          ).Item as RingItem | undefined
          const ring = ringView(current, now)
          if (ring && current?.unsent?.length && (current.claimAt ?? now) <= now - olderThanMs)
            out.push({ ring, tokens: [...current.unsent] })
        }
        return out
      }),
    listOpenRings: (dueBy) =>
      call(async () => {
        const now = clock.now()
        const out: RingRecord[] = []
        for (const item of await due(dueBy)) {
          if (!liveRing(item, now)) forget(item)
          const ring = ringView(item, now)
          if (
            ring?.state === 'ringing' &&
            ringKey(ring) === keyOf(item) &&
            (dueBy === undefined || ring.expiresAt <= dueBy)
          )
            out.push(ring)
        }
        return out
      }),
    claimOnce: (key, ttlMs) =>
      call(async () => {
        const now = clock.now()
        const item = { pk: `once#${key}`, w: randomUUID(), exp: now + ttlMs, ttl: Math.ceil((now + ttlMs) / 1000) + 60 }
        try {
          await doc.send(
            new PutCommand({
              TableName: tables.state,
              Item: item,
              ConditionExpression: 'attribute_not_exists(pk) OR #exp <= :now',
              ExpressionAttributeNames: { '#exp': 'exp' },
              ExpressionAttributeValues: { ':now': now },
            }),
          )
          return true
        } catch (err) {
          if ((err as Error).name === 'ConditionalCheckFailedException') return landed(item.pk, item.w)
          throw err
        }
      }),
    ping: () =>
      call(async () => {
        if (problem !== undefined)
          problem = tableProblemText(await ensureTables(client, tables, options.createTables === true))
        if (problem !== undefined) throw new StoreNotReadyError(problem)
        await doc.send(new GetCommand({ TableName: tables.state, Key: { pk: 'ping' } }))
      }),
    close: async () => {
      client.destroy()
    },
  }
}

function classify(err: unknown, tables: { devices: string; state: string }): unknown {
  if (err instanceof StoreError) return err
  const e = err instanceof Error ? err : new Error(String(err))
  if (e.name === 'CredentialsProviderError')
    return new StoreNotReadyError(
      'DynamoDB store: no AWS credentials found (environment, web identity, task role or instance profile)',
      { cause: e },
    )
  if (e.name === 'ResourceNotFoundException') {
    return new StoreNotReadyError(
      `DynamoDB table ${tables.devices} or ${tables.state} does not exist: create it (README: DynamoDB tables) or set DYNAMODB_CREATE_TABLES=1`,
      { cause: e },
    )
  }
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  const network = (e as NodeJS.ErrnoException).code !== undefined || e.name === 'AbortError'
  if (UNAVAILABLE.has(e.name) || (status !== undefined && status >= 500) || network)
    return new StoreUnavailableError(`DynamoDB store unavailable: ${e.name}`, { cause: e })
  // Refused (a validation error, an item over 400 KB…): the request fails as 503 too, never 500.
  return new StoreError(`DynamoDB store refused a request: ${e.name}: ${e.message}`, { cause: e })
}
