// Configuration alarms: an answer that says our credentials or settings are wrong (APNs 403,
// FCM 401 THIRD_PARTY_AUTH_ERROR or a refused service-account key, Web Push 401/403). No token is
// at fault, so none is deleted (docs/PLATFORMS.md); instead the alarm is logged once, exposed to metrics
// through `onChange`, and turns readiness red until the same provider delivers again.
import type { Clock } from '../clock.js'
import type { Logger } from '../observability/logger.js'
import type { ProviderName } from '../providers/provider.js'

export interface ProviderAlarm {
  provider: ProviderName
  reason: string
  /** Epoch ms of the first failure since the provider last delivered. */
  since: number
  /** Pushes that failed for this reason since then. */
  count: number
}

export class ProviderAlarms {
  private readonly alarms = new Map<ProviderName, ProviderAlarm>()

  constructor(
    private readonly options: {
      clock: Clock
      logger: Logger
      onChange?: (provider: ProviderName, alarm: ProviderAlarm | undefined) => void
    },
  ) {}

  raise(provider: ProviderName, reason: string): void {
    const current = this.alarms.get(provider)
    if (current) {
      current.count++
      current.reason = reason
      return
    }
    const alarm: ProviderAlarm = { provider, reason, since: this.options.clock.now(), count: 1 }
    this.alarms.set(provider, alarm)
    this.options.logger.error(
      { provider, reason, alarm: 'provider-configuration' },
      `${provider}: configuration alarm raised; device tokens are kept`,
    )
    this.options.onChange?.(provider, alarm)
  }

  /** A delivery through `provider` proves its credentials work again. */
  clear(provider: ProviderName): void {
    const alarm = this.alarms.get(provider)
    if (!alarm) return
    this.alarms.delete(provider)
    this.options.logger.info({ provider, failedPushes: alarm.count }, `${provider}: configuration alarm cleared`)
    this.options.onChange?.(provider, undefined)
  }

  active(): ProviderAlarm[] {
    return [...this.alarms.values()].map((a) => ({ ...a }))
  }

  /** For /readyz: not ready while any provider's configuration is refused. */
  readiness(): { ok: boolean; detail: string } {
    const active = this.active()
    if (active.length === 0) return { ok: true, detail: 'no provider alarm' }
    return {
      ok: false,
      detail: active
        .map((a) => `${a.provider}: ${a.reason} (${a.count} push(es) since ${new Date(a.since).toISOString()})`)
        .join('; '),
    }
  }
}
