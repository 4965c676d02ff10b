// The composition root: builds every part of the gateway from a validated Config and wires the
// pipeline, each stage to the next through a named seam (src/model.ts):
//
//   Genesys socket ─▶ source (sources/) ─▶ normaliser (sources/normalise.ts)
//     ─RoutingEventSink─▶ event intake (below) ─▶ ring engine (ring/engine.ts) ─▶ outbox (ring/outbox.ts)
//     ─PushIntentSink─▶ dispatcher (dispatch/) ─PushProvider─▶ APNs · FCM · Web Push (providers/)
//
// The stages are built from the push end back, so each exists before the one that hands it work.
// Nothing else reads configuration: every other module receives the settings it needs.
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import { applyRuntimeV8Flags } from './runtime-flags.js'
import { buildApi } from './api/server.js'
import { Dispatcher } from './dispatch/dispatcher.js'
import {
  AgentDirectory,
  ClientCredentialsAuth,
  GatewayOrganization,
  GenesysRest,
  createDispatcher,
} from './genesys/index.js'
import { LiveFeed } from './observability/live.js'
import type { Logger } from './observability/logger.js'
import { GatewayMetrics } from './observability/metrics.js'
import { createProviders, providerList } from './providers/create.js'
import { WebPushEndpointPolicy } from './providers/webpush-endpoints.js'
import { ProviderAlarms } from './dispatch/alarms.js'
import { AuditLog } from './ring/audit.js'
import { PresenceFilter, restPresenceFetcher } from './ring/presence.js'
import { NameCache } from './ring/names.js'
import type { PushProvider } from './providers/provider.js'
import { RingEngine } from './ring/engine.js'
import { ReachActions } from './reach/actions.js'
import { RingRepeater } from './reach/repeat.js'
import { ReachTracker, type CountedReceipt } from './reach/tracker.js'
import { IntakeGate } from './sources/intake-gate.js'
import { createEventSources } from './sources/create.js'
import type { EventSource } from './sources/source.js'
import type { RoutingEvent, RoutingEventSink } from './model.js'
import { leaseForSource, sourceReadiness } from './scale/index.js'
import { storeReadiness } from './store/cached.js'
import { openStore, parseStoreUrl } from './store/open.js'
import type { Store } from './store/store.js'
import type { PushOutcome, RingDecision } from './outcomes.js'

export interface GatewayOptions {
  config: Config
  logger: Logger
  clock?: Clock
  /** An extra CA to trust (in-process tests and the demo); child processes use NODE_EXTRA_CA_CERTS. */
  ca?: string
  /** Observers, for the demo's live view and tests. */
  onEvent?: (event: RoutingEvent) => void
  onDecision?: (decision: RingDecision) => void
  onOutcome?: (outcome: PushOutcome) => void
  /** Device receipts counted (the demo shows each phone's receipt latency). */
  onReceipt?: (receipt: CountedReceipt) => void
  /** Redis key prefix, so tests and benchmarks can share one Redis without colliding; the store's default otherwise. */
  storeKeyPrefix?: string
  /**
   * `host:port` of the project's own Web Push sandbox (tests, the demo): its endpoints are accepted
   * and may resolve to loopback. Code only, never a setting: a deployment reaches public push
   * services on WEBPUSH_ALLOWED_HOSTS and nothing else.
   */
  webPushSandboxHosts?: string[]
}

