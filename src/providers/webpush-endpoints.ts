// Which Web Push endpoints the gateway may contact. An endpoint is attacker-controlled input: anyone
// holding an agent token registers a URL and the gateway POSTs to it on every ring, so an open
// endpoint is a request-forgery tool into the gateway's own network (cloud metadata at
// 169.254.169.254, Redis, admin consoles). Two checks, both needed:
// - at registration and again before each send, the URL: https, a host on the allow-list (the push
//   services browsers use), no IP literal, no user name or password, port 443 unless the allow-list
//   entry names another;
// - at connect time, the addresses the host resolves to: none may be loopback, private, link-local,
//   CGNAT, unique-local or multicast. Checking the addresses the socket actually uses (not an
//   earlier lookup) is what stops DNS rebinding.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { BlockList, isIP } from 'node:net'
import { WEBPUSH_HOST_RULE } from '../config.js'

interface HostRule {
  /** Lower case; for a wildcard the suffix with its leading dot (`.notify.windows.com`). */
  host: string
  wildcard: boolean
  port: number
}

export type EndpointVerdict = { ok: true; endpoint: string } | { ok: false; reason: string }

export interface WebPushEndpointPolicyOptions {
  /** Allow-list entries (WEBPUSH_HOST_RULE): WEBPUSH_ALLOWED_HOSTS, by default the browsers' push services. */
  allowedHosts: readonly string[]
  /**
   * `host:port` of the project's own Web Push sandbox on loopback (tests, the demo): allowed, and its
   * host may resolve to a loopback address. Never read from the environment.
   */
  sandboxHosts?: readonly string[]
}

function parseRule(entry: string): HostRule {
  const text = entry.trim().toLowerCase()
  if (!WEBPUSH_HOST_RULE.test(text)) throw new Error(`not a host name: ${entry}`)
  const [name = '', port] = text.split(':')
  if (isIP(name.replace(/^\*\./, ''))) throw new Error(`an IP address is not a push service host: ${entry}`)
  const wildcard = name.startsWith('*.')
  return { host: wildcard ? name.slice(1) : name, wildcard, port: port === undefined ? 443 : Number(port) }
}

export class WebPushEndpointPolicy {
  private readonly rules: HostRule[]
  private readonly sandboxes: Set<string>

  constructor(options: WebPushEndpointPolicyOptions) {
    const sandbox = (options.sandboxHosts ?? []).map(parseRule)
    this.rules = [...options.allowedHosts.map(parseRule), ...sandbox]
    this.sandboxes = new Set(sandbox.map((r) => `${r.host}:${r.port}`))
  }

  /** The project's own sandbox (tests, demo): its connections skip the address check, nothing else does. */
  isSandbox(hostname: string, port: number): boolean {
    return this.sandboxes.has(`${hostname.toLowerCase()}:${port}`)
  }

  /** The normalised endpoint (stored as the device's token), or why it is refused. */
  check(endpoint: string): EndpointVerdict {
    let url: URL
    try {
      url = new URL(endpoint)
    } catch {
      return { ok: false, reason: 'must be an https URL' }
    }
    if (url.protocol !== 'https:') return { ok: false, reason: 'must be an https URL' }
    if (url.username || url.password) return { ok: false, reason: 'must not carry a user name or password' }
    // The URL parser has already turned decimal, octal and hex IPv4 spellings into dotted form.
    if (isIP(url.hostname.replace(/^\[|\]$/g, '')))
      return { ok: false, reason: 'must name a push service host, not an IP address' }
    const port = url.port === '' ? 443 : Number(url.port)
    const byHost = this.rules.filter((r) =>
      r.wildcard ? url.hostname.endsWith(r.host) && url.hostname.length > r.host.length : url.hostname === r.host,
    )
    if (byHost.length === 0)
      return {
        ok: false,
        reason: `host ${url.hostname.slice(0, 253)} is not a known push service (WEBPUSH_ALLOWED_HOSTS)`,
      }
    if (!byHost.some((r) => r.port === port))
      return { ok: false, reason: `port ${port} is not allowed for ${url.hostname}` }
    url.hash = ''
    return { ok: true, endpoint: url.href }
  }

  /**
   * A `lookup` for sockets (net/tls `lookup` option, undici's `connect.lookup`): resolves as usual,
   * then refuses the connection when any address is in a non-public range. Any, not all: a host
   * answering one public and one private address is not trusted.
   */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '')
      const refused = addresses.find((a) => isNonPublicAddress(a.address))
      if (refused) return callback(new PrivateAddressError(hostname, refused.address), '')
      if (options.all) return callback(null, addresses)
      const first = addresses[0]
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '')
      callback(null, first.address, first.family)
    })
  }
}

export class PrivateAddressError extends Error {
  readonly code = 'ERR_WEBPUSH_PRIVATE_ADDRESS'
  constructor(hostname: string, address: string) {
    super(`${hostname} resolves to a non-public address (${address}); refused`)
    this.name = 'PrivateAddressError'
  }
}

const NON_PUBLIC = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4')
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6')
}

/** IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses reach an IPv4 host: judge that one. */
function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address)
  if (!m) return undefined
  if (m[1]) return m[1]
  const high = parseInt(m[2] ?? '0', 16)
  const low = parseInt(m[3] ?? '0', 16)
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}

export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4')
  if (family !== 6) return true
  const v4 = embeddedIpv4(address)
  if (v4) return NON_PUBLIC.check(v4, 'ipv4')
  return NON_PUBLIC.check(address, 'ipv6')
}
