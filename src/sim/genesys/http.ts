// Small HTTP helpers shared by the simulator's REST, login and control routes.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'

/** The Genesys ErrorBody (purecloud-platform-client-v2 model ErrorBody). */
export interface ErrorBody {
  message: string
  code: string
  status: number
  messageParams: Record<string, string>
  contextId: string
  details: unknown[]
  errors: unknown[]
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export function errorBody(status: number, code: string, message: string): ErrorBody {
  return { message, code, status, messageParams: {}, contextId: randomUUID(), details: [], errors: [] }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json' } : {}),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  })
  res.end(text)
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, errorBody(err.status, err.code, err.message), err.headers)
}

export async function readBody(req: IncomingMessage, limit = 2_000_000): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > limit) throw new HttpError(413, 'request.entity.too.large', 'Request entity is too large')
    chunks.push(buf)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req)
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new HttpError(
      400,
      'bad.request',
      'The request could not be understood by the server due to malformed syntax.',
    )
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function optString(record: Record<string, unknown>, key: string): string | undefined {
  const v = record[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new HttpError(400, 'bad.request', `${key} must be a string`)
  return v
}

export function reqString(record: Record<string, unknown>, key: string): string {
  const v = optString(record, key)
  if (v === undefined || v === '') throw new HttpError(400, 'bad.request', `${key} is required`)
  return v
}

export const iso = (ms: number): string => new Date(ms).toISOString()
