// Shared HTTP plumbing for every call to Genesys Cloud.
import { Agent, request, type Dispatcher } from 'undici'
import { GenesysApiError } from './errors.js'

/**
 * Region → base URLs. Genesys regions are host suffixes (mypurecloud.com, mypurecloud.ie,
 * usw2.pure.cloud, …): the REST API lives at api.<region>, OAuth at login.<region>.
 */
export function genesysUrls(region: string): { apiUrl: string; loginUrl: string } {
  const host = region
    .trim()
    .replace(/^https?:\/\//, '')
    .replace(/\/+$/, '')
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(host)) throw new Error(`invalid Genesys region: ${region}`)
  return { apiUrl: `https://api.${host}`, loginUrl: `https://login.${host}` }
}

/** Keep-alive agent for all Genesys HTTP. A private CA can be added (tests); verification is never off. */
export function createDispatcher(ca?: string): Dispatcher {
  return new Agent({
    keepAliveTimeout: 30_000,
    connections: 16,
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
    connect: ca ? { ca, rejectUnauthorized: true } : { rejectUnauthorized: true },
  })
}

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** Parsed JSON when the body was JSON, the raw text otherwise, undefined when empty. */
  body: unknown
}

/** One HTTP exchange; network failures become GenesysApiError(0). The body is always consumed. */
export async function exchange(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; dispatcher?: Dispatcher; timeoutMs?: number },
): Promise<HttpAnswer> {
  try {
    const res = await request(url, {
      method: init.method as Dispatcher.HttpMethod,
      headers: init.headers,
      body: init.body,
      dispatcher: init.dispatcher,
      signal: AbortSignal.timeout(init.timeoutMs ?? 15_000),
    })
    const text = await res.body.text()
    let body: unknown = undefined
    if (text.length > 0) {
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
    }
    return { status: res.statusCode, headers: res.headers, body }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new GenesysApiError(0, `Genesys unreachable (${new URL(url).host}): ${reason}`, { cause: err })
  }
}

/** Genesys error bodies are {message, code, status, ...}; keep the message, never the whole body. */
export function errorMessage(answer: HttpAnswer): string {
  const b = answer.body
  if (b && typeof b === 'object' && 'message' in b && typeof b.message === 'string') return b.message
  return `HTTP ${answer.status}`
}

export function header(answer: HttpAnswer, name: string): string | undefined {
  const v = answer.headers[name.toLowerCase()]
  return Array.isArray(v) ? v[0] : v
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
