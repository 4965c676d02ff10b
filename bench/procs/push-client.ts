// Push clients under test, in their own process so process.cpuUsage() counts only the client:
// our APNs provider (createApnsProvider) and @parse/node-apn against the APNs sandbox, and our FCM
// provider against the FCM sandbox. Each client is created once and kept (as a server keeps it):
// the first run also pays for the TLS connection and the provider / access token, which a warm-up
// absorbs before anything is timed.
import { randomBytes } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { Agent, request } from 'undici'
import apn from '@parse/node-apn'
import type * as ApnsModule from '../../src/providers/apns.js'
import type * as FcmModule from '../../src/providers/fcm.js'
import type { ApnsMessage, FcmSend, PushProvider, SendResult } from '../../src/providers/provider.js'
import type * as LoggerModule from '../../src/observability/logger.js'
import type * as GoogleAuthModule from '../../src/providers/google-auth.js'
import type { ServiceAccountJson } from '../../src/sim/fcm/index.js'
import { failStart, serve } from '../lib/child.js'
import { productModule } from '../lib/product.js'

const { createApnsProvider } = await productModule<typeof ApnsModule>('providers/apns.js')
const { createFcmProvider } = await productModule<typeof FcmModule>('providers/fcm.js')
const { silentLogger } = await productModule<typeof LoggerModule>('observability/logger.js')
const { GoogleAccessTokenSource, FCM_SCOPE } = await productModule<typeof GoogleAuthModule>('providers/google-auth.js')

export interface PushClientArgs {
  ca: string
  apns: { url: string; keyId: string; teamId: string; privateKeyPem: string; topic: string }
  fcm: { url: string; serviceAccount: ServiceAccountJson }
  devices: number
}

export interface ThroughputRun {
  pushes: number
  delivered: number
  ms: number
  cpuUserMs: number
  cpuSystemMs: number
  firstError?: string
}

export type ApnsClientName = 'ours' | 'node-apn'
export type FcmClientName = 'ours' | 'undici'

const args = JSON.parse(Buffer.from(process.argv[2] ?? '', 'base64').toString('utf8')) as PushClientArgs
const logger = silentLogger()
const apnsTokens = Array.from({ length: args.devices }, () => randomBytes(32).toString('hex'))
const fcmTokens = Array.from(
  { length: args.devices },
  () => `${randomBytes(12).toString('base64url')}:APA91b${randomBytes(96).toString('base64url')}`,
)

// What a ring looks like on the wire (README "what arrives on the phone"): an alert with the
// custom keys beside aps.
function ringPayload(i: number): Record<string, unknown> {
  return {
    aps: {
      alert: { title: 'Incoming call', body: 'Call from +1 317 555 0123 (Support)' },
      sound: 'default',
      category: 'INCOMING_CALL',
      'interruption-level': 'time-sensitive',
    },
    action: 'ring',
    genesys_conversation_id: `6f1c2a7e-0b9d-4c1e-9a4f-${String(i).padStart(12, '0')}`,
    genesys_user_id: '3d1f6c0e-8a2b-4f5e-9c7d-1b2a3c4d5e6f',
    genesys_participant_id: '9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d',
    media_type: 'voice',
    timestamp: new Date().toISOString(),
    expires_at: new Date(Date.now() + 30_000).toISOString(),
    queue_id: '0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
    queue_name: 'Support',
    caller: '+1 317 555 0123',
  }
}

interface Client {
  sendAll(count: number, offset: number): Promise<{ delivered: number; firstError?: string }>
  close(): Promise<void>
}

// At most this many pushes in flight per client, the same for every client: node-apn opens a
// stream per push at once and overflows its own HTTP/2 session memory (ENHANCE_YOUR_CALM) with
// 10,000, and no gateway has that many pushes outstanding to one service.
const WINDOW = 1000

async function windowed<T>(count: number, send: (j: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count)
  let next = 0
  const lane = async (): Promise<void> => {
    for (let j = next++; j < count; j = next++) out[j] = await send(j)
  }
  await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, lane))
  return out
}

function ours<M extends ApnsMessage | FcmSend>(provider: PushProvider<M>, message: (i: number) => M): Client {
  return {
    async sendAll(count, offset) {
      const results: SendResult[] = await windowed(count, (i) => provider.send(message(offset + i)))
      const bad = results.find((r) => r.kind !== 'delivered')
      return {
        delivered: results.filter((r) => r.kind === 'delivered').length,
        ...(bad ? { firstError: `${bad.kind}: ${'reason' in bad ? bad.reason : ''}` } : {}),
      }
    },
    close: () => provider.close(),
  }
}

function oursApns(): Client {
  const provider = createApnsProvider({
    key: { keyId: args.apns.keyId, teamId: args.apns.teamId, privateKeyPem: args.apns.privateKeyPem },
    url: args.apns.url,
    ca: args.ca,
    logger,
  })
  const expiration = Math.floor(Date.now() / 1000) + 3600
  return ours(provider, (i) => ({
    provider: 'apns',
    token: apnsTokens[i % apnsTokens.length] as string,
    environment: 'sandbox',
    topic: args.apns.topic,
    pushType: 'alert',
    priority: 10,
    expiration,
    collapseId: `conv-${i}`,
    payload: ringPayload(i),
  }))
}

