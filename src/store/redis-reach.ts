// The Redis store's device receipts: delivery records and agents' reachability documents (ReachStore).
import type { RedisConnection } from './redis-connection.js'
import { runScript } from './redis-scripts.js'
import type { WriteBehind } from './redis-write-behind.js'
import type { ReachStore } from './store.js'

export function redisReachStore(connection: RedisConnection, writeBehind: WriteBehind): ReachStore {
  const { redis, keys: k } = connection
  return {
    noteDelivery: (conversationId, token, fields, ttlMs) =>
      connection.call(async () => {
        const pairs: string[] = []
        for (const name in fields) pairs.push(name, fields[name] as string)
        if (pairs.length > 0) await writeBehind.queueDelivery(k.delivery(conversationId, token), ttlMs, pairs)
      }),
    getDelivery: (conversationId, token) =>
      connection.call(async () => {
        // This instance's own records still waiting for their batch go first (same connection, in order).
        if (writeBehind.hasDeliveries()) writeBehind.flush()
        const fields = await redis.hgetall(k.delivery(conversationId, token))
        return Object.keys(fields).length === 0 ? undefined : fields
      }),
    getReach: (userId) =>
      connection.call(async () => {
        const [version, doc] = await redis.hmget(k.reach(userId), 'v', 'doc')
        return version && doc ? { doc, version: Number(version) } : undefined
      }),
    putReach: (userId, doc, version, ttlMs) =>
      connection.write(
        async () =>
          (await runScript(redis, 'pgwPutReach', {
            keys: { reach: k.reach(userId), reachAgents: k.reachAgents },
            args: { version, doc, ttlMs, userId },
          })) === 1,
      ),
    listReachUsers: () =>
      connection.call(
        async () =>
          (await runScript(redis, 'pgwReachUsers', { keys: { reachAgents: k.reachAgents }, args: {} })) as string[],
      ),
  }
}
