// Device receipts from simulated phones: each phone's app reports what reached it, as README tells
// a real app to. Pushes travel to the phones under a delivery model (a delay; a phone that loses
// everything), and the admin view shows what the agent's phones really did.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { PhoneNetwork, ReceiptReporter } from '../../src/sim/phones/index.js'
import { startHarness, subscribed, waitFor, type Harness } from './harness.js'

const ADMIN = 'admin-token-for-phone-receipts'
let h: Harness
let network: PhoneNetwork
const reporters: ReceiptReporter[] = []

before(async () => {
  h = await startHarness({ ADMIN_TOKEN: ADMIN, UNREACHABLE_AFTER: '2' })
  network = new PhoneNetwork(h.world, { bundleId: h.world.bundleId, delivery: { delayMs: 120 } })
})
after(async () => {
  await Promise.all(reporters.map((r) => r.stop()))
  network.close()
  await h.close()
})

async function agentWith(
  phones: Array<{ registrations(): Array<Record<string, unknown>> } & ConstructorParameters<typeof ReceiptReporter>[0]>,
): Promise<{ userId: string; accessToken: string }> {
  const agent = h.world.genesys.addAgent({ name: 'Pia Phones' })
  for (const phone of phones) {
    for (const body of phone.registrations()) assert.equal((await h.register(agent.accessToken, body)).status, 201)
    reporters.push(new ReceiptReporter(phone, { gateway: h.api, accessToken: agent.accessToken }))
  }
  await subscribed(h, agent.userId)
  return agent
}

async function view(userId: string): Promise<{
  state: string
  devices: Array<{
    platform: string
    deviceId: string | null
    state: string
    missedInARow: number
    receiptLatencyMs: number | null
  }>
}> {
  const res = await fetch(`${h.api}/api/v1/admin/reachability`, { headers: { authorization: `Bearer ${ADMIN}` } })
  const body = (await res.json()) as { agents: Array<{ userId: string; state: string; devices: never[] }> }
  const agent = body.agents.find((a) => a.userId === userId)
  assert.ok(agent)
  return agent
}

test('every phone whose app gets the ring reports it; the gateway measures the delivery delay as receipt latency', async () => {
  const iphone = network.iphone({ name: 'iPhone', appState: 'background' })
  const android = network.android({ name: 'Android', appState: 'killed', doze: true })
  const browser = network.browser({ name: 'Browser', applicationServerKey: h.world.vapid.publicKey })
  const agent = await agentWith([iphone, android, browser])

  const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  await waitFor('three phones ringing', () => iphone.ringing() && android.ringing() && browser.ringing())
  const reported = await waitFor('three receipts answered 204', () => {
    const ok = reporters.filter((r) =>
      r.reports.some((x) => x.conversationId === conversationId && x.action === 'ring' && x.status === 204),
    )
    return ok.length === 3 && ok
  })
  assert.equal(reported.length, 3)
  h.world.genesys.abandon(conversationId)
  await waitFor('every phone stopped', () => !iphone.ringing() && !android.ringing() && !browser.ringing())

  const seen = await waitFor('the cancels reported', async () => {
    const v = await view(agent.userId)
    return v.devices.every((d) => d.state === 'reachable') && v
  })
  assert.equal(seen.state, 'reachable')
  for (const d of seen.devices) {
    assert.ok(
      d.receiptLatencyMs !== null && d.receiptLatencyMs >= 70,
      `${d.platform}: ${d.receiptLatencyMs} ms, about the 120 ms delivery delay (less the push service's answer to the gateway)`,
    )
    assert.ok(d.receiptLatencyMs < 5_000)
  }
})

test('a phone that loses every push stops reporting; after UNREACHABLE_AFTER missed rings the agent is unreachable, and a phone back on the network makes it reachable', async () => {
  const android = network.android({ name: 'Android in a basement', appState: 'background' })
  const agent = await agentWith([android])
  const ring = async (): Promise<string> => {
    const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'chat' })
    await waitFor('the ring accepted by FCM', () =>
      h.world.fcm.accepted.some(
        (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
      ),
    )
    return conversationId
  }
  const first = await ring()
  await waitFor('the first receipt', async () => (await view(agent.userId)).state === 'reachable')
  h.world.genesys.abandon(first)
  await waitFor('the first ring stopped', () => !android.ringing())

  network.setDelivery(android, { loss: 1 })
  for (let i = 1; i <= 2; i++) {
    const missed = await ring()
    assert.equal(android.ringing(), false, 'the push never reached the phone')
    h.world.genesys.abandon(missed)
    await waitFor(`miss ${i}`, async () => (await view(agent.userId)).devices[0]?.missedInARow === i)
  }
  assert.equal((await view(agent.userId)).state, 'unreachable')

  network.setDelivery(android, {})
  const back = await ring()
  await waitFor('reachable again', async () => (await view(agent.userId)).state === 'reachable')
  h.world.genesys.answer(back)
})
