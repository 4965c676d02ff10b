import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { FakeClock } from '../../src/clock.js'
import { openDynamoStore } from '../../src/store/dynamodb.js'
import { parseDynamoUrl } from '../../src/store/dynamodb-url.js'
import { ringKey } from '../../src/model.js'
import { DYNALITE_CREDENTIALS, startDynalite, type Dynalite } from '../support/dynalite.js'
import { startNetProxy } from '../../src/sim/net-proxy.js'
import { device, ring, storeContract } from './contract.js'

let server: Dynalite
before(async () => {
  server = await startDynalite()
})
after(() => server.close())

const prefix = () => `t${randomUUID().slice(0, 8)}`

storeContract('dynamodb', async () => {
  const clock = new FakeClock()
  const store = await openDynamoStore({
    target: parseDynamoUrl(server.storeUrl(prefix())),
    clock,
    createTables: true,
    credentials: DYNALITE_CREDENTIALS,
  })
  return {
    store,
    now: () => clock.now(),
    passTime: async (ms) => clock.advance(ms),
    shortTtlMs: 1_000,
    cleanup: () => store.close(),
  }
})

test('dynamodb: two instances (two clients) creating the same ring and claiming its cancels: exactly one wins each', async () => {
  const tables = prefix()
  const clock = new FakeClock()
  const open = () =>
    openDynamoStore({
      target: parseDynamoUrl(server.storeUrl(tables)),
      clock,
      createTables: true,
      credentials: DYNALITE_CREDENTIALS,
    })
  const a = await open()
  const b = await open()
  try {
    for (let i = 0; i < 5; i++) {
      const r = ring({ conversationId: `conv-${i}` })
      const results = await Promise.all([
        a.createRing(r, 60_000),
        b.createRing(r, 60_000),
        a.createRing(r, 60_000),
        b.createRing(r, 60_000),
      ])
      assert.equal(results.filter(Boolean).length, 1, `ring ${i}`)
    }
    const key = ringKey(ring())
    const claims = await Promise.all([
      a.claimCancels(key, ['tok-a', 'tok-b']),
      b.claimCancels(key, ['tok-b', 'tok-a']),
      a.endRing(key, ['ringing'], 'cancelled', 60_000, { ifRung: ['tok-a', 'tok-b'], tokens: ['tok-a', 'tok-b'] }),
    ])
    assert.deepEqual(
      [...claims[0], ...claims[1], ...(claims[2]?.claimed ?? [])].sort(),
      ['tok-a', 'tok-b'],
      'each device gets one cancel across instances',
    )
    await b.upsertDevice(device('agent-1', 'tok-1'))
    assert.deepEqual(await a.listDevices('agent-1'), [device('agent-1', 'tok-1')])
  } finally {
    await a.close()
    await b.close()
  }
})

test('dynamodb: without DYNAMODB_CREATE_TABLES a missing table keeps the store not ready, naming the table', async () => {
  const tables = prefix()
  const store = await openDynamoStore({
    target: parseDynamoUrl(server.storeUrl(tables)),
    credentials: DYNALITE_CREDENTIALS,
  })
  try {
    await assert.rejects(store.ping(), (err: Error) => {
      assert.equal(err.name, 'StoreNotReadyError')
      assert.match(
        err.message,
        new RegExp(`DynamoDB table ${tables}-devices, ${tables}-state does not exist.*DYNAMODB_CREATE_TABLES=1`),
      )
      return true
    })
    await assert.rejects(store.upsertDevice(device('agent-1', 'tok-1')), { name: 'StoreNotReadyError' })
  } finally {
    await store.close()
  }
})

test('dynamodb: an unreachable endpoint is the store-unavailable path (503), not a crash', async () => {
  const stopped = await startDynalite()
  const url = stopped.storeUrl(prefix())
  await stopped.close()
  const store = await openDynamoStore({ target: parseDynamoUrl(url), credentials: DYNALITE_CREDENTIALS })
  try {
    await assert.rejects(store.listDevices('agent-1'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'STORE_UNAVAILABLE')
      return true
    })
  } finally {
    await store.close()
  }
})

