// The Notifications API event source (the default). Rules (Genesys Notifications API, see
// docs/PLATFORMS.md): nothing is replayed after a drop, so a gap recovery runs after every
// reconnect. Which topics are subscribed is notification-topics.ts; how they are packed onto
// channels is channel-pool.ts; each channel's socket, heartbeats and hand-overs are channel-link.ts.
// This file reads the frames that carry events (conversations, presence) and schedules recovery.
import { systemClock, type Clock } from '../clock.js'
import { PRESENCE_BULK_MAX, type GenesysRest } from '../genesys/rest.js'
import type { RingRecord, RoutingEvent } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { BackoffOptions } from './backoff.js'
import { ChannelLink, errorText } from './channel-link.js'
import { ChannelPool, type LinkSeams } from './channel-pool.js'
import type { SilenceProbe } from './channel-socket.js'
import { GapRecovery, type RecoveryReport } from './gap-recovery.js'
import { isRecord } from './genesys-wire.js'
import type { IntakeGate } from './intake-gate.js'
import { ConversationNormaliser } from './normalise.js'
import { agentGroup, agentTopics, presenceTopicUser, topicGroups, type TopicChoice } from './notification-topics.js'
import type { EventSource, PresenceHandler, RoutingEventHandler, SourceStatus } from './source.js'

/**
 * Genesys sends a heartbeat every 30 s, so a healthy idle socket is never silent for much longer;
 * after 10 s of silence a ping costs one small frame each way, and a live socket answers it within
 * a round trip. No answer in 5 s: the path is dead, found in about 15 s instead of the heartbeat
 * timeout's 75 s, while the offers made meanwhile are still alerting and gap recovery can ring them.
 */
export const SILENCE_PROBE: SilenceProbe = { afterMs: 10_000, timeoutMs: 5_000 }

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
  /**
   * A socket silent this long is pinged, and taken for dead when the ping gets no answer in time
   * (channel-socket.ts); default SILENCE_PROBE. `false`: only the heartbeat timeout.
   */
  probe?: SilenceProbe | false
  /** Stops reading the sockets while the gateway has this many events to decide (intake-gate.ts). */
  intake?: IntakeGate
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

export class NotificationsSource implements EventSource {
  readonly name = 'notifications' as const
  private readonly clock: Clock
  private readonly normaliser: ConversationNormaliser
  private readonly recovery: GapRecovery
  private readonly users = new Set<string>()
  private readonly choice: TopicChoice
  private readonly pool: ChannelPool
  private running = false
  private rejectedFrames = 0
  private unheard = 0
  private readonly loggedRejects = new Set<string>()

  constructor(private readonly options: NotificationsSourceOptions) {
    const { logger, rest } = options
    this.clock = options.clock ?? systemClock
    this.normaliser = options.normaliser ?? new ConversationNormaliser({ clock: this.clock, logger })
    this.choice = {
      per: options.topics ?? 'users',
      queueIds: options.queueIds ?? [],
      presence: options.onPresence !== undefined,
    }
    this.pool = new ChannelPool({
      ...(options.maxTopicsPerChannel !== undefined && { maxTopicsPerChannel: options.maxTopicsPerChannel }),
      ...(options.maxChannels !== undefined && { maxChannels: options.maxChannels }),
      newLink: (seams) => this.newLink(seams),
    })
    this.recovery = new GapRecovery({
      rest,
      normaliser: this.normaliser,
      source: 'notifications',
      clock: this.clock,
      logger,
      emit: (e) => this.deliver(e),
      ...(options.listOpenRings && { listOpenRings: options.listOpenRings }),
      scope: () =>
        this.choice.per === 'queues'
          ? { dimension: 'queueId', ids: [...this.choice.queueIds] }
          : { dimension: 'userId', ids: [...this.users] },
      ...(options.recoveryLookbackMs !== undefined && { lookbackMs: options.recoveryLookbackMs }),
    })
  }

  async start(): Promise<void> {
    if (this.running) return
    // A source can be started again (a lease won back): it starts from the registry as it is now.
    this.users.clear()
    for (const id of await this.options.listUserIds()) this.users.add(id)
    try {
      this.pool.pack(topicGroups(this.users, this.choice), { queuesWouldHelp: this.choice.per !== 'queues' })
    } catch (err) {
      await this.pool.stop()
      throw err
    }
    this.running = true
    try {
      await this.pool.start()
    } catch (err) {
      await this.stop()
      throw err
    }
    void this.recover('start', 0)
  }

  async stop(): Promise<void> {
    this.running = false
    await this.pool.stop()
  }

  async addUser(userId: string): Promise<void> {
    if (this.users.has(userId)) return
    this.users.add(userId)
    if (!this.running) return // start() subscribes every user
    const topics = agentTopics(userId, this.choice)
    if (topics.length === 0) return
    if (await this.pool.add(agentGroup(userId), topics)) return
    this.unheard++
    this.options.logger.error(
      { userId, channels: this.pool.size, unheard: this.unheard },
      'genesys notifications: every channel is full; this agent is not heard (use the webhook/EventBridge source)',
    )
  }

