// Redis STORE_URLs: one server (redis://, rediss://) or a primary found through Sentinel
// (redis+sentinel://, rediss+sentinel://). Either may carry the key prefix as `?prefix=…` (several
// gateway deployments, or tests, sharing one Redis). ioredis would read unknown query parameters as
// its own options (and its own `keyPrefix` would not reach keys our Lua scripts derive), so the
// parameter is taken out here.
//
//   redis+sentinel://[user:password@]host1:26379,host2:26379/<master-name>[/db][?prefix=…&sentinelPassword=…]
//
// The credentials in the URL are the primary's (and its replicas'); Sentinels that require a
// password of their own get it as `sentinelPassword` (and `sentinelUsername`). The `s` scheme turns
// on TLS to the Sentinels and to the primary alike.
import { Redis, type RedisOptions } from 'ioredis'

export const DEFAULT_REDIS_KEY_PREFIX = 'pgw:'

export interface RedisTarget {
  /** For plain Redis: the URL without our parameters, for ioredis. Absent for Sentinel. */
  url?: string
  /** For Sentinel: the sentinels, master name, db, credentials and TLS, as ioredis options. */
  sentinel?: RedisOptions
  keyPrefix: string
}

const PREFIX = /^[\w:.{}-]{1,64}$/
const MASTER_NAME = /^[\w.-]{1,128}$/
const SENTINEL_PARAMS = new Set(['prefix', 'sentinelPassword', 'sentinelUsername'])

/** Whether STORE_URL names a Redis store (one server or Sentinel). */
export function isRedisUrl(url: string): boolean {
  return /^rediss?(\+sentinel)?:\/\//.test(url)
}

export function parseRedisUrl(url: string, keyPrefix?: string): RedisTarget {
  if (/^rediss?\+sentinel:\/\//.test(url)) return parseSentinelUrl(url, keyPrefix)
  const q = url.indexOf('?')
  if (q < 0) return { url, keyPrefix: keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX }
  const params = new URLSearchParams(url.slice(q + 1))
  const fromUrl = checkedPrefix(params.get('prefix'))
  params.delete('prefix')
  const rest = params.toString()
  return {
    url: url.slice(0, q) + (rest ? `?${rest}` : ''),
    keyPrefix: keyPrefix ?? fromUrl ?? DEFAULT_REDIS_KEY_PREFIX,
  }
}

function checkedPrefix(prefix: string | null): string | undefined {
  if (prefix === null) return undefined
  if (!PREFIX.test(prefix))
    throw new Error('STORE_URL: the prefix parameter must be 1-64 letters, digits or _ : . { } -')
  return prefix
}

function parseSentinelUrl(url: string, keyPrefix?: string): RedisTarget {
  // WHATWG URL cannot hold a comma-separated host list: split it by hand. Messages never quote the
  // URL, which may carry a password.
  const match = /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^/?]+)\/([^/?]+)(?:\/(\d+))?\/?(?:\?(.*))?$/.exec(url)
  if (!match)
    throw new Error(
      'STORE_URL: a Sentinel URL is redis+sentinel://[user:password@]host:port[,host:port…]/<master-name>[/db][?prefix=…]',
    )
  const [, scheme, userinfo, hostList, masterName, db, query] = match
  const sentinels = (hostList ?? '').split(',').map((hostPort) => {
    const hp = /^(\[[0-9a-fA-F:]+\]|[\w.-]+)(?::(\d{1,5}))?$/.exec(hostPort)
    const port = Number(hp?.[2] ?? '26379')
    if (!hp?.[1] || port < 1 || port > 65535)
      throw new Error('STORE_URL: each Sentinel must be host[:port] (port 26379 when left out)')
    return { host: hp[1].replace(/^\[|\]$/g, ''), port }
  })
  const name = decodeURIComponent(masterName ?? '')
  if (!MASTER_NAME.test(name))
    throw new Error('STORE_URL: the Sentinel master name must be 1-128 letters, digits, dots, dashes or underscores')
  const params = new URLSearchParams(query ?? '')
  for (const key of params.keys()) {
    if (!SENTINEL_PARAMS.has(key))
      throw new Error(
        `STORE_URL: unknown parameter ${key} in a Sentinel URL (known: ${[...SENTINEL_PARAMS].join(', ')})`,
      )
  }
  const options: RedisOptions = { sentinels, name, db: Number(db ?? '0') }
  if (userinfo) {
    const colon = userinfo.indexOf(':')
    const user = decodeURIComponent(colon < 0 ? '' : userinfo.slice(0, colon))
    const password = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(colon + 1))
    if (user) options.username = user
    if (password) options.password = password
  }
  const sentinelPassword = params.get('sentinelPassword')
  const sentinelUsername = params.get('sentinelUsername')
  if (sentinelPassword) options.sentinelPassword = sentinelPassword
  if (sentinelUsername) options.sentinelUsername = sentinelUsername
  if (scheme === 'rediss') {
    options.tls = {}
    options.sentinelTLS = {}
    options.enableTLSForSentinelMode = true
  }
  // No failoverDetector: its Sentinel connections have no error listener, so every Sentinel restart
  // would print ioredis' "Unhandled error event". A closed or refused primary connection already
  // makes ioredis ask the Sentinels again.
  return { sentinel: options, keyPrefix: keyPrefix ?? checkedPrefix(params.get('prefix')) ?? DEFAULT_REDIS_KEY_PREFIX }
}

/**
 * A client for the target: `options` are ours (timeouts, queues), laid over what the URL says.
 * Through Sentinel, a primary demoted to replica answers writes with READONLY: reconnecting asks the
 * Sentinels for the new primary.
 */
export function connectRedis(target: RedisTarget, options: RedisOptions): Redis {
  if (target.sentinel) {
    return new Redis({
      ...target.sentinel,
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
      ...options,
    })
  }
  return new Redis(target.url ?? 'redis://127.0.0.1:6379', options)
}
