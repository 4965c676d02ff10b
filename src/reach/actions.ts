// What the gateway does when an agent becomes unreachable (or reachable again), besides showing it:
// both actions are off unless configured, and each one taken is audited.
//   UNREACHABLE_WEBHOOK_URL   POST a JSON notice (agent.unreachable / agent.reachable)
//   UNREACHABLE_ACTION=off-queue   PUT /api/v2/users/{userId}/routingstatus {status: OFF_QUEUE}, so
//                             Genesys stops routing to an agent whose phone does not ring; the agent
//                             (or a supervisor) goes back on queue, never the gateway.
// Only the instance whose store write changed the state calls handle(): one notice per change.
import type { Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import type { AuditEntry } from '../ring/audit.js'
import type { AgentView, ReachChange } from './tracker.js'

export interface ReachActionsOptions {
  /** UNREACHABLE_WEBHOOK_URL, validated at start (config.ts). Its path may hold a secret: never logged. */
  webhookUrl?: string
  /** UNREACHABLE_ACTION=off-queue: sets the agent's routing status to OFF_QUEUE. */
  offQueue?: (userId: string) => Promise<void>
  /** The agent as the admin view shows it (token prefixes only), for the notice. */
  describe: (userId: string) => Promise<AgentView | undefined>
  audit: { record(entry: Omit<AuditEntry, 'at'>): void }
  clock: Clock
  logger: Logger
  /** Per webhook attempt. */
  timeoutMs?: number
}

export type ReachNoticeEvent = 'agent.unreachable' | 'agent.reachable'

export interface ReachNotice {
  event: ReachNoticeEvent
  at: string
  previousState: string
  agent: AgentView | { userId: string }
}

export class ReachActions {
  constructor(private readonly options: ReachActionsOptions) {}

  get enabled(): boolean {
    return this.options.webhookUrl !== undefined || this.options.offQueue !== undefined
  }

  async handle(change: ReachChange): Promise<void> {
    const event: ReachNoticeEvent | undefined =
      change.to === 'unreachable'
        ? 'agent.unreachable'
        : change.from === 'unreachable' && change.to === 'reachable'
          ? 'agent.reachable'
          : undefined
    if (event === undefined || !this.enabled) return
    const tasks: Array<Promise<void>> = []
    if (this.options.webhookUrl !== undefined) tasks.push(this.notify(this.options.webhookUrl, event, change))
    if (event === 'agent.unreachable' && this.options.offQueue)
      tasks.push(this.takeOffQueue(this.options.offQueue, change.userId))
    await Promise.all(tasks)
  }

  private async notify(url: string, event: ReachNoticeEvent, change: ReachChange): Promise<void> {
    const { logger, audit, clock } = this.options
    const notice: ReachNotice = {
      event,
      at: new Date(change.at).toISOString(),
      previousState: change.from,
      agent: (await this.options.describe(change.userId).catch(() => undefined)) ?? { userId: change.userId },
    }
    const started = clock.now()
    let reason: string
    try {
      // No redirects: the operator named this address, not whoever answers there.
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'genesys-push-gateway' },
        body: JSON.stringify(notice),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000),
      })
      await res.body?.cancel()
      reason = res.ok
        ? `webhook ${event} delivered (HTTP ${res.status})`
        : `webhook ${event} refused (HTTP ${res.status})`
    } catch (err) {
      // The error names the address; only its kind is kept.
      reason = `webhook ${event} failed: ${err instanceof Error ? (err.name === 'TimeoutError' ? 'timed out' : err.name) : 'error'}`
    }
    audit.record({ kind: 'reachability', userId: change.userId, reason })
    logger.info({ userId: change.userId, event, ms: clock.now() - started }, reason)
  }

  private async takeOffQueue(offQueue: (userId: string) => Promise<void>, userId: string): Promise<void> {
    let reason: string
    try {
      await offQueue(userId)
      reason = 'routing status set to OFF_QUEUE (every phone missed its rings)'
    } catch (err) {
      const code = (err as { code?: unknown }).code
      reason = `could not set routing status to OFF_QUEUE: ${typeof code === 'string' ? code : err instanceof Error ? err.message : 'error'}`
    }
    this.options.audit.record({ kind: 'reachability', userId, reason })
  }
}
