// The Notifications API event source (the default). Topics per agent (`v2.users.{id}.conversations`)
// or per queue (`v2.routing.queues.{id}.conversations`), plus `v2.users.{id}.presence` when the ring
// engine wants presence. Rules (Genesys Notifications API, see docs/PLATFORMS.md): 1000 topics per channel
// (more → 400), 20 channels per OAuth client (the 21st evicts the least recently used), one socket
// per channel, a channel lives 24 h, v2.system.socket_closing about a minute before a maintenance
// close, nothing replayed after a drop. So: topics spread over as few channels as fit, one
// ChannelLink per channel, make-before-break hand-overs one at a time (a hand-over briefly needs a
// spare channel: one of the 20 is kept free for it), and a gap recovery after every reconnect.
import { systemClock, type Clock } from '../clock.js'
import { PRESENCE_BULK_MAX, type GenesysRest } from '../genesys/rest.js'
import type { RingRecord } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { BackoffOptions } from './backoff.js'
import { ChannelLink, describe } from './channel-link.js'
import type { ChannelSocket } from './channel-socket.js'
import { GapRecovery, type RecoveryReport } from './gap-recovery.js'
import { isRecord } from './genesys-wire.js'
import { ConversationNormaliser } from './normalise.js'
import type { EventSource, PresenceHandler, RoutingEventHandler, SourceStatus } from './source.js'

export interface NotificationsSourceOptions {
  rest: GenesysRest
  listUserIds: () => Promise<string[]>
  onEvent: RoutingEventHandler
  logger: Logger
  clock?: Clock
  wsOptions?: { ca?: string }
  /** `users` (default): one topic per agent with a device; `queues`: one per configured queue. */
  topics?: 'users' | 'queues'
  queueIds?: string[]
  /** No frame (heartbeat included) for this long: the socket is presumed dead. */
  heartbeatTimeoutMs?: number
  pingIntervalMs?: number
  normaliser?: ConversationNormaliser
  /** Reconnect back-off: full jitter between 0 and min(maxMs, initialMs · 2^failures). */
  backoff?: BackoffOptions
  maxTopicsPerChannel?: number
  maxChannels?: number
  /** Hand a channel over to a fresh one this long before it expires (default 1 h). */
  renewBeforeMs?: number
  /** Open rings from the store, re-checked after every reconnect and at start. */
  listOpenRings?: () => Promise<RingRecord[]>
  /** When given, agents' presence topics are subscribed too and their changes reported here. */
  onPresence?: PresenceHandler
  /** Every gap recovery's figures, with how long the link was down (0 at start). */
  onRecovery?: (report: RecoveryReport & { downMs: number }) => void
  recoveryLookbackMs?: number
  /** A recovery that could not read everything runs again after this, doubling (default 5 s). */
  recoveryRetryMs?: number
}

/** The organisation has more agents (or queues) than one OAuth client's channels can carry. */
export class TopicCapacityError extends Error {
  readonly code = 'SOURCE_TOPIC_CAPACITY'
  constructor(message: string) {
    super(message)
    this.name = 'TopicCapacityError'
  }
}

export const userTopic = (userId: string): string => `v2.users.${userId}.conversations`
export const queueTopic = (queueId: string): string => `v2.routing.queues.${queueId}.conversations`
export const presenceTopic = (userId: string): string => `v2.users.${userId}.presence`
const PRESENCE_RE = /^v2\.users\.([^.]+)\.presence$/

interface TopicGroup {
  topics: string[]
  link: ChannelLink
}

export class NotificationsSource implements EventSource {
  readonly name = 'notifications' as const
  private readonly clock: Clock
  private readonly normaliser: ConversationNormaliser
  private readonly recovery: GapRecovery
  private readonly users = new Set<string>()
  /** key `user:<id>` or `queue:<id>` → its topics and the link that carries them. */
  private readonly groups = new Map<string, TopicGroup>()
  private readonly links: ChannelLink[] = []
  private readonly counts = new Map<ChannelLink, number>()
  private readonly perChannel: number
  private readonly usableChannels: number
  private handOvers: Promise<unknown> = Promise.resolve()
  private running = false
  private rejectedFrames = 0
  private unheard = 0
  private readonly loggedRejects = new Set<string>()