function nodeApn(): Client {
  const url = new URL(args.apns.url)
  const provider = new apn.Provider({
    token: { key: args.apns.privateKeyPem, keyId: args.apns.keyId, teamId: args.apns.teamId },
    production: false,
    address: url.hostname,
    port: Number(url.port),
    ca: [args.ca],
  })
  const expiry = Math.floor(Date.now() / 1000) + 3600
  return {
    async sendAll(count, offset) {
      // node-apn's own fan-out: one notification object per push here, as each ring differs.
      const sent = await windowed(count, (j) => {
        const i = offset + j
        const note = new apn.Notification()
        note.rawPayload = ringPayload(i)
        note.topic = args.apns.topic
        note.pushType = 'alert'
        note.priority = 10
        note.expiry = expiry
        note.collapseId = `conv-${i}`
        return provider.send(note, apnsTokens[i % apnsTokens.length] as string)
      })
      const delivered = sent.reduce((s, r) => s + r.sent.length, 0)
      const failed = sent.find((r) => r.failed.length > 0)?.failed[0]
      return { delivered, ...(failed ? { firstError: JSON.stringify(failed).slice(0, 300) } : {}) }
    },
    async close() {
      await provider.shutdown()
    },
  }
}

function fcmMessage(i: number): FcmSend {
  const data = Object.fromEntries(
    Object.entries(ringPayload(i))
      .filter(([k]) => k !== 'aps')
      .map(([k, v]) => [k, String(v)]),
  )
  return {
    provider: 'fcm',
    message: {
      token: fcmTokens[i % fcmTokens.length] as string,
      data: { ...data, title: 'Incoming call', body: 'Call from +1 317 555 0123 (Support)' },
      android: { priority: 'HIGH', ttl: '30s', collapse_key: `conv-${i}` },
    },
  }
}

function oursFcm(): Client {
  return ours(
    createFcmProvider({ serviceAccount: args.fcm.serviceAccount, url: args.fcm.url, ca: args.ca, logger }),
    fcmMessage,
  )
}

// The baseline: what a typical Node FCM integration does, one HTTP/1.1 keep-alive request per
// message through undici (4 connections), with the same cached access token as ours.
function undiciFcm(): Client {
  const agent = new Agent({ connections: 4, keepAliveTimeout: 60_000, connect: { ca: [...rootCertificates, args.ca] } })
  const auth = new GoogleAccessTokenSource({
    key: args.fcm.serviceAccount,
    scope: FCM_SCOPE,
    dispatcher: agent,
    logger,
    clock: { now: () => Date.now() },
  })
  const endpoint = `${args.fcm.url}/v1/projects/${encodeURIComponent(args.fcm.serviceAccount.project_id)}/messages:send`
  return {
    async sendAll(count, offset) {
      const token = await auth.get()
      const statuses = await windowed(count, async (i) => {
        const res = await request(endpoint, {
          method: 'POST',
          dispatcher: agent,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=UTF-8' },
          body: JSON.stringify({ message: fcmMessage(offset + i).message }),
        })
        await res.body.text()
        return res.statusCode
      })
      const bad = statuses.find((st) => st !== 200)
      return { delivered: statuses.filter((st) => st === 200).length, ...(bad ? { firstError: `HTTP ${bad}` } : {}) }
    },
    close: () => agent.close(),
  }
}

const clients = new Map<string, Client>()
let offset = 0

async function timed(name: string, make: () => Client, count: number, warm: number): Promise<ThroughputRun> {
  let client = clients.get(name)
  if (!client) {
    client = make()
    clients.set(name, client)
    const w = await client.sendAll(warm, offset)
    offset += warm
    if (w.delivered !== warm)
      throw new Error(`${name}: warm-up delivered ${w.delivered}/${warm}: ${w.firstError ?? ''}`)
  }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await client.sendAll(count, offset)
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  offset += count
  return {
    pushes: count,
    delivered: r.delivered,
    ms,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    ...(r.firstError ? { firstError: r.firstError } : {}),
  }
}

try {
  serve(
    { pid: process.pid },
    {
      apns: (a) => {
        const { client, count, warm } = a as { client: ApnsClientName; count: number; warm: number }
        return timed(`apns:${client}`, client === 'ours' ? oursApns : nodeApn, count, warm)
      },
      fcm: (a) => {
        const { client, count, warm } = a as { client: FcmClientName; count: number; warm: number }
        return timed(`fcm:${client}`, () => (client === 'ours' ? oursFcm() : undiciFcm()), count, warm)
      },
    },
    async () => {
      await Promise.all([...clients.values()].map((c) => c.close()))
    },
  )
} catch (err) {
  failStart(err)
}