test('dynamodb: a store that goes silent (no answer, no reset) fails the request as unavailable, not a hang', async () => {
  const tables = prefix()
  const proxy = await startNetProxy({ target: { port: Number(new URL(server.endpoint).port) } })
  const store = await openDynamoStore({
    target: { ...parseDynamoUrl(server.storeUrl(tables)), endpoint: `http://127.0.0.1:${proxy.port}` },
    createTables: true,
    credentials: DYNALITE_CREDENTIALS,
  })
  try {
    await store.upsertDevice(device('agent-1', 'tok-1'))
    proxy.blackHoleExisting()
    proxy.setMode('black-hole')
    const started = Date.now()
    await assert.rejects(store.listDevices('agent-1'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'STORE_UNAVAILABLE')
      return true
    })
    // Two attempts of at most 3 s each, and the SDK's backoff between them.
    assert.ok(Date.now() - started < 9_000, `answered in ${Date.now() - started} ms`)
  } finally {
    await store.close()
    await proxy.close()
  }
})

test('a dynamodb:// STORE_URL needs a table prefix and a region; a bad one is refused with the form', () => {
  assert.deepEqual(parseDynamoUrl('dynamodb://pgw?region=eu-west-1'), { tablePrefix: 'pgw', region: 'eu-west-1' })
  assert.deepEqual(parseDynamoUrl('dynamodb://pgw-prod?region=us-east-1&endpoint=http%3A%2F%2F127.0.0.1%3A8000'), {
    tablePrefix: 'pgw-prod',
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:8000',
  })
  for (const url of [
    'dynamodb://?region=eu-west-1',
    'dynamodb://pgw',
    'dynamodb://pgw?region=eu-west-1&endpoint=ftp://x',
    'dynamodb://pgw?region=eu-west-1&table=x',
    'dynamodb://p g?region=eu-west-1',
  ]) {
    assert.throws(() => parseDynamoUrl(url), /^Error: STORE_URL: /, url)
  }
})

test('dynamodb: through the cache the gateway uses, a missing table still fails readiness, naming it', async () => {
  const { openStore } = await import('../../src/store/open.js')
  const { storeReadiness } = await import('../../src/store/cached.js')
  const { DYNALITE_ENV } = await import('../support/dynalite.js')
  // openStore takes credentials from the SDK's default chain, as in production.
  Object.assign(process.env, DYNALITE_ENV)
  const tables = prefix()
  const store = await openStore(server.storeUrl(tables))
  try {
    assert.equal(store.kind, 'dynamodb')
    await assert.rejects(
      storeReadiness(store),
      new RegExp(`DynamoDB table ${tables}-devices, ${tables}-state does not exist`),
    )
    const created = await openStore(server.storeUrl(tables), { createTables: true })
    assert.deepEqual(await storeReadiness(created), { ok: true, detail: 'dynamodb: reachable' })
    assert.deepEqual(
      await storeReadiness(store),
      { ok: true, detail: 'dynamodb: reachable' },
      'the first store sees the tables once they exist',
    )
    await created.close()
  } finally {
    await store.close()
  }
})

test('dynamodb: a state table made before the due index existed keeps readiness failing, naming the index, and is not used', async () => {
  const { CreateTableCommand, DynamoDBClient } = await import('@aws-sdk/client-dynamodb')
  const { storeReadiness } = await import('../../src/store/cached.js')
  const { tableDefinitions } = await import('../../src/store/dynamodb-tables.js')
  const tables = prefix()
  // The operator's tables as an older version made them: the state table without its `due` index.
  const client = new DynamoDBClient({
    endpoint: server.endpoint,
    region: 'eu-west-1',
    credentials: DYNALITE_CREDENTIALS,
  })
  for (const definition of tableDefinitions({ devices: `${tables}-devices`, state: `${tables}-state` })) {
    const old =
      definition.TableName === `${tables}-state`
        ? {
            ...definition,
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' as const }],
            GlobalSecondaryIndexes: undefined,
          }
        : definition
    await client.send(new CreateTableCommand(old))
  }
  client.destroy()
  // DYNAMODB_CREATE_TABLES=1 creates missing tables, not indexes: the gateway says what to add.
  const store = await openDynamoStore({
    target: parseDynamoUrl(server.storeUrl(tables)),
    createTables: true,
    credentials: DYNALITE_CREDENTIALS,
  })
  try {
    await assert.rejects(
      storeReadiness(store),
      new RegExp(`DynamoDB index ${tables}-state: due does not exist .*update-table`),
    )
  } finally {
    await store.close()
  }
})
