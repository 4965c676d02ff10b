// The DynamoDB STORE_URL, apart from the tables: code that only needs to recognise or parse the URL
// (config, the composition root, migrate-store) must not load the AWS SDK, which only a DynamoDB
// store needs (it costs start-up time, and on Node 20 the SDK prints a support warning).

export interface DynamoTarget {
  tablePrefix: string
  region: string
  /** A DynamoDB-compatible endpoint (dynalite, DynamoDB Local, a VPC endpoint); default AWS's. */
  endpoint?: string
}

const TABLE_PREFIX = /^[A-Za-z0-9_.-]{1,200}$/
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/

export function isDynamoUrl(url: string): boolean {
  return url.startsWith('dynamodb://')
}

export function parseDynamoUrl(url: string): DynamoTarget {
  const match = /^dynamodb:\/\/([^/?]*)\/?(?:\?(.*))?$/.exec(url)
  const tablePrefix = decodeURIComponent(match?.[1] ?? '')
  if (!match || !TABLE_PREFIX.test(tablePrefix))
    throw new Error(
      'STORE_URL: dynamodb://<table-prefix>?region=<region>[&endpoint=<url>]; the prefix is 1-200 letters, digits, _ . or -',
    )
  const params = new URLSearchParams(match[2] ?? '')
  for (const key of params.keys())
    if (key !== 'region' && key !== 'endpoint')
      throw new Error(`STORE_URL: unknown parameter ${key} in a dynamodb:// URL (known: region, endpoint)`)
  const region = params.get('region') ?? ''
  if (!REGION.test(region))
    throw new Error('STORE_URL: a dynamodb:// URL needs ?region=<AWS region>, e.g. region=eu-west-1')
  const endpoint = params.get('endpoint') ?? undefined
  if (endpoint !== undefined && !/^https?:\/\/[^\s/?#]+\/?$/.test(endpoint))
    throw new Error('STORE_URL: endpoint must be an http(s) URL with no path, e.g. endpoint=http://127.0.0.1:8000')
  return { tablePrefix, region, ...(endpoint !== undefined && { endpoint: endpoint.replace(/\/$/, '') }) }
}
