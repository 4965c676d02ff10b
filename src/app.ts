// The composition root: builds every part of the gateway from a validated Config and wires the
// data flow sources → ring engine → dispatcher → providers. Nothing else reads configuration.
import type { FastifyInstance } from 'fastify'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import { buildApi } from './api/server.js'
import { Dispatcher, type PushOutcome } from './dispatch/dispatcher.js'
import { AgentDirectory, ClientCredentialsAuth, GenesysRest, createDispatcher } from './genesys/index.js'
import type { Logger } from './observability/logger.js'
import { createApnsProvider } from './providers/apns.js'
import { createFcmProvider } from './providers/fcm.js'
import type { ProviderName, PushProvider } from './providers/provider.js'
import { RingEngine, type RingDecision } from './ring/engine.js'
import { NotificationsSource } from './sources/notifications.js'
import type { EventSource } from './sources/source.js'
import type { RoutingEvent } from './model.js'
import { openStore } from './store/open.js'
import type { Store } from './store/store.js'

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
  /** Redis key prefix, so tests and benchmarks can share one Redis without colliding; the store's default otherwise. */
  storeKeyPrefix?: string
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
  ) {}

  static async create(o: GatewayOptions): Promise<Gateway> {
    const { config, logger } = o
    const clock = o.clock ?? systemClock
    const store = await openStore(config.storeUrl, { clock, logger: logger.child({ component: 'store' }), ...(o.storeKeyPrefix ? { keyPrefix: o.storeKeyPrefix } : {}) })

    const providers: Partial<Record<ProviderName, PushProvider>> = {}
    if (config.apns) {
      providers.apns = createApnsProvider({
        key: { keyId: config.apns.keyId, teamId: config.apns.teamId, privateKeyPem: config.apns.keyPem },
        clock,
        logger: logger.child({ component: 'apns' }),
        ...(config.apns.url ? { url: config.apns.url } : {}),
        ...(o.ca ? { ca: o.ca } : {}),
      }) as PushProvider
    }
    if (config.fcm) {
      providers.fcm = createFcmProvider({
        serviceAccount: config.fcm.serviceAccount,
        url: config.fcm.url,
        clock,
        logger: logger.child({ component: 'fcm' }),
        ...(o.ca ? { ca: o.ca } : {}),
      }) as PushProvider
    }

    const dispatcher = new Dispatcher({
      providers,
      store,
      clock,
      logger: logger.child({ component: 'dispatch' }),
      payload: { apnsTopic: config.apns?.topic, apnsEnvironment: config.apns?.environment ?? 'production', redactCaller: config.payload.redactCaller },
      ...(o.onOutcome ? { onOutcome: o.onOutcome } : {}),
    })
    const engine = new RingEngine({
      store,
      dispatch: (intent) => dispatcher.dispatch(intent),
      clock,
      logger: logger.child({ component: 'ring' }),
      ringTimeoutMs: config.ring.timeoutMs,
      dedupWindowMs: config.ring.dedupWindowMs,
      ...(o.onDecision ? { onDecision: o.onDecision } : {}),
    })

    const http = createDispatcher(o.ca)
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
    const agents = new AgentDirectory({ apiUrl: config.genesys.apiUrl, dispatcher: http, clock, logger: genesysLog })

    const onEvent = (event: RoutingEvent): void => {
      o.onEvent?.(event)
      void engine.handle(event)
    }
    const source: EventSource = new NotificationsSource({
      rest,
      listUserIds: () => store.listUserIds(),
      onEvent,
      logger: logger.child({ component: 'source' }),
      clock,
      ...(o.ca ? { wsOptions: { ca: o.ca } } : {}),
    })

    const api = await buildApi({
      logger,
      devices: {
        store,
        agents,
        clock,
        platforms: { ios: Boolean(config.apns), android: Boolean(config.fcm), web: false },
        defaultApnsEnvironment: config.apns?.environment ?? 'production',
        // Topics follow the registry: an agent is heard while it has at least one device.
        onDevicesChanged: async (userId) => {
          const remaining = await store.listDevices(userId)
          await (remaining.length > 0 ? source.addUser(userId) : source.removeUser(userId))
        },
      },
      readiness: [
        { name: 'store', check: async () => (await store.ping(), { ok: true }) },
        { name: 'source', check: async () => ({ ok: source.status().connected, detail: `${source.name}: ${source.status().connected ? 'connected' : 'not connected'}` }) },
      ],
    })

    return new Gateway(config, logger, store, engine, dispatcher, source, api, Object.values(providers))
  }

  /** Starts listening for agents and Genesys. Resolves with the API's base URL. */
  async start(): Promise<string> {
    const url = await this.api.listen({ port: this.config.port, host: this.config.host })
    this.engine.start()
    await this.source.start()
    this.logger.info({ url, source: this.source.name, store: this.store.kind }, 'gateway started')
    return url
  }

  /** Stops taking events, lets in-flight pushes finish (bounded), then closes everything. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.source.stop()
    this.engine.stop()
    const deadline = Date.now() + graceMs
    while (this.dispatcher.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    await this.api.close()
    await Promise.all(this.providers.map((p) => p.close()))
    await this.store.close()
  }
}
