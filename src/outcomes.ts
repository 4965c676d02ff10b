// What each stage reports about its work: a source's health, the ring engine's decision, a
// provider's answer and the dispatcher's outcome. They sit on the ground floor beside model.ts so
// that the readers of these reports (observability, the audit log, the API, the CLI) import them
// from here and never from the stage that produces them: types flow down, never up.
import type { EventSourceName, PushIntent, PushTarget, RoutingEvent } from './model.js'

export type ProviderName = 'apns' | 'fcm' | 'webpush'

/** A provider's classification of one push service answer (src/providers/provider.ts). */
export type SendResult =
  /** `environment`: APNs delivered through the other environment than the device named (the dispatcher records it). */
  | { kind: 'delivered'; providerId?: string; status?: number; environment?: 'production' | 'sandbox' }
  /** The token is dead: the dispatcher prunes it. `timestamp` (epoch ms) is APNs's 410 timestamp. */
  | { kind: 'invalid-token'; reason: string; status?: number; timestamp?: number }
  /** 429, 5xx, network, GOAWAY: worth retrying within the ring's lifetime. */
  | { kind: 'retry'; reason: string; status?: number; retryAfterMs?: number }
  /** Permanent or configuration error: keep the token, raise an alarm when `config` is set. */
  | { kind: 'failed'; reason: string; status?: number; config?: boolean }

/** The final word on one push: the provider's answer, or why it never went out. */
export type DeliveryResult = SendResult | { kind: 'expired'; reason: string } | { kind: 'skipped'; reason: string }

/** One device's push, after the dispatcher's retries (src/dispatch/dispatcher.ts). */
export interface PushOutcome {
  intent: PushIntent
  target: PushTarget
  provider?: ProviderName
  result: DeliveryResult
  attempts: number
  /** performance.now() when the first request left and when the final answer came. */
  sentAtHr?: number
  answeredAtHr: number
  pruned: boolean
}

/** What the ring engine made of one routing event (src/ring/engine.ts). */
export type RingDecision =
  | { kind: 'ring'; event: RoutingEvent; intent: PushIntent }
  | { kind: 'cancel'; event?: RoutingEvent; intent: PushIntent }
  | {
      kind: 'suppressed'
      event: RoutingEvent
      reason: 'duplicate' | 'no-devices' | 'no-reachable-device' | 'not-ringing' | 'presence'
      detail?: string
    }

/** An event source's health (src/sources/source.ts), for readiness, metrics and the dashboard. */
export interface SourceStatus {
  name: EventSourceName
  /** True when the source can currently hear Genesys (every channel's socket is open). */
  connected: boolean
  channels: number
  topics: number
  reconnects: number
  /** Frames that were not understood (counted, logged once per kind). */
  rejectedFrames: number
  /** Set when the source runs under a Redis lease (several instances): only the holder listens. */
  lease?: { holder: boolean; holderId?: string; fencingToken?: number }
}
