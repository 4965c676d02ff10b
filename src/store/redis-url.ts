// A Redis STORE_URL may carry the key prefix as `?prefix=…` (several gateway deployments, or tests,
// sharing one Redis). ioredis would read unknown query parameters as its own options (and its own
// `keyPrefix` would not reach keys our Lua scripts derive), so the parameter is taken out here.
import { DEFAULT_REDIS_KEY_PREFIX } from './redis.js'

export interface RedisTarget {
  /** The URL without our `prefix` parameter, for ioredis. */
  url: string
  keyPrefix: string
}

const PREFIX = /^[\w:.{}-]{1,64}$/

export function parseRedisUrl(url: string, keyPrefix?: string): RedisTarget {
  const q = url.indexOf('?')
  if (q < 0) return { url, keyPrefix: keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX }
  const params = new URLSearchParams(url.slice(q + 1))
  const fromUrl = params.get('prefix')
  params.delete('prefix')
  if (fromUrl !== null && !PREFIX.test(fromUrl)) {
    throw new Error('STORE_URL: the prefix parameter must be 1-64 letters, digits or _ : . { } -')
  }
  const rest = params.toString()
  return { url: url.slice(0, q) + (rest ? `?${rest}` : ''), keyPrefix: keyPrefix ?? fromUrl ?? DEFAULT_REDIS_KEY_PREFIX }
}