  constructor(private readonly o: NotificationsSourceOptions) {
    this.clock = o.clock ?? systemClock
    this.normaliser = o.normaliser ?? new ConversationNormaliser({ clock: this.clock, logger: o.logger })
    this.perChannel = o.maxTopicsPerChannel ?? 1000
    // One channel stays free: a make-before-break hand-over needs it, and a 21st channel would
    // evict one of ours (Genesys evicts the least recently used).
    this.usableChannels = Math.max(1, (o.maxChannels ?? 20) - 1)
    this.recovery = new GapRecovery({
      rest: o.rest,
      normaliser: this.normaliser,
      source: 'notifications',
      clock: this.clock,
      logger: o.logger,
      emit: (e) => this.deliver(e),
      ...(o.listOpenRings && { listOpenRings: o.listOpenRings }),
      scope: () =>
        o.topics === 'queues'
          ? { dimension: 'queueId', ids: o.queueIds ?? [] }
          : { dimension: 'userId', ids: [...this.users] },
      ...(o.recoveryLookbackMs !== undefined && { lookbackMs: o.recoveryLookbackMs }),
    })
  }

  async start(): Promise<void> {
    if (this.running) return
    // A source can be started again (a lease won back): it starts from the registry as it is now.
    this.users.clear()
    for (const id of await this.o.listUserIds()) this.users.add(id)
    const wanted = this.wantedGroups()
    const total = [...wanted.values()].reduce((n, t) => n + t.length, 0)
    const needed = Math.max(1, Math.ceil(total / this.perChannel))
    if (needed > this.usableChannels) {
      throw new TopicCapacityError(
        `${total} Notifications API topics need ${needed} channels, but Genesys allows 20 channels of 1000 topics per OAuth client ` +
          `(one is kept free for hand-overs): use GENESYS_EVENT_SOURCE=webhook with the Amazon EventBridge integration` +
          (this.o.topics === 'queues' ? '' : ', or GENESYS_TOPICS=queues'),
      )
    }
    this.running = true
    for (let i = 0; i < needed; i++) this.links.push(this.newLink())
    // Largest first onto the emptiest link: channels end up evenly filled, with room to grow.
    for (const [key, topics] of [...wanted].sort((a, b) => b[1].length - a[1].length)) {
      let link = this.emptiest(topics.length)
      if (!link && this.links.length < this.usableChannels) this.links.push((link = this.newLink()))
      if (!link)
        throw new TopicCapacityError(
          `the topics of ${key} do not fit in ${this.usableChannels} channels: use GENESYS_EVENT_SOURCE=webhook (Amazon EventBridge)`,
        )
      this.assign(key, topics, link)
    }
    try {
      await Promise.all(this.links.map((l) => l.start()))
    } catch (err) {
      await this.stop()
      throw err
    }
    void this.recover('start', 0)
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.links.map((l) => l.stop()))
    this.links.length = 0
    this.groups.clear()
    this.counts.clear()
  }

  async addUser(userId: string): Promise<void> {
    if (this.users.has(userId)) return
    this.users.add(userId)
    if (!this.running) return // start() subscribes every user
    const topics = this.userTopics(userId)
    if (topics.length === 0) return
    let link = this.emptiest(topics.length)
    if (!link) {
      if (this.links.length >= this.usableChannels) {
        this.unheard++
        this.o.logger.error(
          { userId, channels: this.links.length, unheard: this.unheard },
          'genesys notifications: every channel is full; this agent is not heard (use the webhook/EventBridge source)',
        )
        return
      }
      link = this.newLink()
      this.links.push(link)
      this.assign(`user:${userId}`, topics, link)
      return link.start()
    }
    this.assign(`user:${userId}`, topics, link)
    await link.add(topics)
  }

  async removeUser(userId: string): Promise<void> {
    if (!this.users.delete(userId)) return
    const group = this.groups.get(`user:${userId}`)
    if (!group) return
    this.groups.delete(`user:${userId}`)
    this.counts.set(group.link, (this.counts.get(group.link) ?? 0) - group.topics.length)
    await group.link.resubscribe()
  }

  status(): SourceStatus {
    return {
      name: this.name,
      connected: this.links.length > 0 && this.links.every((l) => l.connected),
      channels: this.links.filter((l) => l.channelId !== undefined).length,
      topics: [...this.groups.values()].reduce((n, g) => n + g.topics.length, 0),
      reconnects: this.links.reduce((n, l) => n + l.reconnects, 0),
      rejectedFrames: this.rejectedFrames,
    }
  }

  /** The first channel in use (diagnostics and tests). */
  get channelId(): string | undefined {
    return this.links[0]?.channelId
  }

  /** Every channel in use, with its topic count. */
  channels(): Array<{ channelId?: string; topics: number; connected: boolean; handOvers: number }> {
    return this.links.map((l) => ({
      ...(l.channelId !== undefined && { channelId: l.channelId }),
      topics: this.counts.get(l) ?? 0,
      connected: l.connected,
      handOvers: l.handOvers,
    }))
  }

  /** The figures of the last gap recovery. */
  get lastRecovery(): RecoveryReport | undefined {
    return this.recovery.lastReport
  }

  private wantedGroups(): Map<string, string[]> {
    const out = new Map<string, string[]>()
    if (this.o.topics === 'queues') for (const q of this.o.queueIds ?? []) out.set(`queue:${q}`, [queueTopic(q)])
    for (const u of this.users) {
      const t = this.userTopics(u)
      if (t.length > 0) out.set(`user:${u}`, t)
    }
    return out
  }

  private userTopics(userId: string): string[] {
    return [
      ...(this.o.topics === 'queues' ? [] : [userTopic(userId)]),
      ...(this.o.onPresence ? [presenceTopic(userId)] : []),
    ]
  }

  private topicsOf(link: ChannelLink): string[] {
    const out: string[] = []
    for (const g of this.groups.values()) if (g.link === link) out.push(...g.topics)
    return out
  }

  private assign(key: string, topics: string[], link: ChannelLink): void {
    this.groups.set(key, { topics, link })
    this.counts.set(link, (this.counts.get(link) ?? 0) + topics.length)
  }

  /** The link with the fewest topics that has room for `size` more. */
  private emptiest(size = 0): ChannelLink | undefined {
    let best: ChannelLink | undefined
    let bestCount = Infinity
    for (const l of this.links) {
      const n = this.counts.get(l) ?? 0
      if (n + size <= this.perChannel && n < bestCount) [best, bestCount] = [l, n]
    }
    return best
  }

  private newLink(): ChannelLink {
    const link: ChannelLink = new ChannelLink({
      index: this.links.length,
      rest: this.o.rest,
      clock: this.clock,
      logger: this.o.logger,
      ...(this.o.backoff && { backoff: this.o.backoff }),
      topics: () => this.topicsOf(link),
      socket: {
        ...(this.o.wsOptions?.ca !== undefined && { ca: this.o.wsOptions.ca }),
        heartbeatTimeoutMs: this.o.heartbeatTimeoutMs ?? 75_000,
        ...(this.o.pingIntervalMs !== undefined && { pingIntervalMs: this.o.pingIntervalMs }),
      },
      renewBeforeMs: this.o.renewBeforeMs ?? 3600_000,
      handOverLock: (fn) => {
        const run = this.handOvers.then(fn)
        this.handOvers = run.catch(() => undefined)
        return run
      },
      onFrame: (l, socket, text, at, hr) => this.onFrame(l, socket, text, at, hr),
      onRecovered: (l, downMs) => void this.recover(`reconnect link ${l.index}`, downMs),
    })
    return link
  }

  private async recover(reason: string, downMs: number, attempt = 0): Promise<void> {
    if (!this.running) return
    try {
      const report = await this.recovery.run(reason)
      await this.refreshPresence()
      this.o.onRecovery?.({ ...report, downMs })
      // A conversation that could not be read (rate limit, Genesys trouble) is tried again later:
      // a ring left open would otherwise keep ringing until its timeout.
      if (report.errors > 0 && attempt < 5) {
        const retryMs = (this.o.recoveryRetryMs ?? 5_000) * 2 ** attempt
        setTimeout(() => void this.recover(`${reason} (retry ${attempt + 1})`, downMs, attempt + 1), retryMs).unref()
      }
    } catch (err) {
      this.o.logger.error({ err: describe(err) }, 'genesys gap recovery failed')
    }
  }

  /** Presence changes during a gap are lost too: read them back, in calls of the bulk limit. */
  private async refreshPresence(): Promise<void> {
    const onPresence = this.o.onPresence
    if (!onPresence) return
    const ids = [...this.users]
    for (let i = 0; i < ids.length; i += PRESENCE_BULK_MAX) {
      try {
        for (const p of await this.o.rest.getPresencesBulk(ids.slice(i, i + PRESENCE_BULK_MAX)))
          onPresence(p.userId, p.systemPresence, p.modifiedAt ?? this.clock.now())
      } catch (err) {
        this.o.logger.warn({ err: describe(err) }, 'genesys presence refresh failed')
      }
    }
  }

  private onFrame(
    link: ChannelLink,
    _socket: ChannelSocket,
    text: string,
    receivedAt: number,
    receivedAtHr: number,
  ): void {
    let frame: unknown
    try {
      frame = JSON.parse(text)
    } catch {
      return this.reject('not-json')
    }
    if (!isRecord(frame) || typeof frame.topicName !== 'string') return this.reject('no-topic')
    const topic = frame.topicName
    if (topic === 'channel.metadata') return // heartbeat or pong: it already fed the watchdog
    if (topic === 'v2.system.socket_closing') return link.handOver('socket_closing')
    const presence = PRESENCE_RE.exec(topic)
    if (presence) return this.onPresenceFrame(presence[1] ?? '', frame.eventBody, receivedAt)
    const before = this.normaliser.rejectedTotal
    const events = this.normaliser.fromSnapshot(topic, frame.eventBody, receivedAt, 'notifications')
    this.rejectedFrames += this.normaliser.rejectedTotal - before
    for (const event of events) {
      event.receivedAtHr = receivedAtHr
      this.deliver(event)
    }
  }

  /** PresenceEventUserPresence: {source, presenceDefinition: {id, systemPresence}, modifiedDate}. */
  private onPresenceFrame(userId: string, body: unknown, receivedAt: number): void {
    const def = isRecord(body) ? body.presenceDefinition : undefined
    if (!isRecord(def) || typeof def.systemPresence !== 'string' || !isRecord(body))
      return this.reject('malformed-presence')
    const modified = typeof body.modifiedDate === 'string' ? Date.parse(body.modifiedDate) : NaN
    try {
      this.o.onPresence?.(userId, def.systemPresence, Number.isFinite(modified) ? modified : receivedAt)
    } catch (err) {
      this.o.logger.error({ err: describe(err), userId }, 'presence handler failed')
    }
  }

  private deliver(event: Parameters<RoutingEventHandler>[0]): void {
    try {
      this.o.onEvent(event)
    } catch (err) {
      this.o.logger.error({ err: describe(err), conversationId: event.conversationId }, 'routing event handler failed')
    }
  }

  private reject(kind: string): void {
    this.rejectedFrames++
    if (this.loggedRejects.has(kind)) return
    this.loggedRejects.add(kind)
    this.o.logger.warn({ kind }, 'genesys frame not understood (logged once per kind)')
  }
}
