// What the Genesys Cloud Amazon EventBridge integration would put on a partner event bus for the
// simulator's conversations: the conversation topics (v2.users.{id}.conversations,
// v2.routing.queues.{id}.conversations, the snapshot on every change) and the analytics detail
// events of v2.detail.events.conversation.{id}.* (detail-events.ts), each in the EventBridge
// envelope {version, id, detail-type, source, account, time, region, resources, detail: {topicName,
// version, eventBody, metadata, timestamp}}. deliverTo() plays an API destination: it POSTs every
// event, in order, to one loopback URL (the gateway's webhook in tests and the demo).
import { randomUUID } from 'node:crypto'
import type { Clock } from '../../clock.js'
import type { Logger } from '../../observability/logger.js'
import type { SimConversation } from './conversations.js'
import { DetailEventTracker } from './detail-events.js'
import { iso } from './http.js'

export interface EventBridgeEvent {
  version: '0'
  id: string
  'detail-type': string
  source: string
  account: string
  time: string
  region: string
  resources: string[]
  detail: {
    topicName: string
    version: string
    eventBody: Record<string, unknown>
    metadata: { CorrelationId: string }
    timestamp: string
  }
}

export interface EventBridgeTarget {
  /** An http(s) URL on loopback: the simulator never sends anywhere else. */
  url: string
  headers?: Record<string, string>
  /** Which topics the integration's rule lets through (Genesys: the topic list of the integration). */
  topics?: (topicName: string) => boolean
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

export class EventBridgeBus {
  private readonly tracker = new DetailEventTracker()
  private readonly listeners = new Set<(event: EventBridgeEvent) => void>()
  private delivering: Promise<void> = Promise.resolve()
  /** Events a target answered with a status other than 2xx, or could not be sent. */
  failures = 0
  readonly source: string

  constructor(private readonly options: { clock: Clock; logger: Logger; orgId: string }) {
    this.source = `aws.partner/genesys.com/cloud/${options.orgId}/push-gateway`
  }

  /** True once someone listens: until then the simulator spends nothing on EventBridge. */
  get active(): boolean {
    return this.listeners.size > 0
  }

  /** Every event the bus produces, whatever the target's topic filter. */
  subscribe(listener: (event: EventBridgeEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** POSTs every event (that `topics` lets through) to `target.url`, one after another. */
  deliverTo(target: EventBridgeTarget): () => void {
    const url = new URL(target.url)
    if (!LOOPBACK_HOSTS.has(url.hostname))
      throw new Error(`the simulator delivers EventBridge events to loopback only, not ${url.hostname}`)
    return this.subscribe((event) => {
      if (target.topics && !target.topics(event.detail.topicName)) return
      this.delivering = this.delivering.then(() => this.post(target, event))
    })
  }

  /** Resolves when every event handed to a target so far has been answered. */
  drained(): Promise<void> {
    return this.delivering
  }

  onConversation(conv: SimConversation, snapshot: Record<string, unknown>): void {
    if (!this.active) return
    const users = new Set<string>()
    const queues = new Set<string>()
    for (const p of conv.participants) {
      if (p.userId) users.add(p.userId)
      if (p.queueId) queues.add(p.queueId)
    }
    for (const id of users) this.emit(`v2.users.${id}.conversations`, snapshot)
    for (const id of queues) this.emit(`v2.routing.queues.${id}.conversations`, snapshot)
    for (const { kind, body } of this.tracker.changes(conv))
      this.emit(`v2.detail.events.conversation.${conv.id}.${kind}`, body)
  }

  /** A conversation the simulator forgot (benchmarks) is forgotten here too. */
  forget(conversationId: string): void {
    this.tracker.forget(conversationId)
  }

  private emit(topicName: string, eventBody: Record<string, unknown>): void {
    const now = iso(this.options.clock.now())
    const event: EventBridgeEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': topicName,
      source: this.source,
      account: '123456789012',
      time: now.replace(/\.\d{3}Z$/, 'Z'),
      region: 'eu-west-1',
      resources: [],
      detail: { topicName, version: '2', eventBody, metadata: { CorrelationId: randomUUID() }, timestamp: now },
    }
    for (const l of this.listeners) l(event)
  }

  private async post(target: EventBridgeTarget, event: EventBridgeEvent): Promise<void> {
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body: JSON.stringify(event),
      })
      await res.arrayBuffer()
      if (res.status < 200 || res.status >= 300) {
        this.failures++
        this.options.logger.warn(
          { status: res.status, topicName: event.detail.topicName },
          'genesys sim: EventBridge target refused an event',
        )
      }
    } catch (err) {
      this.failures++
      this.options.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'genesys sim: EventBridge target unreachable',
      )
    }
  }
}
