// Shared helpers for the simulator's tests: real HTTP calls and real WebSockets.
import WebSocket from 'ws'
import type { GenesysSim } from '../../../src/sim/genesys/index.js'

export interface Frame {
  topicName: string
  version?: string
  eventBody: Record<string, unknown>
  metadata?: { CorrelationId?: string }
}

export async function clientToken(sim: GenesysSim, creds = sim.addClient()): Promise<string> {
  const res = await fetch(`${sim.url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${creds.clientId}:${creds.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  })
  const body = (await res.json()) as { access_token: string }
  return body.access_token
}

export async function api(
  sim: GenesysSim,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined }
}

/** A channel's socket with every frame it received, and a way to wait for the next one that matches. */
export class Listener {
  readonly frames: Frame[] = []
  private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = []
  readonly closed: Promise<{ code: number }>

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame
      this.frames.push(f)
      this.waiters = this.waiters.filter((w) => (w.pred(f) ? (w.resolve(f), false) : true))
    })
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve({ code })))
  }

  next(pred: (f: Frame) => boolean, timeoutMs = 2000): Promise<Frame> {
    const seen = this.frames.find(pred)
    if (seen) {
      this.frames.splice(this.frames.indexOf(seen), 1)
      return Promise.resolve(seen)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs)
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer)
          this.frames.splice(this.frames.indexOf(f), 1)
          resolve(f)
        },
      })
    })
  }

  close(): void {
    this.ws.terminate()
  }
}

export function connect(uri: string, opts: WebSocket.ClientOptions = {}): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, opts)
    const l = new Listener(ws)
    ws.once('open', () => resolve(l))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

/** A channel subscribed to the given topics, with its socket open. */
export async function subscribedChannel(
  sim: GenesysSim,
  token: string,
  topics: string[],
): Promise<{ id: string; listener: Listener }> {
  const ch = (await api(sim, token, 'POST', '/api/v2/notifications/channels')).body as {
    id: string
    connectUri: string
  }
  const sub = await api(
    sim,
    token,
    'PUT',
    `/api/v2/notifications/channels/${ch.id}/subscriptions`,
    topics.map((id) => ({ id })),
  )
  if (sub.status !== 200) throw new Error(`subscribe failed: ${sub.status} ${JSON.stringify(sub.body)}`)
  return { id: ch.id, listener: await connect(ch.connectUri) }
}

export const isConversation = (f: Frame): boolean => f.topicName.includes('.conversations')
