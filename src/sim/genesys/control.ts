// /sim/v1: unauthenticated control endpoints so the demo and benchmarks, in other processes,
// can drive the simulator. Not part of Genesys Cloud; only served by the simulator.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError, isRecord, optString, readJson, reqString, sendJson } from './http.js'
import type { GenesysSim } from './sim.js'
import type { SimMediaType } from './conversations.js'

function bodyOf(raw: unknown): Record<string, unknown> {
  if (raw === undefined) return {}
  if (!isRecord(raw)) throw new HttpError(400, 'bad.request', 'Body must be a JSON object')
  return raw
}

function optNumber(record: Record<string, unknown>, key: string): number | undefined {
  const v = record[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, 'bad.request', `${key} must be a number`)
  return v
}

export async function handleControl(
  sim: GenesysSim,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const action = url.pathname.slice('/sim/v1/'.length)
  if (req.method === 'GET') {
    if (action === 'stats') {
      const s = sim.stats
      return sendJson(res, 200, { ...s, requests: Object.fromEntries(s.requests) })
    }
    if (action === 'channels') return sendJson(res, 200, sim.channels())
    throw new HttpError(404, 'not.found', `Unknown control resource: ${action}`)
  }
  if (req.method !== 'POST') throw new HttpError(405, 'bad.request', 'Control endpoints take GET or POST')
  const b = bodyOf(await readJson(req))
  const conv = (): string => reqString(b, 'conversationId')
  switch (action) {
    case 'clients': {
      const ttl = optNumber(b, 'tokenTtlS')
      return sendJson(
        res,
        200,
        sim.addClient({
          clientId: optString(b, 'clientId'),
          clientSecret: optString(b, 'clientSecret'),
          ...(ttl !== undefined ? { tokenTtlS: ttl } : {}),
        }),
      )
    }
    case 'agents':
      return sendJson(
        res,
        200,
        sim.addAgent({ name: optString(b, 'name'), userId: optString(b, 'userId'), email: optString(b, 'email') }),
      )
    case 'foreign-agents':
      return sendJson(
        res,
        200,
        sim.addForeignAgent({
          name: optString(b, 'name'),
          userId: optString(b, 'userId'),
          orgId: optString(b, 'orgId'),
        }),
      )
    case 'agent-tokens':
      return sendJson(res, 200, { accessToken: sim.issueAgentToken(reqString(b, 'userId'), optNumber(b, 'ttlS')) })
    case 'queues':
      return sendJson(res, 200, sim.addQueue({ name: reqString(b, 'name'), id: optString(b, 'id') }))
    case 'presence':
      sim.setPresence(reqString(b, 'userId'), reqString(b, 'systemPresence'))
      return sendJson(res, 204, undefined)
    case 'offer':
      return sendJson(
        res,
        200,
        sim.offer({
          userId: reqString(b, 'userId'),
          mediaType: (optString(b, 'mediaType') ?? 'voice') as SimMediaType,
          queueId: optString(b, 'queueId'),
          ani: optString(b, 'ani'),
          alertingTimeoutMs: optNumber(b, 'alertingTimeoutMs'),
        }),
      )
    case 'answer':
      sim.answer(conv())
      return sendJson(res, 204, undefined)
    case 'abandon':
      sim.abandon(conv())
      return sendJson(res, 204, undefined)
    case 'transfer':
      return sendJson(res, 200, sim.transfer(conv(), optString(b, 'toUserId')))
    case 'noAnswer':
      return sendJson(res, 200, sim.noAnswer(conv(), optString(b, 'nextUserId')))
    case 'consult':
      return sendJson(res, 200, sim.consult(conv(), reqString(b, 'toUserId')))
    case 'complete-consult':
      sim.completeConsult(conv())
      return sendJson(res, 204, undefined)
    case 'decline':
      sim.decline(conv())
      return sendJson(res, 204, undefined)
    case 'reoffer':
      return sendJson(res, 200, sim.reoffer(conv()))
    case 'end':
      sim.end(conv())
      return sendJson(res, 204, undefined)
    case 'eventbridge': {
      // Plays an EventBridge API destination: every event from now on is POSTed to `url` (loopback only).
      const secret = optString(b, 'secret')
      const detailOnly = b.detailOnly === true
      try {
        sim.eventBridge.deliverTo({
          url: reqString(b, 'url'),
          ...(secret !== undefined && { headers: { 'x-webhook-secret': secret } }),
          ...(detailOnly && { topics: (topic: string) => topic.startsWith('v2.detail.events.') }),
        })
      } catch (err) {
        if (err instanceof HttpError) throw err
        throw new HttpError(400, 'bad.request', err instanceof Error ? err.message : 'invalid url')
      }
      return sendJson(res, 204, undefined)
    }
    case 'drop-sockets':
      sim.dropSockets()
      return sendJson(res, 204, undefined)
    case 'socket-closing':
      sim.sendSocketClosing(optString(b, 'channelId'))
      return sendJson(res, 204, undefined)
    case 'down':
      sim.setDown(b.down !== false)
      return sendJson(res, 204, undefined)
    case 'fail-next': {
      const status = optNumber(b, 'status')
      if (status === undefined) throw new HttpError(400, 'bad.request', 'status is required')
      const retryAfterS = optNumber(b, 'retryAfterS')
      sim.failNext({
        method: optString(b, 'method'),
        pathPrefix: reqString(b, 'pathPrefix'),
        status,
        count: optNumber(b, 'count') ?? 1,
        ...(retryAfterS !== undefined ? { retryAfterS } : {}),
      })
      return sendJson(res, 204, undefined)
    }
    default:
      throw new HttpError(404, 'not.found', `Unknown control action: ${action}`)
  }
}
