// Configuration is read from the environment once, at start, and validated here. A wrong or missing
// setting stops the process with one line naming the setting; nothing reads the environment later.
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { z } from 'zod'
import type { EventSourceName } from './model.js'
import { checkApnsKey, checkGenesysRegion, closestSetting, recogniseWrongFirebaseFile } from './config-checks.js'

export interface ConfigProblem {
  setting: string
  message: string
}

/** Every configuration problem found in one pass: the operator fixes them all in one go. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID'
  /** The first problem's setting. */
  readonly setting: string
  readonly problems: ConfigProblem[]
  constructor(problems: ConfigProblem[])
  constructor(setting: string, message: string)
  constructor(problemsOrSetting: ConfigProblem[] | string, message?: string) {
    const problems =
      typeof problemsOrSetting === 'string'
        ? [{ setting: problemsOrSetting, message: message ?? 'is invalid' }]
        : problemsOrSetting
    super(problems.map((p) => `${p.setting}: ${p.message}`).join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
    this.setting = problems[0]?.setting ?? 'configuration'
  }
}

/**
 * The push services of the browsers, the Web Push endpoints allowed by default: Chrome and Edge on
 * Android via FCM, Firefox (Mozilla autopush), Safari (Apple), Edge on Windows (WNS, a host per region).
 */
export const DEFAULT_WEBPUSH_HOSTS: readonly string[] = [
  'fcm.googleapis.com',
  'updates.push.services.mozilla.com',
  'web.push.apple.com',
  '*.notify.windows.com',
]

/** A Web Push allow-list entry: `host`, `host:port`, `*.domain` or `*.domain:port` (the wildcard is one or more labels). */
export const WEBPUSH_HOST_RULE = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/

export interface ApnsConfig {
  keyFile: string
  keyPem: string
  keyId: string
  teamId: string
  /** The app's bundle id; VoIP pushes go to `<topic>.voip`. */
  topic: string
  /** Default environment for devices that do not say. */
  environment: 'production' | 'sandbox'
  url?: string
}

/**
 * The fields of a Google service-account key file (the JSON downloaded from the Firebase console)
 * the FCM provider uses, as serviceAccountSchema checks them: one definition for the type and its check.
 */
export type GoogleServiceAccountKey = z.infer<typeof serviceAccountSchema>

export interface FcmConfig {
  serviceAccountFile: string
  serviceAccount: GoogleServiceAccountKey
  url: string
}

export interface WebPushConfig {
  publicKey: string
  privateKey: string
  /** mailto: or https: contact for the push service (RFC 8292). */
  subject: string
  /** Push-service hosts endpoints may name (`host`, `host:port`, `*.domain`): WEBPUSH_ALLOWED_HOSTS. */
  allowedHosts: string[]
}

export interface Config {
  port: number
  host: string
  logLevel: string
  storeUrl: string
  store: {
    /** REDIS_WAIT_REPLICAS: replicas that must confirm a write before it is acted on (0: none). */
    waitReplicas: number
    waitTimeoutMs: number
    /** REDIS_REPLY_TIMEOUT_MS: a Redis connection owing replies that stays silent this long is replaced. */
    replyTimeoutMs: number
    /** DYNAMODB_CREATE_TABLES: create missing DynamoDB tables (on-demand) at start. */
    createTables: boolean
  }
  /** Names this process in leases, metrics and logs (default: hostname-pid). */
  instanceId: string
  genesys: {
    apiUrl: string
    loginUrl: string
    clientId?: string
    clientSecret?: string
    /** GENESYS_ORG_ID: the organisation whose agents may register; otherwise learned with the client credentials. */
    orgId?: string
    eventSource: EventSourceName
    /** Notifications API topics: one per agent (`users`) or one per queue (`queues`). */
    topics: 'users' | 'queues'
    queueIds: string[]
  }
  /** The webhook source (POST /api/v1/events) is served when a secret is set. */
  webhook?: { secret: string }
  apns?: ApnsConfig
  fcm?: FcmConfig
  webpush?: WebPushConfig
  ring: {
    timeoutMs: number
    dedupWindowMs: number
    /** How a phone rung through PushKit is cancelled: on its own alert token (content-available) or through PushKit. */
    iosCallCancel: 'alert' | 'voip'
  }
  /** APNs and FCM connections: PING a session when a push waits this long, and give it up this long after. */
  pushTransport: { pingAfterMs: number; pingTimeoutMs: number }
  presence: {
    filter: 'off' | 'soft'
    /** System presences (normalised: lower case, no spaces) whose agents are not rung in `soft` mode. */
    suppress: string[]
    /** A presence that changed this recently is not trusted yet (Genesys presence lags 2–3 s). */
    lagMs: number
  }
  payload: { redactCaller: boolean }
  scale: { leaseTtlMs: number }
  audit: { maxEntries: number }
  adminToken?: string
  /**
   * HTTP API request limits (0 = off), per minute: per agent (bearer token) and per client address,
   * checked first; device writes per Genesys user, checked once the token's owner is known.
   */
  rateLimit: { perAgentPerMinute: number; perIpPerMinute: number; writesPerUserPerMinute: number }
  /** The HTTP server: a request (headers and body) must arrive within requestTimeoutMs; idle keep-alive and open connections are bounded. */
  http: { requestTimeoutMs: number; keepAliveTimeoutMs: number; maxConnections: number }
  /** Pushes being sent at once, over all push services; shared fairly between agents. */
  dispatch: { maxInFlight: number }
  /** Events being decided at once; past it the Notifications sockets are not read (src/sources/intake-gate.ts). */
  intake: { maxInFlight: number }
  /** Devices one agent may have; registering one more evicts the least recently registered. */
  devices: { maxPerAgent: number }
  /** Which proxies' X-Forwarded-For to believe for the client address: false, a hop count, or addresses/CIDRs. */
  trustProxy: false | number | string[]
  /** Device receipts (src/reach/): when an agent counts as unreachable, and what then happens. */
  reach: {
    /** Rings missed in a row, on every phone that reports receipts. */
    unreachableAfter: number
    /** How long an agent's reachability lives after its last change. */
    ttlMs: number
    /** A POST of a JSON notice on each change to or from unreachable. */
    webhookUrl?: string
    /** off-queue: set the unreachable agent's Genesys routing status to OFF_QUEUE. */
    action: 'off' | 'off-queue'
    /** Re-send an unreported ring every this many ms to alert, Android and browser devices; 0 = off. */
    ringRepeatMs: number
  }
}