  async removeUser(userId: string): Promise<void> {
    if (!this.users.delete(userId)) return
    await this.pool.remove(agentGroup(userId))
  }

  status(): SourceStatus {
    return {
      name: this.name,
      connected: this.pool.connected,
      channels: this.pool.list().filter(({ link }) => link.channelId !== undefined).length,
      topics: this.pool.topicCount,
      reconnects: this.pool.reconnects,
      rejectedFrames: this.rejectedFrames,
    }
  }

  /** The first channel in use (diagnostics and tests). */
  get channelId(): string | undefined {
    return this.pool.list()[0]?.link.channelId
  }

  /** Every channel in use, with its topic count. */
  channels(): Array<{ channelId?: string; topics: number; connected: boolean; handOvers: number }> {
    return this.pool.list().map(({ link, topics }) => ({
      ...(link.channelId !== undefined && { channelId: link.channelId }),
      topics,
      connected: link.connected,
      handOvers: link.handOvers,
    }))
  }

  /** The figures of the last gap recovery. */
  get lastRecovery(): RecoveryReport | undefined {
    return this.recovery.lastReport
  }

  private newLink({ index, topics, handOverLock }: LinkSeams): ChannelLink {
    const { rest, logger, backoff, wsOptions, heartbeatTimeoutMs, renewBeforeMs, intake } = this.options
    const probe = this.options.probe ?? SILENCE_PROBE
    return new ChannelLink({
      index,
      rest,
      clock: this.clock,
      logger,
      ...(backoff && { backoff }),
      topics,
      socket: {
        ...(wsOptions?.ca !== undefined && { ca: wsOptions.ca }),
        heartbeatTimeoutMs: heartbeatTimeoutMs ?? 75_000,
        ...(probe !== false && { probe }),
        ...(intake !== undefined && { intake }),
      },
      renewBeforeMs: renewBeforeMs ?? 3600_000,
      handOverLock,
      onFrame: (frame, at, hr) => this.onFrame(frame, at, hr),
      onNotJson: () => this.reject('not-json'),
      onRecovered: (link, downMs) => void this.recover(`reconnect link ${link.index}`, downMs),
    })
  }

  private async recover(reason: string, downMs: number, attempt = 0): Promise<void> {
    if (!this.running) return
    try {
      const report = await this.recovery.run(reason)
      await this.refreshPresence()
      this.options.onRecovery?.({ ...report, downMs })
      // A conversation that could not be read (rate limit, Genesys trouble) is tried again later:
      // a ring left open would otherwise keep ringing until its timeout.
      if (report.errors > 0 && attempt < 5) {
        const retryMs = (this.options.recoveryRetryMs ?? 5_000) * 2 ** attempt
        setTimeout(() => void this.recover(`${reason} (retry ${attempt + 1})`, downMs, attempt + 1), retryMs).unref()
      }
    } catch (err) {
      this.options.logger.error({ err: errorText(err) }, 'genesys gap recovery failed')
    }
  }

  /** Presence changes during a gap are lost too: read them back, in calls of the bulk limit. */
  private async refreshPresence(): Promise<void> {
    const onPresence = this.options.onPresence
    if (!onPresence) return
    const ids = [...this.users]
    for (let i = 0; i < ids.length; i += PRESENCE_BULK_MAX) {
      try {
        for (const p of await this.options.rest.getPresencesBulk(ids.slice(i, i + PRESENCE_BULK_MAX)))
          onPresence(p.userId, p.systemPresence, p.modifiedAt ?? this.clock.now())
      } catch (err) {
        this.options.logger.warn({ err: errorText(err) }, 'genesys presence refresh failed')
      }
    }
  }

  /** A frame that carries events (the link has answered the channel's own frames already). */
  private onFrame(frame: unknown, receivedAt: number, receivedAtHr: number): void {
    if (!isRecord(frame) || typeof frame.topicName !== 'string') return this.reject('no-topic')
    const topic = frame.topicName
    const presenceOf = presenceTopicUser(topic)
    if (presenceOf !== undefined) return this.onPresenceFrame(presenceOf, frame.eventBody, receivedAt)
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
      this.options.onPresence?.(userId, def.systemPresence, Number.isFinite(modified) ? modified : receivedAt)
    } catch (err) {
      this.options.logger.error({ err: errorText(err), userId }, 'presence handler failed')
    }
  }

  private deliver(event: RoutingEvent): void {
    try {
      this.options.onEvent(event)
    } catch (err) {
      this.options.logger.error(
        { err: errorText(err), conversationId: event.conversationId },
        'routing event handler failed',
      )
    }
  }

  private reject(kind: string): void {
    this.rejectedFrames++
    if (this.loggedRejects.has(kind)) return
    this.loggedRejects.add(kind)
    this.options.logger.warn({ kind }, 'genesys frame not understood (logged once per kind)')
  }
}
