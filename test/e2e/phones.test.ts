// What the agent sees on each phone, through the whole gateway: Genesys simulator → gateway →
// APNs/FCM/Web Push sandboxes → simulated phones. An agent has an iPhone (PushKit + alert token),
// an iPad (alert token), an Android phone and a browser; every phone must ring for a call and stop
// within a second of the abandon or of the answer on the iPhone, whatever state its app is in, on
// SQLite and on Redis.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import {
  PhoneNetwork,
  type AndroidAppState,
  type IosAppState,
  type SimulatedPhone,
} from '../../src/sim/phones/index.js'
import { startHarness, subscribed, waitFor, type Harness } from './harness.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const STOP_WITHIN_MS = 1_000

const STORES = [
  { name: 'SQLite', settings: (): Record<string, string> => ({}) },
  {
    name: 'Redis',
    settings: (prefix: string): Record<string, string> => ({ STORE_URL: `${REDIS_URL}?prefix=${prefix}` }),
  },
]

for (const store of STORES) {
  describe(`phones on ${store.name}`, () => {
    let h: Harness
    let network: PhoneNetwork
    const prefix = `test:phones:${randomUUID()}:`
    before(async () => {
      h = await startHarness(store.settings(prefix))
      network = new PhoneNetwork(h.world, { bundleId: h.world.bundleId })
    })
    after(async () => {
      network.close()
      await h.close()
      if (store.name !== 'Redis') return
      const admin = new Redis(REDIS_URL)
      const keys = await admin.keys(`${prefix}*`)
      if (keys.length > 0) await admin.del(...keys)
      await admin.quit()
    })

    async function agentWith(
      phones: Array<{ registrations(): Array<Record<string, unknown>> }>,
    ): Promise<{ userId: string; accessToken: string }> {
      const agent = h.world.genesys.addAgent()
      for (const phone of phones)
        for (const body of phone.registrations())
          assert.equal((await h.register(agent.accessToken, body)).status, 201, JSON.stringify(body))
      await subscribed(h, agent.userId)
      return agent
    }

    function fourPhones(state: IosAppState) {
      const iphone = network.iphone({ name: 'iPhone', appState: state })
      const ipad = network.iphone({ name: 'iPad', voip: false, appState: state })
      // A phone nobody touches goes into Doze: only high-priority messages wake it.
      const android = network.android({ name: 'Android', appState: state as AndroidAppState, doze: state === 'killed' })
      const browser = network.browser({ name: 'Browser', applicationServerKey: h.world.vapid.publicKey })
      return { iphone, ipad, android, browser, all: [iphone, ipad, android, browser] }
    }

    function cancelsPerToken(cid: string): Record<string, number> {
      const out: Record<string, number> = {}
      const count = (token: string): void => void (out[token] = (out[token] ?? 0) + 1)
      for (const a of h.world.apns.accepted)
        if (a.payload.genesys_conversation_id === cid && a.payload.action === 'cancel_ring') count(a.token)
      for (const m of h.world.fcm.accepted) {
        const data = (m.message.data ?? {}) as Record<string, string>
        if (data.genesys_conversation_id === cid && data.action === 'cancel_ring') count(String(m.message.token))
      }
      for (const w of h.world.webpush.accepted)
        if (w.payload?.genesys_conversation_id === cid && w.payload.action === 'cancel_ring') count(w.endpoint)
      return out
    }

    const ringingNow = (phones: SimulatedPhone[], cid: string): string[] =>
      phones.filter((p) => p.ringingConversations().includes(cid)).map((p) => p.name)

    /** Waits until none of `phones` rings for `cid`; returns how long that took. */
    async function stopped(phones: SimulatedPhone[], cid: string, since: number): Promise<number> {
      await waitFor(
        `${ringingNow(phones, cid).join(', ')} to stop ringing`,
        () => ringingNow(phones, cid).length === 0,
        STOP_WITHIN_MS * 3,
      )
      return Date.now() - since
    }

    for (const state of ['killed', 'background', 'foreground'] as const) {
      test(`${state} apps: a call rings every phone, and each stops within 1 s of the abandon`, async () => {
        const p = fourPhones(state)
        const agent = await agentWith(p.all)
        const { conversationId } = h.world.genesys.offer({
          userId: agent.userId,
          mediaType: 'voice',
          ani: 'tel:+15550100',
        })
        await waitFor('every phone to ring', () => ringingNow(p.all, conversationId).length === 4)
        assert.equal(p.iphone.calls.get(conversationId)?.state, 'ringing', 'the iPhone rings through CallKit')

        const abandonedAt = Date.now()
        h.world.genesys.abandon(conversationId)
        const tookMs = await stopped(p.all, conversationId, abandonedAt)
        assert.ok(
          tookMs <= STOP_WITHIN_MS,
          `every phone stopped ringing within ${STOP_WITHIN_MS} ms of the abandon (took ${tookMs} ms)`,
        )
        assert.equal(p.iphone.calls.get(conversationId)?.state, 'ended', 'the CallKit call was ended')
        await new Promise((r) => setTimeout(r, 150)) // room for a stray second cancel to show
        assert.deepEqual(
          cancelsPerToken(conversationId),
          {
            [p.iphone.alertToken!]: 1,
            [p.ipad.alertToken!]: 1,
            [p.android.token]: 1,
            [p.browser.subscription.endpoint]: 1,
          },
          "one cancel per phone, the iPhone's on its own alert token",
        )
        if (state !== 'foreground')
          assert.equal(p.iphone.shown.at(-1)?.title, 'Missed call from +15550100', 'the lock screen says what happened')
        assert.deepEqual(network.violations(), [])
      })

      test(`${state} apps: answered on the iPhone, the other phones stop within 1 s and the iPhone keeps its call`, async () => {
        const p = fourPhones(state)
        const agent = await agentWith(p.all)
        const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
        await waitFor('every phone to ring', () => ringingNow(p.all, conversationId).length === 4)

        const answeredAt = Date.now()
        p.iphone.answer(conversationId)
        // The app reports the answer with the token it was rung on; the gateway knows the rest of the phone.
        const res = await fetch(`${h.api}/api/v1/agent/answered/${conversationId}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ token: p.iphone.voipToken }),
        })
        assert.equal(res.status, 200)
        const tookMs = await stopped(p.all, conversationId, answeredAt)
        assert.ok(tookMs <= STOP_WITHIN_MS, `the other phones stopped within ${STOP_WITHIN_MS} ms (took ${tookMs} ms)`)
        h.world.genesys.answer(conversationId)
        await new Promise((r) => setTimeout(r, 150)) // Genesys's connect: it must not reach the iPhone either
        assert.equal(p.iphone.calls.get(conversationId)?.state, 'connected')
        const toIphone = h.world.apns.accepted.filter(
          (a) => p.iphone.tokens().includes(a.token) && a.payload.genesys_conversation_id === conversationId,
        )
        assert.deepEqual(
          toIphone.map((a) => a.payload.action),
          ['ring'],
          'the answering iPhone got its ring and nothing else',
        )
        assert.deepEqual(network.violations(), [])
      })

      test(`${state} app: an iPhone with only a PushKit token stops ringing through PushKit`, async () => {
        const iphone = network.iphone({ name: 'iPhone (VoIP only)', alert: false, appState: state })
        const agent = await agentWith([iphone])
        const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
        await waitFor('the iPhone to ring', () => iphone.ringing())
        const abandonedAt = Date.now()
        h.world.genesys.abandon(conversationId)
        const tookMs = await stopped([iphone], conversationId, abandonedAt)
        assert.ok(tookMs <= STOP_WITHIN_MS, `stopped within ${STOP_WITHIN_MS} ms (took ${tookMs} ms)`)
        const cancels = h.world.apns.accepted.filter(
          (a) => a.token === iphone.voipToken && a.payload.action === 'cancel_ring',
        )
        assert.equal(cancels.length, 1)
        assert.deepEqual(network.violations(), [], 'the cancel was reported to CallKit and ended')
      })
    }

    test('a chat rings both alert tokens, the Android phone and the browser, never PushKit, and they all stop', async () => {
      const p = fourPhones('background')
      const agent = await agentWith(p.all)
      const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
      await waitFor('every phone to ring', () => ringingNow(p.all, conversationId).length === 4)
      assert.equal(p.iphone.calls.size, 0, 'no CallKit call for a chat')
      h.world.genesys.abandon(conversationId)
      await stopped(p.all, conversationId, Date.now())
      assert.deepEqual(network.violations(), [])
    })

    test('apps registered without a deviceId ring and stop as before phones', async () => {
      const iphone = network.iphone({ name: 'old iPhone', deviceId: false, appState: 'background' })
      const android = network.android({ name: 'old Android', deviceId: false })
      const agent = await agentWith([iphone, android])
      const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
      await waitFor('both to ring', () => ringingNow([iphone, android], conversationId).length === 2)
      h.world.genesys.abandon(conversationId)
      await stopped([iphone, android], conversationId, Date.now())
      assert.deepEqual(network.violations(), [])
    })
  })
}

describe('IOS_CALL_CANCEL=voip', () => {
  let h: Harness
  let network: PhoneNetwork
  before(async () => {
    h = await startHarness({ IOS_CALL_CANCEL: 'voip' })
    network = new PhoneNetwork(h.world, { bundleId: h.world.bundleId })
  })
  after(async () => {
    network.close()
    await h.close()
  })

  test('a locked iPhone rung through PushKit is cancelled through PushKit and stops ringing', async () => {
    const iphone = network.iphone({ name: 'iPhone', appState: 'background' })
    const agent = h.world.genesys.addAgent()
    for (const body of iphone.registrations()) assert.equal((await h.register(agent.accessToken, body)).status, 201)
    await subscribed(h, agent.userId)
    const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
    await waitFor('the iPhone to ring', () => iphone.ringing())
    h.world.genesys.abandon(conversationId)
    await waitFor('the iPhone to stop ringing', () => !iphone.ringing(), STOP_WITHIN_MS)
    const cancels = h.world.apns.accepted.filter(
      (a) => a.payload.genesys_conversation_id === conversationId && a.payload.action === 'cancel_ring',
    )
    assert.deepEqual(
      cancels.map((a) => [a.token, a.headers['apns-push-type']]),
      [[iphone.voipToken, 'voip']],
    )
    assert.deepEqual(network.violations(), [])
  })
})
