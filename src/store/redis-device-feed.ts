// The Redis store's DeviceChangeFeed: every instance hears which agents' devices changed, so a
// cache of device lists (cached.ts) stays true across instances.
import { randomUUID } from 'node:crypto'
import type { RedisConnection } from './redis-connection.js'
import type { DeviceWatch, DeviceWatcher } from './store.js'

/** How long the device feed waits for its own probe message before giving up on the channel. */
const FEED_PROBE_TIMEOUT_MS = 2_000
const PROBE = 'probe:'

export class RedisDeviceFeeds {
  private readonly feeds = new Set<DeviceWatch>()

  constructor(private readonly connection: RedisConnection) {}

  /**
   * Listens on <prefix>devices:changed over a second connection (a subscribed connection can send
   * nothing else). It counts as listening only once a probe it published itself has come back: an
   * ACL that forbids the channel, or anything else that loses messages, leaves it not listening,
   * and callers then read every device list from Redis. Each (re)connection is a gap.
   */
  watch(watcher: DeviceWatcher): DeviceWatch {
    const { redis, prefix, logger } = this.connection
    const channel = this.connection.keys.devicesChanged
    const sub = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: false, enableAutoPipelining: false })
    let listening = false
    let stopped = false
    let warned = false
    let probe: { token: string; heard: () => void } | undefined
    sub.on('message', (from: string, message: string) => {
      if (from !== channel) return
      if (message.startsWith(PROBE)) {
        if (message === probe?.token) probe.heard()
        return
      }
      watcher.changed(message)
    })
    sub.on('error', (err: Error) => logger.debug({ err: err.message, prefix }, 'Redis device feed connection error'))
    sub.on('close', () => {
      if (!listening) return
      listening = false
      watcher.gap()
    })
    sub.on('ready', () => {
      const token = `${PROBE}${randomUUID()}`
      void (async () => {
        try {
          await sub.subscribe(channel)
          const heard = new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`no probe back within ${FEED_PROBE_TIMEOUT_MS} ms`)),
              FEED_PROBE_TIMEOUT_MS,
            )
            timer.unref()
            probe = {
              token,
              heard: () => {
                clearTimeout(timer)
                resolve()
              },
            }
          })
          // Awaited below; a publish that fails first must not leave its timeout unhandled.
          heard.catch(() => undefined)
          await redis.publish(channel, token)
          await heard
          if (stopped || sub.status !== 'ready') return
          listening = true
          watcher.gap()
          if (warned) logger.info({ prefix }, 'Redis device feed listening again: device lists are cached in memory')
          warned = false
        } catch (err) {
          if (stopped || sub.status !== 'ready') return // the connection went; its next 'ready' tries again
          if (!warned)
            logger.warn(
              { err: err instanceof Error ? err.message : String(err), channel },
              'Redis device feed unavailable: device lists are read from Redis on every event',
            )
          warned = true
        } finally {
          if (probe?.token === token) probe = undefined
        }
      })()
    })
    const watch: DeviceWatch = {
      listening: () => listening,
      stop: async () => {
        stopped = true
        listening = false
        this.feeds.delete(watch)
        sub.disconnect()
      },
    }
    this.feeds.add(watch)
    return watch
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.feeds].map((feed) => feed.stop()))
  }
}