export class Gateway {
  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly store: Store,
    readonly engine: RingEngine,
    readonly dispatcher: Dispatcher,
    readonly source: EventSource,
    readonly api: FastifyInstance,
    private readonly providers: PushProvider[],
    readonly metrics: GatewayMetrics,
    readonly live: LiveFeed,
    private readonly lifecycle: Lifecycle,
  ) {}

  static async create(options: GatewayOptions): Promise<Gateway> {
    applyRuntimeV8Flags()
    const { config, logger, ca, storeKeyPrefix } = options
    const clock = options.clock ?? systemClock
    const store = await openStore(config.storeUrl, {
      clock,
      logger: logger.child({ component: 'store' }),
      ...config.store,
      ...(storeKeyPrefix ? { keyPrefix: storeKeyPrefix } : {}),
    })
    // Metrics and the dashboard's live feed hear everything through the same observers as the demo.
    const metrics = new GatewayMetrics({ instanceId: config.instanceId, clock })
    const lifecycle: Lifecycle = { stopping: false, handling: new Set() }

    // Genesys Cloud: the client-credentials REST client (sources, presence, queue names) and the
    // directory that resolves agents' own tokens (device registration).
    const http = createDispatcher(ca)
    const genesysLog = logger.child({ component: 'genesys' })
    const auth = new ClientCredentialsAuth({
      loginUrl: config.genesys.loginUrl,
      clientId: config.genesys.clientId ?? '',
      clientSecret: config.genesys.clientSecret ?? '',
      dispatcher: http,
      clock,
      logger: genesysLog,
    })
    const rest = new GenesysRest({ apiUrl: config.genesys.apiUrl, auth, dispatcher: http, clock, logger: genesysLog })
    // Agents' display names for the dashboard's feed: cached like queue names, looked up in the
    // background (GET /api/v2/users/{id}), never on the path of a ring.
    const agentNames = new NameCache({
      fetch: (userId) => rest.getUser(userId),
      what: 'agent',
      clock,
      logger: logger.child({ component: 'agents' }),
    })
    const live = new LiveFeed({ clock, agentName: (userId) => agentNames.peek(userId) })
    // Only agents of the gateway's own organisation register: GENESYS_ORG_ID, or learned once (lazily)
    // with the client credentials. One retry at most: an agent waiting on a registration gets a quick
    // 503 + Retry-After rather than the sources' patient backoff.
    const orgRest = new GenesysRest({
      apiUrl: config.genesys.apiUrl,
      auth,
      dispatcher: http,
      clock,
      logger: genesysLog,
      maxRetries: 1,
    })
    const organization = new GatewayOrganization(
      config.genesys.orgId
        ? { fixedId: config.genesys.orgId, logger: genesysLog }
        : { lookup: () => orgRest.getOrganization(), logger: genesysLog },
    )
    const agents = new AgentDirectory({
      apiUrl: config.genesys.apiUrl,
      organization,
      dispatcher: http,
      clock,
      logger: genesysLog,
    })

    // Web Push endpoints come from users: each is checked before registration and before any connection.
    const webPushEndpoints = config.webpush
      ? new WebPushEndpointPolicy({
          allowedHosts: config.webpush.allowedHosts,
          sandboxHosts: options.webPushSandboxHosts ?? [],
        })
      : undefined

    // Suppressed, failed and expired pushes (admin audit query); provider configuration alarms.
    const audit = new AuditLog({
      maxEntries: config.audit.maxEntries,
      clock,
      logger: logger.child({ component: 'audit' }),
    })
    const alarms = new ProviderAlarms({ clock, logger: logger.child({ component: 'dispatch' }) })

    const presence =
      config.presence.filter === 'soft'
        ? new PresenceFilter({
            mode: 'soft',
            suppress: config.presence.suppress,
            lagMs: config.presence.lagMs,
            clock,
            logger: logger.child({ component: 'presence' }),
            fetch: (userId) => restPresenceFetcher(rest)(userId),
          })
        : undefined
    // Device receipts: which phones really ring (src/reach/). The optional actions run on the
    // instance whose store write changed an agent's state.
    const reachLog = logger.child({ component: 'reach' })
    const reachActions = new ReachActions({
      ...(config.reach.webhookUrl ? { webhookUrl: config.reach.webhookUrl } : {}),
      ...(config.reach.action === 'off-queue'
        ? { offQueue: (userId: string) => rest.setRoutingStatus(userId, 'OFF_QUEUE') }
        : {}),
      describe: (userId) => receipts.agent(userId),
      audit,
      clock,
      logger: reachLog,
    })
    const receipts: ReachTracker = new ReachTracker({
      store,
      clock,
      logger: reachLog,
      unreachableAfter: config.reach.unreachableAfter,
      ttlMs: config.reach.ttlMs,
      // A receipt can come as late as the ring's end plus a phone waking up; ten minutes covers it.
      deliveryTtlMs: config.ring.timeoutMs + 10 * 60_000,
      onChange: (change) => void reachActions.handle(change),
      onReceipt: (receipt) => {
        metrics.observeReceipt(receipt)
        live.observeReceipt(receipt)
        options.onReceipt?.(receipt)
      },
    })
    const queueNames = new NameCache({
      fetch: (queueId) => rest.getQueue(queueId),
      what: 'queue',
      clock,
      logger: logger.child({ component: 'queues' }),
    })
    // ── The pipeline, from the push end back ──
    // Providers: one per configured push service, each speaking its protocol behind PushProvider.
    const providers = createProviders(config, { clock, logger, ...(ca ? { ca } : {}), webPushEndpoints })
    // Dispatcher: each PushIntent becomes one message per device, sent through its provider.
    const dispatcher = new Dispatcher({
      providers,
      store,
      clock,
      logger: logger.child({ component: 'dispatch' }),
      payload: {
        apnsTopic: config.apns?.topic,
        apnsEnvironment: config.apns?.environment ?? 'production',
        redactCaller: config.payload.redactCaller,
      },
      alarms,
      maxInFlight: config.dispatch.maxInFlight,
      onOutcome: observeOutcome,
    })
    // Ring engine: each RoutingEvent becomes a ring, a cancel or nothing; its outbox hands the
    // resulting PushIntents to the dispatcher.
    const engine = new RingEngine({
      store,
      pushes: dispatcher,
      clock,
      logger: logger.child({ component: 'ring' }),
      ringTimeoutMs: config.ring.timeoutMs,
      dedupWindowMs: config.ring.dedupWindowMs,
      iosCallCancel: config.ring.iosCallCancel,
      ...(presence ? { presence } : {}),
      queueName: (queueId) => queueNames.peek(queueId),
      onRingEnded: (ring) =>
        void receipts
          .ringEnded(ring)
          .catch((err: unknown) =>
            reachLog.warn({ err, conversationId: ring.conversationId }, 'could not judge which phones received a ring'),
          ),
      onDecision: observeDecision,
    })

    const repeater =
      config.reach.ringRepeatMs > 0
        ? new RingRepeater({
            everyMs: config.reach.ringRepeatMs,
            store,
            clock,
            logger: reachLog,
            pushes: dispatcher,
            serialize: (k, work) => engine.serialize(k, work),
            received: (conversationId, token, participantId) => receipts.received(conversationId, token, participantId),
          })
        : undefined

    // Event intake: counts each RoutingEvent and hands it to the ring engine.
    const intakeGate = new IntakeGate(config.intake.maxInFlight)
    const intake = new EventIntake(engine, metrics, lifecycle, intakeGate, options.onEvent)
    // Several instances sharing a store: only the holder of the source lease runs the WebSocket source.
    const lease = await leaseForSource({
      eventSource: config.genesys.eventSource,
      storeLocation: parseStoreUrl(config.storeUrl, storeKeyPrefix),
      instanceId: config.instanceId,
      leaseTtlMs: config.scale.leaseTtlMs,
      registry: store,
      logger,
    })
    // Sources: GENESYS_EVENT_SOURCE picks the WebSocket source (or the webhook alone); the webhook
    // receiver (any instance, no lease) is served whenever WEBHOOK_SECRET is set.
    const sources = createEventSources({
      settings: {
        eventSource: config.genesys.eventSource,
        topics: config.genesys.topics,
        queueIds: config.genesys.queueIds,
        webhook: config.webhook !== undefined,
      },
      rest,
      store,
      events: lease ? lease.guard(intake) : intake,
      webhookEvents: intake,
      // PRESENCE_FILTER=soft: the source subscribes v2.users.{id}.presence and keeps the cache current.
      ...(presence ? { presence } : {}),
      intake: intakeGate,
      logger: logger.child({ component: 'source' }),
      clock,
      ...(ca ? { ca } : {}),
    })
    const source: EventSource = lease && sources.source.name !== 'webhook' ? lease.wrap(sources.source) : sources.source

    const api = await buildApi({
      logger,
      devices: {
        store,
        agents,
        clock,
        platforms: { ios: Boolean(config.apns), android: Boolean(config.fcm), web: Boolean(config.webpush) },
        defaultApnsEnvironment: config.apns?.environment ?? 'production',
        ...(webPushEndpoints ? { webPushEndpoint: (endpoint: string) => webPushEndpoints.check(endpoint) } : {}),
        onDevicesChanged: followRegistry,
        maxDevicesPerAgent: config.devices.maxPerAgent,
        onDeviceChange: (change) => {
          audit.recordDevice(change)
          metrics.observeDeviceChange(change)
        },
      },
      ...(sources.webhook && config.webhook
        ? { events: { webhook: sources.webhook, secret: config.webhook.secret } }
        : {}),
      operations: {
        adminToken: config.adminToken,
        instanceId: config.instanceId,
        live,
        metrics,
        unreachableAgents: () => receipts.unreachableAgents(),
      },
      answered: {
        store,
        agents,
        answered: async (a) => {
          // The answering phone received its ring, whether or not its app reported it.
          await receipts
            .answered(a)
            .catch((err: unknown) =>
              reachLog.warn({ err, conversationId: a.conversationId }, 'could not count an answer as a receipt'),
            )
          return engine.answeredOnDevice(a)
        },
      },
      received: { store, agents, receipts },
      admin: { ...(config.adminToken ? { adminToken: config.adminToken } : {}), audit, alarms, reachability: receipts },
      rateLimit: config.rateLimit,
      trustProxy: config.trustProxy,
      http: config.http,
      readiness: [
        // Fails as soon as stop() begins, so a load balancer drains this instance first.
        {
          name: 'shutdown',
          check: async () => ({ ok: !lifecycle.stopping, detail: lifecycle.stopping ? 'stopping' : 'running' }),
        },
        { name: 'store', check: () => storeReadiness(store) },
        { name: 'source', check: async () => sourceReadiness(source.status()) },
        // APNs 403 / FCM 401 / Web Push 401-403: credentials or settings are wrong (tokens are kept).
        { name: 'push', check: async () => alarms.readiness() },
      ],
    })

    /** Topics follow the registry: an agent is heard while it has at least one device. */
    async function followRegistry(userId: string, hasDevices?: boolean): Promise<void> {
      const any = hasDevices ?? (await store.listDevices(userId)).length > 0
      await (any ? source.addUser(userId) : source.removeUser(userId))
    }
    /** Every ring decision, before its pushes leave: reach bookkeeping, repeats, audit, metrics, live view. */
    function observeDecision(decision: RingDecision): void {
      // Before the push leaves: the phone's receipt may come back faster than the push service's answer.
      if (decision.kind !== 'suppressed') void receipts.pushing(decision.intent)
      if (decision.kind === 'ring') repeater?.ringing(decision.intent)
      audit.recordDecision(decision)
      metrics.observeDecision(decision)
      live.observeDecision(decision)
      options.onDecision?.(decision)
    }
    /** Every push's outcome: reach bookkeeping, audit, metrics, live view. */
    function observeOutcome(outcome: PushOutcome): void {
      if (outcome.result.kind === 'delivered' && outcome.provider)
        void receipts.accepted(outcome.intent, outcome.target.device.token, outcome.provider)
      audit.recordOutcome(outcome)
      metrics.observeOutcome(outcome)
      live.observeOutcome(outcome)
      options.onOutcome?.(outcome)
    }

    metrics.watch({
      source: () => source.status(),
      storeKind: store.kind,
      pingStore: () => store.ping(),
      countDevices: () => store.countDevices(),
      inFlight: () => dispatcher.pending,
      waitingForSlot: () => dispatcher.slotUse.queued,
      intake: () => ({ deciding: intakeGate.inFlight, pauses: intakeGate.pauses }),
      unreachableAgents: () => receipts.unreachableCount(),
    })
    lifecycle.repeater = repeater
    return new Gateway(
      config,
      logger,
      store,
      engine,
      dispatcher,
      source,
      api,
      providerList(providers),
      metrics,
      live,
      lifecycle,
    )
  }

  /** Starts listening for agents and Genesys. Resolves with the API's base URL. */
  async start(): Promise<string> {
    const url = await this.api.listen({ port: this.config.port, host: this.config.host }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
        throw new PortInUseError(this.config.port, this.config.host)
      throw err
    })
    this.engine.start()
    // Providers connect and fetch credentials while the source connects: the first ring does not
    // pay for TLS handshakes and the OAuth token. warm() never throws.
    await Promise.all([this.source.start(), ...this.providers.map((p) => p.warm?.())])
    this.logger.info({ url, source: this.source.name, store: this.store.kind }, 'gateway started')
    return url
  }

  /** Stops taking events, lets in-flight pushes finish (bounded), then closes everything, within SHUTDOWN_BOUND_MS. */
  stop(graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
    // SIGTERM and a second caller (a test's after()) share one shutdown.
    this.lifecycle.stopped ??= this.shutdown(graceMs)
    return this.lifecycle.stopped
  }

  private async shutdown(graceMs: number): Promise<void> {
    const started = performance.now()
    this.lifecycle.stopping = true
    // Every step is bounded: a store or a Genesys host that never answered (a wrong STORE_URL, a
    // connection still being attempted) must not hold the stop past what the orchestrator allows.
    const step = (name: string, work: () => Promise<unknown>, ms: number) =>
      bounded(work, ms, () => this.logger.warn({ step: name, ms }, 'shutdown step did not finish in time; going on'))
    // 1. Stop taking events: the source closes its sockets and (under a lease) releases the lease.
    await step('source', () => this.source.stop(), SHUTDOWN_STEP_MS)
    this.engine.stop()
    this.lifecycle.repeater?.stop()
    // 2. Let decisions under way and pushes in flight finish (and be marked sent, so no other
    //    instance sends them again), within the grace period.
    const deadline = started + graceMs
    while (
      (this.lifecycle.handling.size > 0 || this.dispatcher.pending > 0 || this.engine.pending > 0) &&
      performance.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 10))
    }
    const abandoned = this.dispatcher.pending
    // 3. Close connections: HTTP (open dashboard streams are ended), then push services and the store.
    await step('http', () => this.api.close(), SHUTDOWN_STEP_MS)
    await Promise.all([
      step('push services', () => Promise.all(this.providers.map((p) => p.close())), SHUTDOWN_STEP_MS),
      step('store', () => this.store.close(), SHUTDOWN_STEP_MS),
    ])
    this.logger.info({ ms: Math.round(performance.now() - started), abandonedPushes: abandoned }, 'gateway stopped')
  }
}

