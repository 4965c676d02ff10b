// The DynamoDB store's devices: one item per token in the devices table (a token handed to another
// agent moves in one write), an agent's list from the byUser index (which DynamoDB updates
// asynchronously: README states the staleness). dynamodb.ts puts the parts together.
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  type DynamoDBDocumentClient,
  type QueryCommand,
  type ScanCommand,
} from '@aws-sdk/lib-dynamodb'
import type { Clock } from '../clock.js'
import type { Device } from '../model.js'
import { BY_USER_INDEX } from './dynamodb-tables.js'
import type { DeviceStore } from './store.js'

/**
 * countDevices scans the devices table: its answer (for /metrics and doctor) is kept this long, or
 * until this instance changes a device (other instances' changes show within this time).
 */
const COUNT_CACHE_MS = 60_000

export interface DynamoDevicesContext {
  doc: DynamoDBDocumentClient
  /** The devices table's name. */
  table: string
  clock: Clock
  /** Runs a request, turning the SDK's errors into the store's (503 for throttling and outages). */
  call: <T>(fn: () => Promise<T>) => Promise<T>
  queryAll: <T>(input: ConstructorParameters<typeof QueryCommand>[0]) => Promise<T[]>
  scanAll: <T>(input: ConstructorParameters<typeof ScanCommand>[0]) => Promise<T[]>
}

type DeviceMethods = Pick<
  DeviceStore,
  | 'upsertDevice'
  | 'listDevices'
  | 'getDevice'
  | 'removeDevice'
  | 'removePhone'
  | 'pruneToken'
  | 'listUserIds'
  | 'countDevices'
>

export function dynamoDevices(context: DynamoDevicesContext): DeviceMethods {
  const { doc, clock, call, queryAll, scanAll } = context
  const tables = { devices: context.table }

  const devicesOf = async (userId: string): Promise<DeviceItem[]> =>
    queryAll<DeviceItem>({
      TableName: tables.devices,
      IndexName: BY_USER_INDEX,
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': userId },
    })

  let counted: { at: number; value: { total: number; byPlatform: Record<string, number> } } | undefined
  function deviceChange<T>(fn: () => Promise<T>): Promise<T> {
    counted = undefined
    return call(fn)
  }

  return {
    upsertDevice: (device) =>
      deviceChange(async () => {
        await doc.send(new PutCommand({ TableName: tables.devices, Item: deviceItem(device) }))
        return device
      }),
    listDevices: (userId) => call(async () => (await devicesOf(userId)).map(fromItem)),
    getDevice: (token) =>
      call(async () => {
        const item = (
          await doc.send(new GetCommand({ TableName: tables.devices, Key: { token }, ConsistentRead: true }))
        ).Item as DeviceItem | undefined
        return item ? fromItem(item) : undefined
      }),
    removeDevice: (userId, token) =>
      deviceChange(() => conditionalDelete(doc, tables.devices, { token }, 'userId = :u', { ':u': userId })),
    removePhone: (userId, deviceId) =>
      deviceChange(async () => {
        const removed: string[] = []
        for (const item of await devicesOf(userId)) {
          if (item.deviceId !== deviceId) continue
          // The condition re-checks on the item itself: the index may be a moment behind.
          if (
            await conditionalDelete(doc, tables.devices, { token: item.token }, 'userId = :u AND deviceId = :d', {
              ':u': userId,
              ':d': deviceId,
            })
          )
            removed.push(item.token)
        }
        return removed
      }),
    pruneToken: (token, registeredBefore) =>
      deviceChange(() =>
        registeredBefore === undefined
          ? conditionalDelete(doc, tables.devices, { token }, 'attribute_exists(#t)', undefined, { '#t': 'token' })
          : conditionalDelete(doc, tables.devices, { token }, 'registeredAt < :b', { ':b': registeredBefore }),
      ),
    listUserIds: () =>
      call(async () => {
        const items = await scanAll<{ userId: string }>({
          TableName: tables.devices,
          IndexName: BY_USER_INDEX,
          ProjectionExpression: 'userId',
        })
        return [...new Set(items.map((i) => i.userId))]
      }),
    countDevices: () =>
      call(async () => {
        if (counted && clock.now() - counted.at < COUNT_CACHE_MS) return structuredClone(counted.value)
        const byPlatform: Record<string, number> = {}
        const items = await scanAll<{ platform: string }>({
          TableName: tables.devices,
          ProjectionExpression: 'platform',
        })
        for (const { platform } of items) byPlatform[platform] = (byPlatform[platform] ?? 0) + 1
        counted = { at: clock.now(), value: { total: items.length, byPlatform } }
        return structuredClone(counted.value)
      }),
  }
}

interface DeviceItem {
  token: string
  userId: string
  platform: string
  registeredAt: number
  deviceId?: string
  device: string
}

function deviceItem(device: Device): DeviceItem {
  return {
    token: device.token,
    userId: device.userId,
    platform: device.platform,
    registeredAt: device.registeredAt,
    ...(device.deviceId !== undefined && { deviceId: device.deviceId }),
    device: JSON.stringify(device),
  }
}

function fromItem(item: DeviceItem): Device {
  return JSON.parse(item.device) as Device
}

async function conditionalDelete(
  doc: DynamoDBDocumentClient,
  table: string,
  key: Record<string, string>,
  condition: string,
  values?: Record<string, unknown>,
  names?: Record<string, string>,
): Promise<boolean> {
  try {
    await doc.send(
      new DeleteCommand({
        TableName: table,
        Key: key,
        ConditionExpression: condition,
        ...(values && { ExpressionAttributeValues: values }),
        ...(names && { ExpressionAttributeNames: names }),
      }),
    )
    return true
  } catch (err) {
    if ((err as Error).name === 'ConditionalCheckFailedException') return false
    throw err
  }
}
