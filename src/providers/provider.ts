// The provider seam (Sygnal's pushkins, typed). A provider speaks one push protocol and
// classifies the answer; the dispatcher owns retries, back-off, and deleting dead tokens.

export type ProviderName = 'apns' | 'fcm' | 'webpush'

export type SendResult =
  | { kind: 'delivered'; providerId?: string; status?: number }
  /** The token is dead: the dispatcher prunes it. `timestamp` (epoch ms) is APNs's 410 timestamp. */
  | { kind: 'invalid-token'; reason: string; status?: number; timestamp?: number }
  /** 429, 5xx, network, GOAWAY: worth retrying within the ring's lifetime. */
  | { kind: 'retry'; reason: string; status?: number; retryAfterMs?: number }
  /** Permanent or configuration error: keep the token, raise an alarm when `config` is set. */
  | { kind: 'failed'; reason: string; status?: number; config?: boolean }

/** An APNs request: the provider adds the provider token and the HTTP/2 framing. */
export interface ApnsMessage {
  provider: 'apns'
  token: string
  environment: 'production' | 'sandbox'
  /** apns-topic: the bundle id, or `<bundle>.voip` for PushKit. */
  topic: string
  pushType: 'voip' | 'alert' | 'background'
  priority: 10 | 5 | 1
  /** apns-expiration, epoch seconds; 0 = deliver now or never. */
  expiration: number
  /** apns-collapse-id, at most 64 bytes. */
  collapseId?: string
  /** The JSON body: `aps` plus custom keys beside it. */
  payload: Record<string, unknown>
}

/** The `message` object of an FCM HTTP v1 `messages:send` request. */
export interface FcmMessage {
  token: string
  data?: Record<string, string>
  android?: {
    priority?: 'HIGH' | 'NORMAL'
    /** Duration string, e.g. "30s". */
    ttl?: string
    collapse_key?: string
  }
}

export interface FcmSend {
  provider: 'fcm'
  message: FcmMessage
}

export type PushMessage = ApnsMessage | FcmSend

export interface PushProvider<M extends PushMessage = PushMessage> {
  readonly name: ProviderName
  send(msg: M, signal?: AbortSignal): Promise<SendResult>
  close(): Promise<void>
}
