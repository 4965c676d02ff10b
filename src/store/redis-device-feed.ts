// The Redis store's DeviceChangeFeed: every instance hears which agents' devices changed, so a
// cache of device lists (cached.ts) stays true across instances.
import type { RedisConnection } from './redis-connection.js'
import { SelfProbe } from './redis-probe.js'
import type { DeviceWatch, DeviceWatcher } from './store.js'

/** How long the device feed waits for its own probe message before giving up on the channel. */
const FEED_PROBE_TIMEOUT_MS = 2_000
/**
 * How often a listening feed checks that it still hears: the subscriber connection is idle while no
 * device changes, and an idle flow is what NATs and firewalls forget first, silently. Until the
 * next probe, changes made on other instances go unheard and their device lists stay cached.
 */
export const FEED_PROBE_EVERY_MS = 15_000
const PROBE = 'probe:'

export class RedisDeviceFeeds {
  private readonly feeds = new Set<DeviceWatch>()

  constructor(
    private readonly connection: RedisConnection,
    private readonly probeEveryMs = FEED_PROBE_EVERY_MS,
  ) {}

  /**
   * Listens on <prefix>devices:changed over a second connection (a subscribed connection can send
   * nothing else). It counts as listening only while probes it publishes itself come back: an
   * ACL that forbids the channel, a path gone silent, or anything else that loses messages leaves
   * it not listening, and callers then read every device list from Redis. A probe that does not
   * come back also replaces the connection. Each (re)connection, and each lost probe, is a gap.
   */
  watch(watcher: DeviceWatcher): DeviceWatch {
    const { redis, prefix, logger } = this.connection
    const channel = this.connection.keys.devicesChanged
    const sub = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: false, enableAutoPipelining: false })
    let listening = false
    let stopped = false
    let warned = false
    let subscribed = false
    const probe = new SelfProbe(PROBE)

    const lost = (why: string, err?: unknown): void => {
      if (listening) watcher.gap()
      listening = false
      if (!warned)
        logger.warn(
          { err: err instanceof Error ? err.message : err === undefined ? undefined : String(err), channel },
          `Redis device feed ${why}: device lists are read from Redis on every event`,
        )
      warned = true
    }

    // Publishes a probe on the command connection and waits for it on the subscriber.
    const check = async (): Promise<void> => {
      if (probe.running || stopped || sub.status !== 'ready' || !subscribed) return
      try {
        if ((await probe.run((token) => redis.publish(channel, token), FEED_PROBE_TIMEOUT_MS)) === 'lost')
          throw new Error(`no probe back within ${FEED_PROBE_TIMEOUT_MS} ms`)
        if (stopped || sub.status !== 'ready' || listening) return
        listening = true
        watcher.gap()
        if (warned) logger.info({ prefix }, 'Redis device feed listening again: device lists are cached in memory')
        warned = false
      } catch (err) {
        if (stopped || sub.status !== 'ready') return // the connection went; its next 'ready' tries again
        const wasListening = listening
        lost(wasListening ? 'stopped hearing its own probes' : 'unavailable', err)
        // A subscriber that heard before and hears no more is on a dead path: a new connection.
        if (wasListening) sub.disconnect(true)
      }
    }

    sub.on('message', (from: string, message: string) => {
      if (from !== channel) return
      if (message.startsWith(PROBE)) return probe.heard(message)
      watcher.changed(message)
    })
    sub.on('error', (err: Error) => logger.debug({ err: err.message, prefix }, 'Redis device feed connection error'))
    sub.on('close', () => {
      subscribed = false
      if (!listening) return
      listening = false
      watcher.gap()
    })
    sub.on('ready', () => {
      void (async () => {
        try {
          await sub.subscribe(channel)
          subscribed = true
        } catch (err) {
          if (!stopped && sub.status === 'ready') lost('unavailable', err)
          return
        }
        await check()
      })()
    })
    const timer = setInterval(() => void check(), this.probeEveryMs)
    timer.unref()
    const watch: DeviceWatch = {
      listening: () => listening,
      stop: async () => {
        stopped = true
        listening = false
        clearInterval(timer)
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