/** Pushes in flight get this long to finish after SIGTERM. */
export const SHUTDOWN_GRACE_MS = 5_000
const SHUTDOWN_STEP_MS = 1_500
/**
 * The longest a stop takes, in every state (before, while and after connecting): the grace, then
 * closing HTTP and, together, the push services and the store. README "Shutdown" documents it;
 * Kubernetes' default termination grace (30 s) and the manifest's 20 s are above it.
 */
export const SHUTDOWN_BOUND_MS = SHUTDOWN_GRACE_MS + 2 * SHUTDOWN_STEP_MS

/** Runs `work`, but resolves after `ms` at the latest (calling `onLate` then); a failure of `work` is rethrown. */
async function bounded(work: () => Promise<unknown>, ms: number, onLate: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms)
  })
  try {
    if ((await Promise.race([work(), late])) === 'late') onLate()
  } finally {
    clearTimeout(timer)
  }
}

/** PORT is taken by another process: the CLI prints this one line and exits 2 (a configuration error). */
export class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE'
  constructor(
    readonly port: number,
    readonly host: string,
  ) {
    super(`PORT: ${port} is already in use on ${host}: stop the process listening there or set PORT to a free port`)
    this.name = 'PortInUseError'
  }
}

/**
 * The first stage after the sources: each RoutingEvent is counted, shown to the observers, then
 * handed to the ring engine; its handling is tracked so that stop() lets decisions already under
 * way finish before closing the store.
 */
class EventIntake implements RoutingEventSink {
  constructor(
    private readonly engine: RingEngine,
    private readonly metrics: GatewayMetrics,
    private readonly lifecycle: Lifecycle,
    private readonly gate: IntakeGate,
    private readonly observe?: (event: RoutingEvent) => void,
  ) {}

  handle(event: RoutingEvent): void {
    this.metrics.observeEvent(event)
    this.observe?.(event)
    const handled = this.engine.handle(event)
    this.gate.taken()
    this.lifecycle.handling.add(handled)
    void handled.finally(() => {
      this.lifecycle.handling.delete(handled)
      this.gate.decided()
    })
  }
}

interface Lifecycle {
  stopping: boolean
  /** Event handlings (ring decisions) under way. */
  handling: Set<Promise<void>>
  stopped?: Promise<void>
  repeater?: RingRepeater
}
