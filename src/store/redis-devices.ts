// The Redis store's devices: registration, lookup, removal and counts (DeviceStore).
import type { Device } from '../model.js'
import type { RedisConnection } from './redis-connection.js'
import { runScript } from './redis-scripts.js'
import type { DeviceRegistration, DeviceStore } from './store.js'

export function redisDeviceStore(connection: RedisConnection): Required<DeviceStore> {
  const { redis, prefix, keys: k } = connection

  function register(device: Device): Promise<DeviceRegistration> {
    return connection.write(async () => {
      const [previous, first, tokens] = (await runScript(redis, 'pgwUpsertDevice', {
        keys: {
          tokenOwner: k.token(device.token),
          agentDevices: k.user(device.userId),
          counts: k.counts,
          agents: k.agents,
        },
        args: {
          prefix,
          token: device.token,
          userId: device.userId,
          deviceJson: JSON.stringify(device),
          platform: device.platform,
        },
      })) as [string, number, number]
      return {
        device,
        ...(previous !== '' && previous !== device.userId ? { movedFrom: previous } : {}),
        firstOfAgent: first === 1,
        agentTokens: tokens,
      }
    })
  }

  return {
    upsertDevice: async (device) => (await register(device)).device,
    registerDevice: register,
    listDevices: (userId) =>
      connection.call(async () => {
        connection.coalesceWrites()
        return (await redis.hvals(k.user(userId))).map((j) => JSON.parse(j) as Device)
      }),
    getDevice: (token) =>
      connection.call(async () => {
        const json = await runScript(redis, 'pgwGetDevice', {
          keys: { tokenOwner: k.token(token) },
          args: { prefix, token },
        })
        return typeof json === 'string' ? (JSON.parse(json) as Device) : undefined
      }),
    removeDevice: (userId, token) =>
      connection.write(
        async () =>
          (await runScript(redis, 'pgwRemoveDevice', {
            keys: { tokenOwner: k.token(token), counts: k.counts, agents: k.agents },
            args: { prefix, token, userId },
          })) === 1,
      ),
    removePhone: (userId, deviceId) =>
      connection.write(
        async () =>
          (await runScript(redis, 'pgwRemovePhone', {
            keys: { agentDevices: k.user(userId), counts: k.counts, agents: k.agents },
            args: { prefix, userId, deviceId },
          })) as string[],
      ),
    pruneToken: (token, registeredBefore) =>
      connection.write(
        async () =>
          (await runScript(redis, 'pgwPruneToken', {
            keys: { tokenOwner: k.token(token), counts: k.counts, agents: k.agents },
            args: { prefix, token, registeredBefore: registeredBefore ?? '' },
          })) === 1,
      ),
    listUserIds: () => connection.call(() => redis.smembers(k.agents)),
    countDevices: () =>
      connection.call(async () => {
        const byPlatform: Record<string, number> = {}
        let total = 0
        for (const [platform, n] of Object.entries(await redis.hgetall(k.counts))) {
          const count = Number(n)
          if (count <= 0) continue
          byPlatform[platform] = count
          total += count
        }
        return { total, byPlatform }
      }),
  }
}
