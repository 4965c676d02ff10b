import { test } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../../src/observability/logger.js'
import type { RecoveryReport } from '../../src/sources/gap-recovery.js'
import { NotificationsSource, type NotificationsSourceOptions } from '../../src/sources/notifications.js'
import { requests, world, type World } from '../genesys/helpers.js'
import { Events, OpenRings, ofConversation, until } from './helpers.js'

type Recovery = RecoveryReport & { downMs: number }

async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  o: {
    agents?: number
    sim?: Parameters<typeof world>[0]
    source?: Partial<NotificationsSourceOptions>
    before?: (w: World, agents: string[], rings: OpenRings) => void
  } = {},
): Promise<{
  w: World
  source: NotificationsSource
  events: Events
  rings: OpenRings
  agents: string[]
  recoveries: Recovery[]
}> {
  const w = await world({ maxRetries: 0, ...o.sim })
  const agents = Array.from({ length: o.agents ?? 2 }, () => w.sim.addAgent().userId)
  const events = new Events()
  const rings = new OpenRings()
  const recoveries: Recovery[] = []
  o.before?.(w, agents, rings)
  const source = new NotificationsSource({
    rest: w.rest,
    listUserIds: () => Promise.resolve(agents),
    listOpenRings: rings.list,
    onEvent: (e) => {
      rings.handler(e)
      events.handler(e)
    },
    onRecovery: (r) => void recoveries.push(r),
    logger: silentLogger(),
    wsOptions: { ca: w.ca },
    backoff: { initialMs: 20, maxMs: 200 },
    ...o.source,
  })
  t.after(async () => {
    await source.stop()
    await w.close()
  })
  await source.start()
  return { w, source, events, rings, agents, recoveries }
}

test('Genesys down for a "minute": the back-off schedule doubles to its cap, one attempt in flight per channel, then it reconnects', async (t) => {
  // Scaled: 20 ms doubling to 320 ms (the real 1 s → 30 s), random = 1 so each delay is its cap;
  // 6 channels (2 topics each) all dropped at once.
  const { w, source } = await setup(t, {
    agents: 12,
    source: { maxTopicsPerChannel: 2, backoff: { initialMs: 20, maxMs: 320, random: () => 1, healthyAfterMs: 60_000 } },
  })
  assert.equal(w.sim.channels().length, 6)
  const dropAt = Date.now()
  const before = w.sim.stats.channelRequests.length
  w.sim.setDown(true)
  w.sim.dropSockets()
  await new Promise((r) => setTimeout(r, 2_500))
  w.sim.setDown(false)
  await until(() => source.status().connected, 3_000)
  const reconnectedMs = Date.now() - dropAt

  const attempts = w.sim.stats.channelRequests.slice(before)
  const perChannel = new Map<string, number[]>()
  for (const a of attempts) perChannel.set(a.channelId, [...(perChannel.get(a.channelId) ?? []), a.at])
  assert.equal(perChannel.size, 6)
  for (const [, times] of perChannel) {
    times.sort((a, b) => a - b)
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0))
    // Expected caps after each failure: 40, 80, 160, 320, 320, … (the first attempt waited 20).
    gaps.forEach((gap, i) => {
      const cap = Math.min(320, 20 * 2 ** (i + 1))
      assert.ok(gap >= cap - 5, `attempt ${i + 2} came ${gap} ms after the previous one, before its ${cap} ms back-off`)
      assert.ok(
        gap <= cap + 400,
        `attempt ${i + 2} came ${gap} ms after the previous one, long after its ${cap} ms back-off`,
      )
    })
    assert.ok(times.length <= 12, `no storm: ${times.length} attempts in 2.5 s`)
  }
  assert.equal(w.sim.stats.maxConcurrentChannelRequests, 1, 'never two requests about one channel at once')
  assert.ok(w.sim.stats.maxConcurrentUpgradeAttemptsPerChannel <= 1)
  assert.ok(reconnectedMs < 2_500 + 320 + 1_000, `reconnected ${reconnectedMs} ms after the drop`)
  console.log(
    `# figure: Genesys down 2.5 s (scaled minute), all 6 channels reconnected ${reconnectedMs} ms after the drop (${reconnectedMs - 2_500} ms after Genesys came back, cap 320 ms)`,
  )
})

