// Prometheus metrics for one Gateway. Each Gateway owns its Registry (never prom-client's global
// default), so two gateways in one process (tests, benchmarks) keep separate counts.
// Naming follows https://prometheus.io/docs/practices/naming/: a `push_gateway_` prefix, base units
// (`_seconds`), `_total` on counters, and labels for dimensions (never a label value in a name).
// Counters move from the gateway's observers (onEvent, onDecision, onOutcome); state (devices,
// source, lease, store) is read when Prometheus scrapes, through collect().
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Clock } from '../clock.js'
import type { DeviceChange, RoutingEvent } from '../model.js'
import type { PushOutcome, RingDecision, SourceStatus } from '../outcomes.js'

/** What the scrape-time gauges read. Bound after the Gateway's parts exist (see watch()). */
export interface MetricsProbes {
  source: () => SourceStatus
  storeKind: string
  pingStore: () => Promise<void>
  countDevices: () => Promise<{ total: number; byPlatform: Record<string, number> }>
  inFlight: () => number
  /** Pushes waiting for one of the PUSH_MAX_IN_FLIGHT slots. */
  waitingForSlot?: () => number
  /** Events being decided, and how often the Notifications sockets were paused for it (EVENTS_MAX_IN_FLIGHT). */
  intake?: () => { deciding: number; pauses: number }
  /** Agents whose phones missed UNREACHABLE_AFTER rings in a row (device receipts); shared by every instance. */
  unreachableAgents?: () => Promise<number>
}

export interface GatewayMetricsOptions {
  instanceId: string
  clock: Clock
  /** Store reads (device counts, ping) are cached this long so frequent scrapes cost the store little. */
  storeCacheMs?: number
  /** Node's process metrics (CPU, memory, event-loop lag, GC); default on. */
  processMetrics?: boolean
}

// Latency buckets in seconds: a ring is meant to reach the push service within tens of milliseconds;
// the tail up to 10 s shows retries and outages.
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
// From the push service to the app on the phone: usually well under a second, seconds for a phone
// waking from Doze, up to the ring's end for a phone that got it late.
const RECEIPT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]

export class GatewayMetrics {
  readonly registry = new Registry()
  private probes: MetricsProbes | undefined
  private storeRead: { at: number; value: Promise<StoreSnapshot> } | undefined
  private readonly seen = { reconnects: 0, rejectedFrames: 0, intakePauses: 0 }

  private readonly events: Counter<'source' | 'kind'>
  private readonly rings: Counter<'media_type'>
  private readonly cancels: Counter<'reason'>
  private readonly suppressed: Counter<'reason'>
  private readonly pushes: Counter<'provider' | 'action' | 'outcome'>
  private readonly pruned: Counter<'provider'>
  private readonly deviceChanges: Counter<'change'>
  private readonly eventToPush: Histogram<'provider' | 'action'>
  private readonly serviceResponse: Histogram<'provider' | 'outcome'>
  private readonly receipts: Histogram<'provider' | 'action'>

