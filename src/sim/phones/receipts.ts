// The agent app's device receipts, as README "For app developers" tells a real app to send them:
// every ring or cancel that reaches the app's code is reported to the gateway with
// POST /api/v1/agent/received/{conversationId} {token, action, participantId}. A push that never
// reaches app code (lost on the way, an alert shown by iOS to a backgrounded app without
// content-available) is never reported, exactly as on a real phone.
import type { AppDelivery, SimulatedPhone } from './phone.js'

export interface ReceiptReporterOptions {
  /** The gateway's base URL. */
  gateway: string
  /** The agent's Genesys access token, as the app holds it. */
  accessToken: string
  /** The app's own work before it reports (waking the radio, its handler): default none. */
  reportDelayMs?: number
}

export interface ReceiptReport {
  conversationId: string
  action: string
  token: string
  /** Epoch ms when the push reached the app's code. */
  reachedAt: number
  /** HTTP status of the report; 0 when it could not be sent. */
  status: number
}

export class ReceiptReporter {
  readonly reports: ReceiptReport[] = []
  private readonly pending = new Set<Promise<void>>()
  private readonly detach: () => void
  private readonly listeners = new Set<(report: ReceiptReport) => void>()

  constructor(
    readonly phone: SimulatedPhone,
    private readonly options: ReceiptReporterOptions,
  ) {
    this.detach = phone.onAppCode((delivery) => this.reached(delivery))
  }

  /** Called with every report once the gateway answered it. */
  onReport(listener: (report: ReceiptReport) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Stops reporting; resolves when reports already under way are answered. */
  async stop(): Promise<void> {
    this.detach()
    await Promise.all([...this.pending])
  }

  private reached(delivery: AppDelivery): void {
    const { keys } = delivery
    const conversationId = keys.genesys_conversation_id
    const action = keys.action
    if (typeof conversationId !== 'string' || (action !== 'ring' && action !== 'cancel_ring')) return
    const participantId = typeof keys.genesys_participant_id === 'string' ? keys.genesys_participant_id : undefined
    const work = this.report(delivery, conversationId, action, participantId)
    this.pending.add(work)
    void work.finally(() => this.pending.delete(work))
  }

  private async report(
    delivery: AppDelivery,
    conversationId: string,
    action: string,
    participantId: string | undefined,
  ): Promise<void> {
    if (this.options.reportDelayMs) await new Promise((resolve) => setTimeout(resolve, this.options.reportDelayMs))
    let status = 0
    try {
      const res = await fetch(`${this.options.gateway}/api/v1/agent/received/${encodeURIComponent(conversationId)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ token: delivery.token, action, ...(participantId ? { participantId } : {}) }),
      })
      status = res.status
      await res.body?.cancel()
    } catch {
      // No network: the app would try again later; the simulated one records the failure.
    }
    const report: ReceiptReport = { conversationId, action, token: delivery.token, reachedAt: delivery.at, status }
    this.reports.push(report)
    for (const listener of this.listeners) listener(report)
  }
}