test('the WebSocket killed mid-ring: the abandoned call is cancelled and the offer made during the gap still rings', async (t) => {
  const { w, source, events, rings, agents, recoveries } = await setup(t, { sim: { heartbeatIntervalMs: 60_000 } })
  const [a, b] = [agents[0]!, agents[1]!]
  const ringing = w.sim.offer({ userId: a, mediaType: 'voice' })
  await events.next(ofConversation(ringing.conversationId, 'offer'))
  const answeredInGap = w.sim.offer({ userId: b, mediaType: 'chat' })
  await events.next(ofConversation(answeredInGap.conversationId, 'offer'))
  assert.equal(rings.size, 2)

  const dropAt = Date.now()
  w.sim.setDown(true)
  w.sim.dropSockets()
  await until(() => !source.status().connected)
  // During the gap (nothing is replayed by Genesys): one abandon, one answer, one new offer.
  w.sim.abandon(ringing.conversationId)
  w.sim.answer(answeredInGap.conversationId)
  const missed = w.sim.offer({ userId: b, mediaType: 'callback' })
  await new Promise((r) => setTimeout(r, 100))
  assert.ok(!events.all.some((e) => e.conversationId === missed.conversationId), 'nothing heard while down')
  w.sim.setDown(false)

  const ended = await events.next(ofConversation(ringing.conversationId, 'ended'), 5_000)
  assert.equal(ended.kind === 'ended' && ended.reason, 'abandoned')
  await events.next(ofConversation(answeredInGap.conversationId, 'answered'))
  const offer = await events.next(ofConversation(missed.conversationId, 'offer'))
  assert.equal(offer.participantId, missed.participantId)
  await until(() => recoveries.some((r) => r.reason.startsWith('reconnect')))
  const recovered = recoveries.find((r) => r.reason.startsWith('reconnect'))!
  const recoveredMs = Date.now() - dropAt
  assert.equal(recovered.offersRecovered, 1)
  assert.equal(recovered.ringsEnded, 1)
  assert.equal(recovered.ringsAnswered, 1)
  assert.equal(rings.size, 1, 'only the recovered offer is still ringing')
  console.log(
    `# figure: socket killed mid-ring: link down ${recovered.downMs} ms (100 ms of it with Genesys down), recovery took ${recovered.durationMs} ms, ${recovered.offersRecovered} offer recovered, ${recovered.ringsEnded} ended + ${recovered.ringsAnswered} answered ring(s) closed; drop → all rings right: ${recoveredMs} ms`,
  )

  // And the socket is live again.
  const after = w.sim.offer({ userId: a, mediaType: 'voice' })
  await events.next(ofConversation(after.conversationId, 'offer'))
})

test('a new lease holder starting while rings are open closes those that ended and rings offers already alerting', async (t) => {
  let stale = { conversationId: '', participantId: '' }
  let alerting = { conversationId: '', participantId: '' }
  const { events, rings, recoveries } = await setup(t, {
    before: (w, agents, rings) => {
      // Another instance rang this call; it was answered while no instance listened.
      stale = w.sim.offer({ userId: agents[0]!, mediaType: 'voice' })
      w.sim.answer(stale.conversationId)
      rings.add({
        conversationId: stale.conversationId,
        userId: agents[0]!,
        participantId: stale.participantId,
        mediaType: 'voice',
      })
      rings.add({ conversationId: 'gone-conversation', userId: agents[0]!, participantId: 'p-gone', mediaType: 'chat' })
      // Offered before this instance started, and still alerting.
      alerting = w.sim.offer({ userId: agents[1]!, mediaType: 'message' })
    },
  })
  await events.next(ofConversation(stale.conversationId, 'answered'))
  await events.next(ofConversation('gone-conversation', 'ended'))
  await events.next(ofConversation(alerting.conversationId, 'offer'))
  await until(() => recoveries.length > 0)
  assert.deepEqual(
    { checked: recoveries[0]!.openRingsChecked, offers: recoveries[0]!.offersRecovered, reason: recoveries[0]!.reason },
    { checked: 2, offers: 1, reason: 'start' },
  )
  assert.equal(rings.size, 1)
})