  constructor(private readonly options: GatewayMetricsOptions) {
    const registers = [this.registry]
    this.registry.setDefaultLabels({ instance_id: options.instanceId })
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry })

    this.events = new Counter({
      name: 'push_gateway_events_received_total',
      help: 'Routing events received from Genesys Cloud, by source and kind (offer, answered, ended).',
      labelNames: ['source', 'kind'],
      registers,
    })
    this.rings = new Counter({
      name: 'push_gateway_rings_total',
      help: 'Rings started (first offer of a conversation to an agent participant).',
      labelNames: ['media_type'],
      registers,
    })
    this.cancels = new Counter({
      name: 'push_gateway_cancels_total',
      help: 'Rings cancelled on the devices that rang, by reason.',
      labelNames: ['reason'],
      registers,
    })
    this.suppressed = new Counter({
      name: 'push_gateway_suppressed_total',
      help: 'Events that did not ring or cancel, by reason.',
      labelNames: ['reason'],
      registers,
    })
    this.pushes = new Counter({
      name: 'push_gateway_pushes_total',
      help: 'Pushes finished, by provider, action (ring, cancel) and outcome (delivered, invalid-token, failed, expired, skipped).',
      labelNames: ['provider', 'action', 'outcome'],
      registers,
    })
    this.deviceChanges = new Counter({
      name: 'push_gateway_device_changes_total',
      help: 'Devices taken from an agent: evicted past MAX_DEVICES_PER_AGENT, or moved to another agent who registered the same token.',
      labelNames: ['change'],
      registers,
    })
    this.pruned = new Counter({
      name: 'push_gateway_tokens_pruned_total',
      help: 'Device tokens removed after the push service said they are dead.',
      labelNames: ['provider'],
      registers,
    })
    this.eventToPush = new Histogram({
      name: 'push_gateway_event_to_push_seconds',
      help: 'From the gateway receiving the Genesys event to the push service accepting the push.',
      labelNames: ['provider', 'action'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.serviceResponse = new Histogram({
      name: 'push_gateway_push_service_response_seconds',
      help: 'Push service response time of pushes answered at the first attempt.',
      labelNames: ['provider', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    })

    this.receipts = new Histogram({
      name: 'push_gateway_device_receipt_seconds',
      help: 'From the push service accepting a push to the app on the device reporting it (device receipts), by provider and action (ring, cancel_ring).',
      labelNames: ['provider', 'action'],
      buckets: RECEIPT_BUCKETS,
      registers,
    })

    // collect() runs with `this` bound to the metric, so the gateway's state is reached through closures.
    const probes = (): MetricsProbes | undefined => this.probes
    const snapshot = (): Promise<StoreSnapshot> => this.storeSnapshot()
    const seen = this.seen
    new Gauge({
      name: 'push_gateway_info',
      help: 'Always 1; labels name this instance.',
      registers,
      collect() {
        this.set(1)
      },
    })
    new Gauge({
      name: 'push_gateway_devices',
      help: 'Registered devices by platform.',
      labelNames: ['platform'],
      registers,
      async collect() {
        const s = await snapshot()
        if (!s.devices) return
        for (const platform of ['ios', 'android', 'web', ...Object.keys(s.devices)])
          this.set({ platform }, s.devices[platform] ?? 0)
      },
    })
    new Gauge({
      name: 'push_gateway_store_up',
      help: '1 when the store answered its last ping, else 0.',
      labelNames: ['store'],
      registers,
      async collect() {
        if (!probes()) return
        this.set({ store: probes()?.storeKind ?? 'unknown' }, (await snapshot()).up ? 1 : 0)
      },
    })
    new Gauge({
      name: 'push_gateway_source_connected',
      help: '1 when the event source can hear Genesys Cloud (every channel socket open).',
      labelNames: ['source'],
      registers,
      collect() {
        const s = probes()?.source()
        if (s) this.set({ source: s.name }, s.connected ? 1 : 0)
      },
    })
    new Gauge({
      name: 'push_gateway_source_channels',
      help: 'Notifications channels in use.',
      registers,
      collect() {
        this.set(probes()?.source().channels ?? 0)
      },
    })
    new Gauge({
      name: 'push_gateway_source_topics',
      help: 'Topics subscribed.',
      registers,
      collect() {
        this.set(probes()?.source().topics ?? 0)
      },
    })
    new Counter({
      name: 'push_gateway_source_reconnects_total',
      help: 'Event-source reconnections (socket drops, channel renewals).',
      labelNames: ['source'],
      registers,
      collect() {
        const s = probes()?.source()
        if (!s) return
        // The source counts; the counter follows it by its increase since the last scrape.
        if (s.reconnects > seen.reconnects) this.inc({ source: s.name }, s.reconnects - seen.reconnects)
        else this.inc({ source: s.name }, 0)
        seen.reconnects = Math.max(seen.reconnects, s.reconnects)
      },
    })
    new Counter({
      name: 'push_gateway_source_rejected_frames_total',
      help: 'Frames from Genesys that were not understood.',
      registers,
      collect() {
        const n = probes()?.source().rejectedFrames ?? 0
        if (n > seen.rejectedFrames) this.inc(n - seen.rejectedFrames)
        seen.rejectedFrames = Math.max(seen.rejectedFrames, n)
      },
    })
    new Gauge({
      name: 'push_gateway_lease_holder',
      help: '1 when this instance holds the event-source lease (or runs without one), else 0.',
      registers,
      collect() {
        const s = probes()?.source()
        if (s) this.set(s.lease ? (s.lease.holder ? 1 : 0) : 1)
      },
    })
    new Gauge({
      name: 'push_gateway_unreachable_agents',
      help: 'Agents whose every reporting phone missed UNREACHABLE_AFTER rings in a row (from the shared store: every instance reports the same number).',
      registers,
      async collect() {
        const count = probes()?.unreachableAgents
        if (!count) return
        try {
          this.set(await count())
        } catch {
          // The store is down: the last value stays, as with the device counts.
        }
      },
    })
    new Gauge({
      name: 'push_gateway_events_in_flight',
      help: 'Events taken from the sources and not yet decided (EVENTS_MAX_IN_FLIGHT bounds it for the Notifications sockets).',
      registers,
      collect() {
        this.set(probes()?.intake?.().deciding ?? 0)
      },
    })
    new Counter({
      name: 'push_gateway_intake_pauses_total',
      help: 'Times a Notifications socket stopped being read because EVENTS_MAX_IN_FLIGHT events were being decided: the gateway was behind, and Genesys held the frames meanwhile.',
      registers,
      collect() {
        const n = probes()?.intake?.().pauses ?? 0
        if (n > seen.intakePauses) this.inc(n - seen.intakePauses)
        seen.intakePauses = Math.max(seen.intakePauses, n)
      },
    })
    new Gauge({
      name: 'push_gateway_pushes_in_flight',
      help: 'Pushes being sent or retried right now.',
      registers,
      collect() {
        this.set(probes()?.inFlight() ?? 0)
      },
    })
    new Gauge({
      name: 'push_gateway_pushes_waiting',
      help: 'Pushes waiting for a free request slot (PUSH_MAX_IN_FLIGHT all taken); above 0 for long, raise the limit or add instances.',
      registers,
      collect() {
        this.set(probes()?.waitingForSlot?.() ?? 0)
      },
    })
  }

  /** Connects the scrape-time gauges to the gateway's parts. */
  watch(probes: MetricsProbes): void {
    this.probes = probes
  }

  observeEvent(event: RoutingEvent): void {
    this.events.inc({ source: event.source, kind: event.kind })
  }

  observeDecision(d: RingDecision): void {
    if (d.kind === 'ring') this.rings.inc({ media_type: d.intent.ring.mediaType })
    else if (d.kind === 'cancel') this.cancels.inc({ reason: d.intent.reason ?? 'unknown' })
    else this.suppressed.inc({ reason: d.reason })
  }

  observeDeviceChange(change: DeviceChange): void {
    this.deviceChanges.inc({ change: change.kind })
  }

  observeOutcome(outcome: PushOutcome): void {
    const provider = outcome.provider ?? 'none'
    const action = outcome.intent.action
    const kind = outcome.result.kind
    this.pushes.inc({ provider, action, outcome: kind })
    if (outcome.pruned) this.pruned.inc({ provider })
    const received = outcome.intent.cause?.receivedAtHr
    if (kind === 'delivered' && received !== undefined)
      this.eventToPush.observe({ provider, action }, (outcome.answeredAtHr - received) / 1000)
    // Only single-attempt answers: a retried push's time includes our own back-off, not the service's.
    if (outcome.sentAtHr !== undefined && outcome.attempts === 1)
      this.serviceResponse.observe({ provider, outcome: kind }, (outcome.answeredAtHr - outcome.sentAtHr) / 1000)
  }

  /** A device receipt counted (not a repeat); without a latency (no acceptance time known) nothing is observed. */
  observeReceipt(r: { action: string; provider?: string; latencyMs?: number }): void {
    if (r.latencyMs !== undefined)
      this.receipts.observe({ provider: r.provider ?? 'none', action: r.action }, r.latencyMs / 1000)
  }

  /** What the dashboard shows about the gateway's parts right now. */
  async snapshot(): Promise<{
    source?: SourceStatus
    store: { kind: string; up: boolean }
    devices: Record<string, number>
    totalDevices: number
    inFlight: number
  }> {
    const p = this.probes
    const store = await this.storeSnapshot()
    return {
      ...(p ? { source: p.source() } : {}),
      store: { kind: p?.storeKind ?? 'unknown', up: store.up },
      devices: store.devices ?? {},
      totalDevices: store.total ?? 0,
      inFlight: p?.inFlight() ?? 0,
    }
  }

  /** The text Prometheus scrapes. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  /** Device counts and store health, read at most once per cache period (shared by concurrent scrapes). */
  storeSnapshot(): Promise<StoreSnapshot> {
    const now = this.options.clock.now()
    const cacheMs = this.options.storeCacheMs ?? 1_000
    if (this.storeRead && now - this.storeRead.at < cacheMs) return this.storeRead.value
    const previous = this.storeRead?.value
    const value = this.readStore(previous)
    this.storeRead = { at: now, value }
    return value
  }

  private async readStore(previous: Promise<StoreSnapshot> | undefined): Promise<StoreSnapshot> {
    const probes = this.probes
    if (!probes) return { up: false }
    try {
      await probes.pingStore()
      const counts = await probes.countDevices()
      return { up: true, devices: counts.byPlatform, total: counts.total }
    } catch {
      // Keep the last known device counts: a store outage says nothing about how many devices exist.
      const last = previous ? await previous.catch(() => undefined) : undefined
      return { up: false, ...(last?.devices ? { devices: last.devices, total: last.total ?? 0 } : {}) }
    }
  }
}

export interface StoreSnapshot {
  up: boolean
  devices?: Record<string, number>
  total?: number
}
