// Checks of configuration values that need more than a pattern: the credential files (an RSA key
// given as the APNs key, a Firebase web config given as the service account) and the Genesys
// region, so a mistake stops the start with a fix rather than failing on the first push.
// Each check returns the problem in words, or undefined when the value is right.
import { createPrivateKey } from 'node:crypto'

/** The region domains of Genesys Cloud (the SDK's PureCloudRegionHosts); docs/PLATFORMS.md "Regions". */
export const GENESYS_REGIONS = [
  'mypurecloud.com',
  'use2.us-gov-pure.cloud',
  'usw2.pure.cloud',
  'cac1.pure.cloud',
  'mxc1.pure.cloud',
  'sae1.pure.cloud',
  'mypurecloud.ie',
  'euw2.pure.cloud',
  'mypurecloud.de',
  'euc2.pure.cloud',
  'edee1.eusc-pure.cloud',
  'mec1.pure.cloud',
  'aps1.pure.cloud',
  'apse1.pure.cloud',
  'mypurecloud.jp',
  'apne2.pure.cloud',
  'apne3.pure.cloud',
  'mypurecloud.com.au',
] as const

export function checkGenesysRegion(value: string): string | undefined {
  const region = value.trim().toLowerCase()
  if ((GENESYS_REGIONS as readonly string[]).includes(region)) return undefined
  const bare = region
    .replace(/^https?:\/\//, '')
    .replace(/\/.*$/, '')
    .replace(/^(api|login|apps)\./, '')
  if (bare !== region && (GENESYS_REGIONS as readonly string[]).includes(bare)) {
    return `is the region's domain, without a scheme or "api."/"login." (the gateway adds those): use GENESYS_REGION=${bare}`
  }
  return `must be a Genesys Cloud region domain: one of ${GENESYS_REGIONS.join(', ')} (or set GENESYS_API_URL and GENESYS_LOGIN_URL)`
}

const P8_HINT =
  "download the key from Apple (Certificates, Identifiers & Profiles > Keys, with Apple Push Notifications service enabled): it is a .p8 file starting with '-----BEGIN PRIVATE KEY-----'"

/** APNs provider tokens are ES256: the key must be an EC P-256 private key in PKCS#8 PEM (Apple's .p8). */
export function checkApnsKey(pem: string): string | undefined {
  if (pem.includes('-----BEGIN EC PRIVATE KEY-----')) {
    return 'is an EC key in SEC1 form ("BEGIN EC PRIVATE KEY"); APNs needs PKCS#8: convert it with `openssl pkcs8 -topk8 -nocrypt -in <key.pem> -out AuthKey.p8`'
  }
  if (pem.includes('-----BEGIN RSA PRIVATE KEY-----'))
    return `is an RSA key; APNs signs with an EC P-256 key: ${P8_HINT}`
  if (pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) return `is encrypted with a passphrase; ${P8_HINT}`
  if (pem.includes('-----BEGIN CERTIFICATE-----') && !pem.includes('PRIVATE KEY')) {
    return `is a certificate; the gateway uses token authentication: ${P8_HINT}`
  }
  if (!pem.includes('-----BEGIN PRIVATE KEY-----'))
    return `is not a .p8 key (expected a PEM "BEGIN PRIVATE KEY" block): ${P8_HINT}`
  let key
  try {
    key = createPrivateKey(pem)
  } catch {
    return `holds a "BEGIN PRIVATE KEY" block that cannot be read: ${P8_HINT}`
  }
  if (key.asymmetricKeyType !== 'ec')
    return `is a${key.asymmetricKeyType === 'rsa' ? 'n' : ''} ${(key.asymmetricKeyType ?? 'unknown').toUpperCase()} key; APNs signs with an EC P-256 key: ${P8_HINT}`
  const curve = key.asymmetricKeyDetails?.namedCurve
  if (curve !== 'prime256v1')
    return `is an EC key on curve ${curve ?? 'unknown'}; APNs needs P-256 (prime256v1): ${P8_HINT}`
  return undefined
}

/**
 * The file Firebase calls the service-account key ("type": "service_account"). Two other Firebase
 * files look similar and are given by mistake: the web app config (apiKey, authDomain…) and the
 * Android app's google-services.json; neither can send.
 */
export function recogniseWrongFirebaseFile(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return 'is not a JSON object (expected the service-account key file)'
  const fields = json as Record<string, unknown>
  const howTo = 'the Firebase console, Project settings > Service accounts > Generate new private key'
  if ('apiKey' in fields || 'authDomain' in fields || 'messagingSenderId' in fields) {
    return `is a Firebase web app config (apiKey, authDomain…), not a service-account key: get the key from ${howTo}`
  }
  if ('project_info' in fields || 'client' in fields)
    return `is an Android app's google-services.json, not a service-account key: get the key from ${howTo}`
  if (fields.type !== undefined && fields.type !== 'service_account') {
    return `has "type": ${JSON.stringify(fields.type)}; expected "service_account" (get the key from ${howTo})`
  }
  return undefined
}

// Optimal string alignment distance: a swap of two neighbours (TOKNE/TOKEN) counts as one edit.
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[]
      const above = rows[i - 1] as number[]
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1)
    }
  }
  return (rows[a.length] as number[])[b.length] as number
}

/**
 * The known setting a variable name is a likely typo of, whatever its prefix (ADMIN_TOKNE,
 * LOG_LEVLE). Short names allow one edit, so the environment's own HOME is not taken for HOST.
 */
export function closestSetting(name: string, known: readonly string[]): string | undefined {
  const upper = name.toUpperCase()
  if (known.includes(name)) return undefined
  const allowed = upper.length >= 8 ? 2 : 1
  let best: { name: string; distance: number } | undefined
  for (const candidate of known) {
    if (Math.abs(candidate.length - upper.length) > allowed) continue
    const distance = editDistance(upper, candidate)
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { name: candidate, distance }
  }
  return best?.name
}