test('socket_closing under a stream of offers: the hand-over misses none and hears each once', async (t) => {
  const { w, source, events, agents } = await setup(t, { agents: 3 })
  const oldChannel = source.channelId
  const offered: string[] = []
  const stream = setInterval(
    () => offered.push(w.sim.offer({ userId: agents[offered.length % 3]!, mediaType: 'voice' }).conversationId),
    3,
  )
  await new Promise((r) => setTimeout(r, 30))
  w.sim.sendSocketClosing()
  await until(
    () => source.channelId !== oldChannel && !(w.sim.channels().find((c) => c.id === oldChannel)?.connected ?? false),
  )
  await new Promise((r) => setTimeout(r, 30))
  clearInterval(stream)
  for (const cid of offered) await events.next(ofConversation(cid, 'offer'))
  const offers = events.all.filter((e) => e.kind === 'offer')
  assert.equal(offers.length, offered.length, `${offered.length} offers, each heard exactly once`)
  assert.equal(source.status().reconnects, 0, 'a hand-over, not a reconnect')
})

test('before a channel expires it is handed over to a fresh one, with no reconnect and no missed offer', async (t) => {
  // The simulator's channels live 1.5 s here; the source hands over 1.2 s before expiry.
  const { w, source, events, agents } = await setup(t, {
    agents: 1,
    sim: { channelTtlMs: 1_500 },
    source: { renewBeforeMs: 1_200 },
  })
  const first = source.channelId
  await until(() => source.channelId !== first && source.status().connected)
  assert.equal(source.status().reconnects, 0)
  assert.equal(source.channels()[0]?.handOvers, 1)
  await until(() => !(w.sim.channels().find((c) => c.id === first)?.connected ?? false))
  const { conversationId } = w.sim.offer({ userId: agents[0]!, mediaType: 'voice' })
  await events.next(ofConversation(conversationId, 'offer'))
})

test('429 storms: channel creation rate-limited many times in a row still ends connected, honouring Retry-After', async (t) => {
  // The REST client retries a 429 three times after its Retry-After; the link's back-off does the rest.
  const { w, source, events, agents } = await setup(t, {
    sim: { maxRetries: 3 },
    before: (w) =>
      w.sim.failNext({
        method: 'POST',
        pathPrefix: '/api/v2/notifications/channels',
        status: 429,
        count: 6,
        retryAfterS: 0,
      }),
  })
  await until(() => source.status().connected, 5_000)
  assert.equal(requests(w.sim, 'POST /api/v2/notifications/channels'), 7)
  const { conversationId } = w.sim.offer({ userId: agents[0]!, mediaType: 'voice' })
  await events.next(ofConversation(conversationId, 'offer'))
  // A 429 storm during gap recovery: the GETs are retried later, the ring still ends.
  w.sim.failNext({ method: 'GET', pathPrefix: '/api/v2/conversations/', status: 429, count: 2, retryAfterS: 0 })
  w.sim.setDown(true)
  w.sim.dropSockets()
  await until(() => !source.status().connected)
  w.sim.abandon(conversationId)
  w.sim.setDown(false)
  await events.next(ofConversation(conversationId, 'ended'), 5_000)
  assert.ok(requests(w.sim, 'GET /api/v2/conversations/{conversationId}') >= 3, 'the rate-limited GETs were retried')
})

test('every media type is offered and answered through the Notifications source', async (t) => {
  const { w, events, agents } = await setup(t, { agents: 1 })
  for (const mediaType of ['voice', 'callback', 'chat', 'message', 'email'] as const) {
    const { conversationId } = w.sim.offer({ userId: agents[0]!, mediaType })
    const offer = await events.next(ofConversation(conversationId, 'offer'))
    assert.equal(offer.mediaType, mediaType)
    w.sim.answer(conversationId)
    await events.next(ofConversation(conversationId, 'answered'))
  }
})