// Every setting the gateway knows. A variable with one of our prefixes that is not listed here, or
// any variable a typo away from one (APNS_TOPICS, GENESYS_REIGON, ADMIN_TOKNE, LOG_LEVLE…), stops
// the start rather than being silently ignored.
const KNOWN = [
  'PORT',
  'HOST',
  'LOG_LEVEL',
  'STORE_URL',
  'GENESYS_REGION',
  'GENESYS_API_URL',
  'GENESYS_LOGIN_URL',
  'GENESYS_CLIENT_ID',
  'GENESYS_CLIENT_SECRET',
  'GENESYS_EVENT_SOURCE',
  'GENESYS_ORG_ID',
  'APNS_KEY_FILE',
  'APNS_KEY_ID',
  'APNS_TEAM_ID',
  'APNS_TOPIC',
  'APNS_ENVIRONMENT',
  'APNS_URL',
  'FCM_SERVICE_ACCOUNT_FILE',
  'FCM_URL',
  'GENESYS_TOPICS',
  'GENESYS_QUEUE_IDS',
  'WEBHOOK_SECRET',
  'WEBPUSH_VAPID_PUBLIC_KEY',
  'WEBPUSH_VAPID_PRIVATE_KEY',
  'WEBPUSH_SUBJECT',
  'WEBPUSH_ALLOWED_HOSTS',
  'RING_TIMEOUT_S',
  'DEDUP_WINDOW_MS',
  'ADMIN_TOKEN',
  'IOS_CALL_CANCEL',
  'PRESENCE_FILTER',
  'PRESENCE_SUPPRESS',
  'PRESENCE_LAG_MS',
  'CALLER_DISPLAY',
  'LEASE_TTL_MS',
  'INSTANCE_ID',
  'AUDIT_MAX_ENTRIES',
  'RATE_LIMIT_PER_MINUTE',
  'RATE_LIMIT_PER_IP_PER_MINUTE',
  'RATE_LIMIT_WRITES_PER_USER_PER_MINUTE',
  'TRUST_PROXY',
  'REDIS_WAIT_REPLICAS',
  'REDIS_WAIT_TIMEOUT_MS',
  'REDIS_REPLY_TIMEOUT_MS',
  'DYNAMODB_CREATE_TABLES',
  'PUSH_PING_AFTER_MS',
  'PUSH_PING_TIMEOUT_MS',
  'HTTP_REQUEST_TIMEOUT_MS',
  'HTTP_KEEP_ALIVE_TIMEOUT_MS',
  'HTTP_MAX_CONNECTIONS',
  'PUSH_MAX_IN_FLIGHT',
  'EVENTS_MAX_IN_FLIGHT',
  'MAX_DEVICES_PER_AGENT',
  'UNREACHABLE_AFTER',
  'UNREACHABLE_WEBHOOK_URL',
  'UNREACHABLE_ACTION',
  'RING_REPEAT_S',
  'REACHABILITY_TTL_H',
] as const
// REDIS_WAIT_ and REDIS_REPLY_, not REDIS_: REDIS_URL is a common variable of other tools (and of
// our tests). HTTP_ is not ours alone either (HTTP_PROXY): only the names above are checked there.
const OUR_PREFIXES = [
  'REDIS_WAIT_',
  'REDIS_REPLY_',
  'DYNAMODB_',
  'GENESYS_',
  'APNS_',
  'FCM_',
  'PUSH_',
  'RING_',
  'DEDUP_',
  'WEBPUSH_',
  'WEBHOOK_',
  'STORE_',
  'PRESENCE_',
  'CALLER_',
  'LEASE_',
  'AUDIT_',
  'INSTANCE_',
  'RATE_',
  'TRUST_',
  'IOS_',
  'MAX_DEVICES_',
  'UNREACHABLE_',
  'REACHABILITY_',
]

