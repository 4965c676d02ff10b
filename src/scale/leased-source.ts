// Runs a WebSocket event source (notifications, eventstream) on exactly one of several gateway
// instances: the holder of a Redis lease. Every instance keeps competing; only the holder runs the
// inner source (start on acquire, stop on loss), and events the inner source delivers after the
// lease stopped being valid (a stalled event loop waking up) are dropped by guard().
//
// Registrations land on any instance, but only the holder subscribes topics. An instance that
// registers or removes an agent publishes the agent id on `<prefix>agents:changed`; the holder
// re-reads that agent's devices and adds or removes its topic. Pub/sub can lose a message (a
// subscriber reconnecting), and token pruning by the dispatcher changes the registry without any
// API call, so the holder also reconciles its topic set with listUserIds() every `reconcileMs` and
// after every subscriber reconnection.
import type { RoutingEvent, RoutingEventSink } from '../model.js'
import type { Logger } from '../observability/logger.js'
import type { EventSource, SourceStatus } from '../sources/source.js'
import type { ScaleBus } from './bus.js'
import { RedisLease, type LeaseBackend, type LeaseState } from './lease.js'

/**
 * Without pub/sub (DynamoDB): registrations bump a change counter that the holder polls, and the
 * holder reconciles with the registry whenever it moved.
 */
export interface AgentChangeLog {
  announce(userId: string): Promise<void>
  /** Changes whenever any instance announced something. */
  version(): Promise<string>
}

export interface LeasedSourceOptions {
  /** Redis: lease scripts, agent changes and releases over pub/sub. */
  bus?: ScaleBus
  /** Without a bus: where the lease lives, and how agent changes travel. */
  backend?: LeaseBackend
  changes?: AgentChangeLog
  /** How often the holder polls `changes` (default 1 s). */
  changePollMs?: number
  instanceId: string
  ttlMs: number
  logger: Logger
  listUserIds: () => Promise<string[]>
  hasDevices: (userId: string) => Promise<boolean>
  /** Default 30 s. */
  reconcileMs?: number
  /** Runs after stop() (closing the Redis connections the lease used). */
  onStopped?: () => Promise<void>
  now?: () => number
}

const AGENTS_CHANGED = 'agents:changed'

export class LeasedSource implements EventSource {
  readonly lease: RedisLease
  private inner: EventSource | undefined
  private readonly known = new Set<string>()
  // Start, stop and topic changes of the inner source run one at a time, in order.
  private chain: Promise<unknown> = Promise.resolve()
  private reconcileTimer: NodeJS.Timeout | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private seenVersion: string | undefined
  private holding = false

  constructor(private readonly options: LeasedSourceOptions) {
    this.lease = new RedisLease({
      ...(options.bus && { bus: options.bus }),
      ...(options.backend && { backend: options.backend }),
      name: 'source',
      instanceId: options.instanceId,
      ttlMs: options.ttlMs,
      logger: options.logger,
      ...(options.now && { now: options.now }),
      onAcquired: () => this.serial(() => this.becomeHolder()),
      onLost: (reason) => {
        this.holding = false
        void this.serial(() => this.stepDown(reason))
      },
    })
  }

  get name(): EventSource['name'] {
    return this.source().name
  }

  /** The inner source is built later than the lease (it needs the guarded handler). */
  wrap(inner: EventSource): this {
    this.inner = inner
    return this
  }

  /**
   * Wraps the routing-event sink: nothing from a WebSocket source passes without a valid lease.
   * Webhook events pass on every instance (no lease), so one sink may serve both sources.
   */
  guard(sink: RoutingEventSink): RoutingEventSink {
    return {
      handle: (event: RoutingEvent) => {
        if (event.source === 'webhook' || this.lease.isValid()) sink.handle(event)
        else
          this.options.logger.warn(
            { conversationId: event.conversationId, kind: event.kind },
            'event dropped: this instance no longer holds the source lease',
          )
      },
    }
  }

