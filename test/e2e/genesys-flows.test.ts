// Every interaction flow of docs/GENESYS.md through the simulator and the whole gateway, heard two
// ways: on the Notifications API WebSocket (conversation topics) and, through the webhook, as the
// analytics detail events alone that an EventBridge integration would deliver. Each agent has an
// iPhone (PushKit and alert tokens), an Android phone and a browser; the cancel every device gets
// must say why the ring ended (`reason`), on APNs, FCM and Web Push alike.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FLOWS, type FlowAgent } from '../support/genesys-flows.js'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

const SECRET = 'webhook-secret-for-tests-0123456789'

interface Push {
  service: 'apns' | 'fcm' | 'webpush'
  action: string
  reason?: string
}

/** What each push service delivered to `userId`'s devices for one conversation. */
function pushesTo(h: Harness, conversationId: string, userId: string): Push[] {
  const out: Push[] = []
  const add = (service: Push['service'], keys: Record<string, unknown> | undefined): void => {
    if (keys?.genesys_conversation_id !== conversationId || keys.genesys_user_id !== userId) return
    out.push({ service, action: String(keys.action), ...(typeof keys.reason === 'string' && { reason: keys.reason }) })
  }
  for (const p of h.world.apns.accepted) add('apns', p.payload)
  for (const m of h.world.fcm.accepted) add('fcm', m.message.data as Record<string, unknown>)
  for (const w of h.world.webpush.accepted) add('webpush', w.payload)
  return out
}

const SERVICES: Array<Push['service']> = ['apns', 'fcm', 'webpush']

async function agentWithDevices(h: Harness, name: string, waitForTopic: boolean): Promise<string> {
  const agent = h.world.genesys.addAgent({ name })
  const sub = h.world.webpush.subscribe({ applicationServerKey: h.world.vapid.publicKey })
  for (const body of [
    { platform: 'ios', token: apnsToken(), pushType: 'voip', environment: 'sandbox' },
    { platform: 'ios', token: apnsToken(), pushType: 'alert', environment: 'sandbox' },
    { platform: 'android', token: fcmToken() },
    { platform: 'web', subscription: { ...sub, expirationTime: null } },
  ]) {
    const res = await h.register(agent.accessToken, body)
    assert.equal(res.status, 201, JSON.stringify(res.json))
  }
  if (waitForTopic) await subscribed(h, agent.userId)
  return agent.userId
}

for (const source of ['notifications', 'detail-events'] as const) {
  describe(`${source === 'notifications' ? 'Notifications API topics' : 'EventBridge detail events only'}: every flow cancels with the right reason on every push service`, () => {
    let h: Harness
    before(async () => {
      h = await startHarness(
        source === 'notifications'
          ? { RING_TIMEOUT_S: '60' }
          : { RING_TIMEOUT_S: '60', GENESYS_EVENT_SOURCE: 'webhook', WEBHOOK_SECRET: SECRET },
      )
      if (source === 'detail-events') {
        h.world.genesys.eventBridge.deliverTo({
          url: `${h.api}/api/v1/events`,
          headers: { 'x-webhook-secret': SECRET },
          topics: (topic) => topic.startsWith('v2.detail.events.'),
        })
      }
    })
    after(() => h.close())

    for (const flow of FLOWS) {
      test(`${flow.name} (${flow.media}): ${flow.what}`, async () => {
        const agents: Record<FlowAgent, string> = {
          first: await agentWithDevices(h, `${flow.name} first`, source === 'notifications'),
          second: await agentWithDevices(h, `${flow.name} second`, source === 'notifications'),
        }
        const queue = h.world.genesys.addQueue({ name: `${flow.name} queue` })
        const conversationId = await flow.run({
          sim: h.world.genesys,
          agents,
          queueId: queue.id,
          ringing: async (agent, cid) => {
            await waitFor(`${agent} agent's phones ringing`, () =>
              SERVICES.every((s) =>
                pushesTo(h, cid, agents[agent]).some((p) => p.service === s && p.action === 'ring'),
              ),
            )
          },
          pause: () => new Promise((r) => setTimeout(r, 20)),
        })
        for (const [agent, reason] of Object.entries(flow.cancels) as Array<[FlowAgent, string]>) {
          const userId = agents[agent]
          await waitFor(
            `the ${agent} agent's cancels on every service`,
            () =>
              SERVICES.every((s) =>
                pushesTo(h, conversationId, userId).some((p) => p.service === s && p.action === 'cancel_ring'),
              ),
            8_000,
          )
          const cancels = pushesTo(h, conversationId, userId).filter((p) => p.action === 'cancel_ring')
          assert.deepEqual(
            [...new Set(cancels.map((c) => c.reason))],
            [reason],
            `${agent} agent: ${JSON.stringify(cancels)}`,
          )
        }
        // An agent the flow never offered anything to was never rung.
        for (const agent of ['first', 'second'] as FlowAgent[]) {
          if (flow.cancels[agent] === undefined)
            assert.deepEqual(pushesTo(h, conversationId, agents[agent]), [], `${agent} agent`)
        }
        if (source === 'detail-events') {
          await h.world.genesys.eventBridge.drained()
          assert.equal(h.world.genesys.eventBridge.failures, 0, 'the webhook took every event')
        }
      })
    }
  })
}