/** Genesys spells presences differently per surface ("On Queue", "ON_QUEUE", "on queue"). */
export function normalisePresence(value: string): string {
  return value.toLowerCase().replace(/[\s_-]+/g, '')
}

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`)

const httpsUrl = z
  .string()
  .url('must be a URL')
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''))

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/

/**
 * An outbound address the operator sets (UNREACHABLE_WEBHOOK_URL): https, or http to this host
 * only (a sidecar); no credentials in it (they would travel to wherever it points, and URLs end
 * up in logs), no fragment. Its path may hold a secret (chat webhooks do): it is never logged.
 */
function checkWebhookUrl(value: string, ctx: z.RefinementCtx): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an absolute http(s) URL' })
    return
  }
  const problem =
    url.protocol !== 'https:' && url.protocol !== 'http:'
      ? 'must be an https URL'
      : url.protocol === 'http:' && !LOOPBACK_HOSTS.test(url.hostname)
        ? 'must be https (plain http only to localhost)'
        : url.username !== '' || url.password !== ''
          ? 'must not carry credentials (user:password@); put a secret in the path or query'
          : url.hash !== ''
            ? 'must not have a #fragment'
            : undefined
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem })
}

const schemas = {
  PORT: int(0, 65535).default('8080'),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  STORE_URL: z
    .string()
    .refine(
      (s) => /^(sqlite:.+|rediss?(\+sentinel)?:\/\/.+|dynamodb:\/\/.+|memory:)$/.test(s),
      'must be sqlite:<path>, redis://…, rediss://…, redis+sentinel://…, rediss+sentinel://…, dynamodb://<table-prefix>?region=… or memory:',
    )
    .default('sqlite:./data/gateway.db'),
  GENESYS_REGION: z
    .string()
    .superRefine((value, ctx) => {
      const problem = checkGenesysRegion(value)
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem })
    })
    .transform((value) => value.trim().toLowerCase())
    .optional(),
  GENESYS_API_URL: httpsUrl.optional(),
  GENESYS_LOGIN_URL: httpsUrl.optional(),
  GENESYS_CLIENT_ID: z.string().min(1).optional(),
  GENESYS_CLIENT_SECRET: z.string().min(1).optional(),
  GENESYS_EVENT_SOURCE: z.enum(['notifications', 'eventstream', 'webhook']).default('notifications'),
  GENESYS_ORG_ID: z
    .string()
    .regex(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      'must be the organisation id (a UUID, Admin > Organization Settings)',
    )
    .optional(),
  APNS_KEY_FILE: z.string().min(1).optional(),
  APNS_KEY_ID: z
    .string()
    .regex(/^[A-Z0-9]{10}$/, 'must be the 10-character key id from Apple')
    .optional(),
  APNS_TEAM_ID: z
    .string()
    .regex(/^[A-Z0-9]{10}$/, 'must be the 10-character team id from Apple')
    .optional(),
  APNS_TOPIC: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/, 'must be the app bundle id, e.g. com.example.agent')
    .optional(),
  APNS_ENVIRONMENT: z.enum(['production', 'sandbox']).default('production'),
  APNS_URL: httpsUrl.optional(),
  FCM_SERVICE_ACCOUNT_FILE: z.string().min(1).optional(),
  FCM_URL: httpsUrl.default('https://fcm.googleapis.com'),
  GENESYS_TOPICS: z.enum(['users', 'queues']).default('users'),
  GENESYS_QUEUE_IDS: z
    .string()
    .regex(/^[\w-]+(,[\w-]+)*$/, 'must be a comma-separated list of queue ids')
    .transform((v) => v.split(','))
    .optional(),
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  WEBPUSH_VAPID_PUBLIC_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{80,100}$/, 'must be the URL-safe base64 VAPID public key')
    .optional(),
  WEBPUSH_VAPID_PRIVATE_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{40,50}$/, 'must be the URL-safe base64 VAPID private key')
    .optional(),
  WEBPUSH_SUBJECT: z
    .string()
    .regex(/^(mailto:|https:\/\/)/, 'must be a mailto: or https: URL')
    .optional(),
  // `default` in the list stands for the browsers' push services, so a list can extend them.
  WEBPUSH_ALLOWED_HOSTS: z
    .string()
    .transform((v) => v.split(',').map((h) => h.trim().toLowerCase()))
    .refine(
      (hosts) =>
        hosts.every(
          (h) =>
            h === 'default' ||
            (WEBPUSH_HOST_RULE.test(h) && !/^[\d.]+(:\d+)?$/.test(h) && Number(h.split(':')[1] ?? 443) <= 65535),
        ),
      'must be comma-separated host names (host, host:port or *.domain; "default" for the browsers\' push services), no IP addresses',
    )
    .transform((hosts) => [...new Set(hosts.flatMap((h) => (h === 'default' ? DEFAULT_WEBPUSH_HOSTS : [h])))])
    .optional(),
  RING_TIMEOUT_S: int(1, 600).default('30'),
  IOS_CALL_CANCEL: z
    .enum(['alert', 'voip'], {
      errorMap: () => ({
        message: "must be alert (the phone's own alert token, with content-available) or voip (through PushKit)",
      }),
    })
    .default('alert'),
  // A ring lasts about 30 s: a dead connection must be found in a few seconds, not a kernel timeout.
  PUSH_PING_AFTER_MS: int(100, 60_000).default('1000'),
  PUSH_PING_TIMEOUT_MS: int(100, 60_000).default('2000'),
  PRESENCE_FILTER: z.enum(['off', 'soft']).default('off'),
  PRESENCE_SUPPRESS: z
    .string()
    .min(1)
    .default('Offline,Away,Break')
    .transform((v) =>
      v
        .split(',')
        .map(normalisePresence)
        .filter((p) => p.length > 0),
    ),
  PRESENCE_LAG_MS: int(0, 60_000).default('3000'),
  CALLER_DISPLAY: z.enum(['show', 'redact']).default('show'),
  LEASE_TTL_MS: int(1_000, 300_000).default('10000'),
  INSTANCE_ID: z
    .string()
    .regex(/^[\w.-]{1,64}$/, 'must be 1-64 letters, digits, dots, dashes or underscores')
    .optional(),
  AUDIT_MAX_ENTRIES: int(100, 10_000_000).default('10000'),
  DEDUP_WINDOW_MS: int(0, 600_000).default('5000'),
  REDIS_WAIT_REPLICAS: int(0, 16).default('0'),
  REDIS_WAIT_TIMEOUT_MS: int(10, 60_000).default('1000'),
  // A store path that goes silent (a NAT or firewall forgets the flow) must be found in seconds, not
  // at the kernel's retransmission timeout (about 15 minutes), during which no decision could finish.
  REDIS_REPLY_TIMEOUT_MS: int(100, 600_000).default('2000'),
  DYNAMODB_CREATE_TABLES: z.enum(['0', '1']).default('0'),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default('120'),
  RATE_LIMIT_PER_IP_PER_MINUTE: int(0, 10_000_000).default('1200'),
  RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: int(0, 1_000_000).default('30'),
  // Node checks these only every connectionsCheckingInterval (set to 1 s in api/server.ts).
  HTTP_REQUEST_TIMEOUT_MS: int(1_000, 10_000).default('10000'),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(1_000, 600_000).default('5000'),
  HTTP_MAX_CONNECTIONS: int(16, 1_000_000).default('4096'),
  PUSH_MAX_IN_FLIGHT: int(1, 100_000).default('2000'),
  EVENTS_MAX_IN_FLIGHT: int(1, 100_000).default('64'),
  MAX_DEVICES_PER_AGENT: int(1, 1_000).default('10'),
  // Behind a load balancer every request comes from its address: name it (or the hop count) so the
  // per-address limit uses X-Forwarded-For. Never "true": any client could then pick its address.
  TRUST_PROXY: z
    .string()
    .regex(
      /^(\d{1,2}|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$/,
      'must be a hop count (1-99) or comma-separated proxy addresses/CIDRs',
    )
    .transform((v): number | string[] => (/^\d+$/.test(v) ? Number(v) : v.split(',')))
    .optional(),
  UNREACHABLE_AFTER: int(1, 100).default('3'),
  UNREACHABLE_WEBHOOK_URL: z.string().superRefine(checkWebhookUrl).optional(),
  UNREACHABLE_ACTION: z.enum(['off', 'off-queue']).default('off'),
  RING_REPEAT_S: int(0, 600).default('0'),
  REACHABILITY_TTL_H: int(1, 8_760).default('168'),
} satisfies Record<(typeof KNOWN)[number], z.ZodTypeAny>

type Settings = { [K in keyof typeof schemas]: z.output<(typeof schemas)[K]> }

/** Collects problems so that one run reports all of them. */
class Problems {
  readonly list: ConfigProblem[] = []
  add(setting: string, message: string): void {
    this.list.push({ setting, message })
  }
  has(...settings: string[]): boolean {
    return this.list.some((p) => settings.includes(p.setting))
  }
}

function parseSettings(env: Record<string, string | undefined>, problems: Problems): Partial<Settings> {
  const known = KNOWN as readonly string[]
  for (const name of Object.keys(env)) {
    if (known.includes(name)) continue
    const suggestion = closestSetting(name, known)
    if (suggestion) problems.add(name, `unknown setting, did you mean ${suggestion}?`)
    else if (OUR_PREFIXES.some((p) => name.startsWith(p))) {
      problems.add(
        name,
        `unknown setting (known: ${KNOWN.filter((k) => k.startsWith(name.split('_')[0] ?? '')).join(', ')})`,
      )
    }
  }
  const out: Record<string, unknown> = {}
  for (const [name, schema] of Object.entries(schemas)) {
    const raw = env[name] === '' ? undefined : env[name]
    const parsed = schema.safeParse(raw)
    if (parsed.success) out[name] = parsed.data
    else problems.add(name, parsed.error.issues[0]?.message ?? 'invalid value')
  }
  return out as Partial<Settings>
}

function readFile(setting: string, path: string, problems: Problems): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    problems.add(setting, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    return undefined
  }
}

function loadApns(s: Settings, problems: Problems): ApnsConfig | undefined {
  const parts = {
    APNS_KEY_FILE: s.APNS_KEY_FILE,
    APNS_KEY_ID: s.APNS_KEY_ID,
    APNS_TEAM_ID: s.APNS_TEAM_ID,
    APNS_TOPIC: s.APNS_TOPIC,
  }
  const given = Object.entries(parts).filter(([, v]) => v !== undefined)
  if (given.length === 0) return undefined
  for (const [name, value] of Object.entries(parts)) {
    if (value === undefined && !problems.has(name))
      problems.add(
        name,
        'is required when any APNS_ setting is given (APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC)',
      )
  }
  const keyPem = s.APNS_KEY_FILE === undefined ? undefined : readFile('APNS_KEY_FILE', s.APNS_KEY_FILE, problems)
  const keyProblem = keyPem === undefined ? undefined : checkApnsKey(keyPem)
  if (keyProblem) problems.add('APNS_KEY_FILE', keyProblem)
  if (keyPem === undefined || keyProblem || given.length < Object.keys(parts).length) return undefined
  return {
    keyFile: s.APNS_KEY_FILE as string,
    keyPem,
    keyId: s.APNS_KEY_ID as string,
    teamId: s.APNS_TEAM_ID as string,
    topic: s.APNS_TOPIC as string,
    environment: s.APNS_ENVIRONMENT,
    ...(s.APNS_URL ? { url: s.APNS_URL } : {}),
  }
}

const serviceAccountSchema = z.object({
  project_id: z.string().min(1),
  private_key_id: z.string().min(1),
  private_key: z.string().includes('PRIVATE KEY'),
  client_email: z.string().min(1),
  token_uri: z.string().url().default('https://oauth2.googleapis.com/token'),
})

function loadFcm(s: Settings, problems: Problems): FcmConfig | undefined {
  if (!s.FCM_SERVICE_ACCOUNT_FILE) return undefined
  const text = readFile('FCM_SERVICE_ACCOUNT_FILE', s.FCM_SERVICE_ACCOUNT_FILE, problems)
  if (text === undefined) return undefined
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    problems.add(
      'FCM_SERVICE_ACCOUNT_FILE',
      'is not JSON (expected the service-account key file from the Firebase console)',
    )
    return undefined
  }
  const wrongFile = recogniseWrongFirebaseFile(json)
  if (wrongFile) {
    problems.add('FCM_SERVICE_ACCOUNT_FILE', wrongFile)
    return undefined
  }
  const parsed = serviceAccountSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    problems.add('FCM_SERVICE_ACCOUNT_FILE', `field ${issue?.path.join('.') ?? '?'} ${issue?.message ?? 'is invalid'}`)
    return undefined
  }
  return { serviceAccountFile: s.FCM_SERVICE_ACCOUNT_FILE, serviceAccount: parsed.data, url: s.FCM_URL }
}

function loadWebPush(s: Settings, problems: Problems): WebPushConfig | undefined {
  const parts = {
    WEBPUSH_VAPID_PUBLIC_KEY: s.WEBPUSH_VAPID_PUBLIC_KEY,
    WEBPUSH_VAPID_PRIVATE_KEY: s.WEBPUSH_VAPID_PRIVATE_KEY,
    WEBPUSH_SUBJECT: s.WEBPUSH_SUBJECT,
  }
  if (Object.values(parts).every((v) => v === undefined)) return undefined
  const missing = Object.entries(parts).filter(([name, v]) => v === undefined && !problems.has(name))
  for (const [name] of missing)
    problems.add(
      name,
      'is required when any WEBPUSH_ setting is given (WEBPUSH_VAPID_PUBLIC_KEY, WEBPUSH_VAPID_PRIVATE_KEY, WEBPUSH_SUBJECT)',
    )
  if (Object.values(parts).some((v) => v === undefined)) return undefined
  return {
    publicKey: s.WEBPUSH_VAPID_PUBLIC_KEY as string,
    privateKey: s.WEBPUSH_VAPID_PRIVATE_KEY as string,
    subject: s.WEBPUSH_SUBJECT as string,
    allowedHosts: s.WEBPUSH_ALLOWED_HOSTS ?? [...DEFAULT_WEBPUSH_HOSTS],
  }
}

/** Reads and checks every setting; a ConfigError lists every problem found, one per setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems = new Problems()
  // A setting that failed its own check is undefined here and already reported: the checks below
  // skip what depends on it, and nothing is returned while a problem is listed.
  const s = parseSettings(env, problems) as Settings
  const regional = s.GENESYS_REGION
    ? { apiUrl: `https://api.${s.GENESYS_REGION}`, loginUrl: `https://login.${s.GENESYS_REGION}` }
    : undefined
  const apiUrl = s.GENESYS_API_URL ?? regional?.apiUrl
  const loginUrl = s.GENESYS_LOGIN_URL ?? regional?.loginUrl
  if (!apiUrl && !problems.has('GENESYS_REGION', 'GENESYS_API_URL'))
    problems.add('GENESYS_REGION', 'is required (or GENESYS_API_URL and GENESYS_LOGIN_URL), e.g. mypurecloud.com')
  else if (apiUrl && !loginUrl && !problems.has('GENESYS_LOGIN_URL'))
    problems.add('GENESYS_LOGIN_URL', 'is required when GENESYS_API_URL is given without GENESYS_REGION')
  if (s.GENESYS_EVENT_SOURCE !== undefined && s.GENESYS_EVENT_SOURCE !== 'webhook') {
    if (!s.GENESYS_CLIENT_ID && !problems.has('GENESYS_CLIENT_ID'))
      problems.add(
        'GENESYS_CLIENT_ID',
        `is required for GENESYS_EVENT_SOURCE=${s.GENESYS_EVENT_SOURCE} (an OAuth client-credentials client)`,
      )
    if (!s.GENESYS_CLIENT_SECRET && !problems.has('GENESYS_CLIENT_SECRET'))
      problems.add('GENESYS_CLIENT_SECRET', `is required for GENESYS_EVENT_SOURCE=${s.GENESYS_EVENT_SOURCE}`)
  }
  // Agents of other organisations in the region hold valid tokens; without client credentials the
  // gateway cannot ask Genesys which organisation is its own, so it must be told.
  if (
    s.GENESYS_EVENT_SOURCE === 'webhook' &&
    !s.GENESYS_ORG_ID &&
    !problems.has('GENESYS_ORG_ID') &&
    (!s.GENESYS_CLIENT_ID || !s.GENESYS_CLIENT_SECRET)
  ) {
    problems.add(
      'GENESYS_ORG_ID',
      'is required for GENESYS_EVENT_SOURCE=webhook without GENESYS_CLIENT_ID/GENESYS_CLIENT_SECRET (only agents of this organisation may register)',
    )
  }
  if (s.GENESYS_TOPICS === 'queues' && !s.GENESYS_QUEUE_IDS && !problems.has('GENESYS_QUEUE_IDS')) {
    problems.add(
      'GENESYS_QUEUE_IDS',
      'is required when GENESYS_TOPICS=queues (the queues whose conversations ring mobile agents)',
    )
  }
  if (s.GENESYS_EVENT_SOURCE === 'webhook' && !s.WEBHOOK_SECRET && !problems.has('WEBHOOK_SECRET')) {
    problems.add('WEBHOOK_SECRET', 'is required for GENESYS_EVENT_SOURCE=webhook (the shared secret EventBridge sends)')
  }
  const apns = loadApns(s, problems)
  const fcm = loadFcm(s, problems)
  const webpush = loadWebPush(s, problems)
  const pushSettings = [
    'APNS_KEY_FILE',
    'APNS_KEY_ID',
    'APNS_TEAM_ID',
    'APNS_TOPIC',
    'FCM_SERVICE_ACCOUNT_FILE',
    'WEBPUSH_VAPID_PUBLIC_KEY',
    'WEBPUSH_VAPID_PRIVATE_KEY',
    'WEBPUSH_SUBJECT',
  ]
  if (!apns && !fcm && !webpush && !problems.has(...pushSettings)) {
    problems.add(
      'APNS_KEY_FILE',
      'no push service configured: set the APNS_ settings, FCM_SERVICE_ACCOUNT_FILE, the WEBPUSH_ settings, or several',
    )
  }
  if (s.REDIS_WAIT_REPLICAS > 0 && !/^rediss?(\+sentinel)?:/.test(s.STORE_URL)) {
    problems.add(
      'REDIS_WAIT_REPLICAS',
      'applies only to a Redis STORE_URL (redis://, rediss://, redis+sentinel://, rediss+sentinel://)',
    )
  }
  if (s.REDIS_WAIT_REPLICAS > 0 && s.REDIS_REPLY_TIMEOUT_MS <= s.REDIS_WAIT_TIMEOUT_MS) {
    problems.add(
      'REDIS_REPLY_TIMEOUT_MS',
      `must be longer than REDIS_WAIT_TIMEOUT_MS (${s.REDIS_WAIT_TIMEOUT_MS}): Redis holds the reply to WAIT that long`,
    )
  }
  if (s.DYNAMODB_CREATE_TABLES === '1' && !s.STORE_URL.startsWith('dynamodb://')) {
    problems.add('DYNAMODB_CREATE_TABLES', 'applies only to a dynamodb:// STORE_URL')
  }
  if (s.UNREACHABLE_ACTION === 'off-queue' && (!s.GENESYS_CLIENT_ID || !s.GENESYS_CLIENT_SECRET)) {
    problems.add(
      'UNREACHABLE_ACTION',
      'off-queue needs GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET (the gateway changes the routing status with its client credentials)',
    )
  }
  if (s.RING_REPEAT_S > 0 && s.RING_REPEAT_S >= s.RING_TIMEOUT_S && !problems.has('RING_REPEAT_S', 'RING_TIMEOUT_S')) {
    problems.add('RING_REPEAT_S', `must be shorter than RING_TIMEOUT_S (${s.RING_TIMEOUT_S}), or 0 for no repeats`)
  }
  if (problems.list.length > 0) throw new ConfigError(problems.list)
  if (!apiUrl || !loginUrl) throw new ConfigError('GENESYS_REGION', 'is required')
  return {
    port: s.PORT,
    host: s.HOST,
    logLevel: s.LOG_LEVEL,
    storeUrl: s.STORE_URL,
    store: {
      waitReplicas: s.REDIS_WAIT_REPLICAS,
      waitTimeoutMs: s.REDIS_WAIT_TIMEOUT_MS,
      replyTimeoutMs: s.REDIS_REPLY_TIMEOUT_MS,
      createTables: s.DYNAMODB_CREATE_TABLES === '1',
    },
    instanceId: s.INSTANCE_ID ?? `${hostname()}-${process.pid}`,
    genesys: {
      apiUrl,
      loginUrl,
      eventSource: s.GENESYS_EVENT_SOURCE,
      topics: s.GENESYS_TOPICS,
      queueIds: s.GENESYS_QUEUE_IDS ?? [],
      ...(s.GENESYS_CLIENT_ID ? { clientId: s.GENESYS_CLIENT_ID } : {}),
      ...(s.GENESYS_CLIENT_SECRET ? { clientSecret: s.GENESYS_CLIENT_SECRET } : {}),
      ...(s.GENESYS_ORG_ID ? { orgId: s.GENESYS_ORG_ID.toLowerCase() } : {}),
    },
    ...(s.WEBHOOK_SECRET ? { webhook: { secret: s.WEBHOOK_SECRET } } : {}),
    ...(apns ? { apns } : {}),
    ...(fcm ? { fcm } : {}),
    ...(webpush ? { webpush } : {}),
    ring: { timeoutMs: s.RING_TIMEOUT_S * 1000, dedupWindowMs: s.DEDUP_WINDOW_MS, iosCallCancel: s.IOS_CALL_CANCEL },
    pushTransport: { pingAfterMs: s.PUSH_PING_AFTER_MS, pingTimeoutMs: s.PUSH_PING_TIMEOUT_MS },
    presence: { filter: s.PRESENCE_FILTER, suppress: s.PRESENCE_SUPPRESS, lagMs: s.PRESENCE_LAG_MS },
    payload: { redactCaller: s.CALLER_DISPLAY === 'redact' },
    scale: { leaseTtlMs: s.LEASE_TTL_MS },
    audit: { maxEntries: s.AUDIT_MAX_ENTRIES },
    ...(s.ADMIN_TOKEN ? { adminToken: s.ADMIN_TOKEN } : {}),
    rateLimit: {
      perAgentPerMinute: s.RATE_LIMIT_PER_MINUTE,
      perIpPerMinute: s.RATE_LIMIT_PER_IP_PER_MINUTE,
      writesPerUserPerMinute: s.RATE_LIMIT_WRITES_PER_USER_PER_MINUTE,
    },
    http: {
      requestTimeoutMs: s.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: s.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: s.HTTP_MAX_CONNECTIONS,
    },
    dispatch: { maxInFlight: s.PUSH_MAX_IN_FLIGHT },
    intake: { maxInFlight: s.EVENTS_MAX_IN_FLIGHT },
    devices: { maxPerAgent: s.MAX_DEVICES_PER_AGENT },
    trustProxy: s.TRUST_PROXY === undefined || s.TRUST_PROXY === 0 ? false : s.TRUST_PROXY,
    reach: {
      unreachableAfter: s.UNREACHABLE_AFTER,
      ttlMs: s.REACHABILITY_TTL_H * 3_600_000,
      ...(s.UNREACHABLE_WEBHOOK_URL ? { webhookUrl: s.UNREACHABLE_WEBHOOK_URL } : {}),
      action: s.UNREACHABLE_ACTION,
      ringRepeatMs: s.RING_REPEAT_S * 1000,
    },
  }
}