  async start(): Promise<void> {
    this.options.bus?.subscribe(AGENTS_CHANGED, (userId) => void this.agentChanged(userId))
    this.options.bus?.onResubscribed(() => void this.reconcile())
    await this.lease.start()
    await this.chain
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.options.reconcileMs ?? 30_000)
    this.reconcileTimer.unref()
    if (this.options.changes) {
      this.pollTimer = setInterval(() => void this.pollChanges(), this.options.changePollMs ?? 1_000)
      this.pollTimer.unref()
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.reconcileTimer)
    clearInterval(this.pollTimer)
    await this.lease.stop()
    await this.chain
    await this.options.onStopped?.()
  }

  async addUser(userId: string): Promise<void> {
    if (this.holding) await this.serial(() => this.apply(userId, true))
    if (this.announces()) await this.announce(userId)
  }

  async removeUser(userId: string): Promise<void> {
    if (this.holding) await this.serial(() => this.apply(userId, false))
    if (this.announces()) await this.announce(userId)
  }

  /**
   * The change log (DynamoDB) is one item every registration writes: the holder, which has just
   * applied the change itself, spares it that write. Pub/sub costs nothing and is kept as it was.
   */
  private announces(): boolean {
    return this.options.bus !== undefined || !this.holding
  }

  status(): SourceStatus {
    const lease: LeaseState = this.lease.state()
    const inner = this.source().status()
    // A standby hears nothing by design; it reports the inner source as it is (not connected).
    return { ...inner, lease }
  }

  private source(): EventSource {
    if (!this.inner) throw new Error('LeasedSource used before wrap(inner)')
    return this.inner
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn)
    this.chain = run.catch((err: unknown) => this.options.logger.error({ err }, 'leased source: step failed'))
    return run
  }

  private async becomeHolder(): Promise<void> {
    if (!this.lease.isValid()) return
    this.holding = true
    this.known.clear()
    try {
      for (const id of await this.options.listUserIds()) this.known.add(id)
    } catch (err) {
      this.options.logger.warn(
        { err: (err as Error).message },
        'leased source: could not list agents; the inner source reads them itself',
      )
    }
    // The inner source's start() reads the registry and re-checks open rings (gap recovery).
    this.options.logger.info(
      { instanceId: this.options.instanceId, ...this.lease.state() },
      'source lease acquired: starting the event source',
    )
    await this.source().start()
    if (!this.lease.isValid()) await this.source().stop() // lost while starting
  }

  private async stepDown(reason: string): Promise<void> {
    this.options.logger.warn(
      { instanceId: this.options.instanceId, reason },
      'source lease lost: stopping the event source',
    )
    await this.source().stop()
  }

  /** Another instance's registration (or ours) changed an agent: follow the registry. */
  private async agentChanged(userId: string): Promise<void> {
    if (!this.holding) return
    try {
      const has = await this.options.hasDevices(userId)
      await this.serial(() => this.apply(userId, has))
    } catch (err) {
      this.options.logger.warn(
        { err: (err as Error).message, userId },
        'leased source: agent change not applied; the next reconcile will',
      )
    }
  }

  private async apply(userId: string, listen: boolean): Promise<void> {
    if (!this.holding) return
    if (listen) {
      this.known.add(userId)
      await this.source().addUser(userId)
    } else {
      this.known.delete(userId)
      await this.source().removeUser(userId)
    }
  }

  private async pollChanges(): Promise<void> {
    if (!this.holding || !this.options.changes) return
    try {
      const version = await this.options.changes.version()
      if (version === this.seenVersion) return
      this.seenVersion = version
      await this.reconcile()
    } catch (err) {
      this.options.logger.debug({ err: (err as Error).message }, 'leased source: could not poll agent changes')
    }
  }

  private async announce(userId: string): Promise<void> {
    try {
      if (this.options.bus) await this.options.bus.publish(AGENTS_CHANGED, userId)
      else await this.options.changes?.announce(userId)
    } catch (err) {
      // The device is stored; the holder's periodic reconcile picks the agent up.
      this.options.logger.warn(
        { err: (err as Error).message, userId },
        'leased source: could not announce an agent change',
      )
    }
  }

  /** Brings the inner source's topics in line with the registry. */
  async reconcile(): Promise<void> {
    if (!this.holding) return
    let ids: string[]
    try {
      ids = await this.options.listUserIds()
    } catch {
      return // Redis down: keep the topics we have
    }
    const want = new Set(ids)
    await this.serial(async () => {
      for (const id of want) if (!this.known.has(id)) await this.apply(id, true)
      for (const id of [...this.known]) if (!want.has(id)) await this.apply(id, false)
    })
  }
}