/** The configuration with every secret replaced, for logs and `doctor` (gorush's SanitizedCopy). */
export function redacted(config: Config): Record<string, unknown> {
  return {
    port: config.port,
    host: config.host,
    logLevel: config.logLevel,
    storeUrl: config.storeUrl
      .replace(/\/\/([^@/]*)@/, '//[redacted]@')
      .replace(/([?&]sentinelPassword=)[^&]*/, '$1[redacted]'),
    store: config.store,
    genesys: { ...config.genesys, clientSecret: config.genesys.clientSecret ? '[redacted]' : undefined },
    apns: config.apns
      ? {
          keyFile: config.apns.keyFile,
          keyId: config.apns.keyId,
          teamId: config.apns.teamId,
          topic: config.apns.topic,
          environment: config.apns.environment,
          url: config.apns.url,
        }
      : undefined,
    fcm: config.fcm
      ? {
          serviceAccountFile: config.fcm.serviceAccountFile,
          projectId: config.fcm.serviceAccount.project_id,
          clientEmail: config.fcm.serviceAccount.client_email,
          url: config.fcm.url,
        }
      : undefined,
    webpush: config.webpush
      ? {
          publicKey: config.webpush.publicKey,
          subject: config.webpush.subject,
          allowedHosts: config.webpush.allowedHosts,
          privateKey: '[redacted]',
        }
      : undefined,
    webhook: config.webhook ? { secret: '[redacted]' } : undefined,
    instanceId: config.instanceId,
    ring: config.ring,
    pushTransport: config.pushTransport,
    presence: config.presence,
    payload: config.payload,
    scale: config.scale,
    audit: config.audit,
    adminToken: config.adminToken ? '[redacted]' : undefined,
    rateLimit: config.rateLimit,
    http: config.http,
    dispatch: config.dispatch,
    intake: config.intake,
    devices: config.devices,
    trustProxy: config.trustProxy,
    // The webhook's path and query may be its secret: only where it goes is shown.
    reach: {
      ...config.reach,
      webhookUrl: config.reach.webhookUrl ? `${new URL(config.reach.webhookUrl).origin}/[redacted]` : undefined,
    },
  }
}

// Settings whose values are secrets (or may carry one) in logs: named for what they hold.
// UNREACHABLE_WEBHOOK_URL: a chat webhook's path is its secret.
const SECRET_SETTING = /SECRET|TOKEN|PASSWORD|PRIVATE|WEBHOOK_URL/

/**
 * The settings this run was given (defaults left out, so the start-up log shows what the operator
 * set and nothing else), secrets replaced and credentials cut out of URLs.
 */
export function settingsGiven(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of KNOWN) {
    const value = env[name]
    if (value === undefined || value === '') continue
    out[name] = SECRET_SETTING.test(name) ? '[redacted]' : value.replace(/\/\/([^@/]*)@/, '//[redacted]@')
  }
  return out
}
