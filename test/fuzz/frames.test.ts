// Fuzzing what Genesys (or something pretending to be it) sends: conversation snapshots into the
// normaliser, event-stream events into their reader, and arbitrary WebSocket messages (JSON frames right in
// places and wrong in others, any JSON, non-JSON text, binary) down the gateway's live Notifications
// socket. Checked: nothing throws, every event produced is well formed, the socket is not dropped
// for it, and the gateway still rings and cancels a real call afterwards.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { FakeClock } from '../../src/clock.js'
import type { RoutingEvent } from '../../src/model.js'
import { MalformedEventError } from '../../src/sources/event-readers.js'
import { fromEventStreamEvent } from '../../src/sources/eventstream/events.js'
import { ConversationNormaliser } from '../../src/sources/normalise.js'
import { fcmToken, startHarness, subscribed, waitFor, type Harness } from '../e2e/harness.js'
import { fuzzRuns, recordTrial } from '../support/trials.js'
import { conversation, eventStreamEvent, frameText, topic } from './payloads.js'
import { ProcessFaults } from '../support/process-faults.js'

const USERS = ['3c6a0c55-2a8e-4f1e-9d6c-5a0f8c1e2b11', 'agent-b']
const KINDS = new Set(['offer', 'answered', 'ended'])
const MEDIA = new Set(['voice', 'chat', 'message', 'callback', 'email'])

function wellFormed(e: RoutingEvent): boolean {
  return (
    KINDS.has(e.kind) &&
    MEDIA.has(e.mediaType) &&
    [e.conversationId, e.userId, e.participantId].every((s) => typeof s === 'string' && s.length > 0) &&
    Number.isFinite(e.occurredAt)
  )
}

test('the normaliser takes any snapshot sequence without throwing and emits only well-formed events', async () => {
  let snapshots = 0
  const bad: string[] = []
  const check = fc.check(
    fc.property(
      fc.array(
        fc.tuple(
          topic(USERS),
          fc.oneof({ weight: 4, arbitrary: conversation(USERS) }, { weight: 1, arbitrary: fc.jsonValue() }),
        ),
        { minLength: 1, maxLength: 8 },
      ),
      (frames) => {
        const known = bad.length
        const clock = new FakeClock()
        const n = new ConversationNormaliser({ clock, limits: { maxConversations: 4 } })
        for (const [t, body] of frames) {
          snapshots++
          clock.advance(100)
          for (const e of n.fromSnapshot(t, body, clock.now(), 'notifications'))
            if (!wellFormed(e)) bad.push(JSON.stringify(e))
          if (n.tracked > 4) bad.push(`tracked ${n.tracked} conversations above the limit of 4`)
        }
        return bad.length === known
      },
    ),
    { numRuns: fuzzRuns(1500) },
  )
  assert.equal(
    check.failed,
    false,
    `${bad.slice(0, 3).join('\n')}\n${fc.defaultReportMessage(check) ?? ''}`.slice(0, 3000),
  )
  let eventStreamEvents = 0
  await fc.assert(
    fc.asyncProperty(eventStreamEvent(USERS), async (event) => {
      eventStreamEvents++
      const known = bad.length
      try {
        const events = await fromEventStreamEvent(event, {
          source: 'eventstream',
          receivedAt: Date.now(),
          openRings: async () => [],
        })
        for (const e of events) if (!wellFormed(e)) bad.push(JSON.stringify(e))
      } catch (err) {
        if (!(err instanceof MalformedEventError)) bad.push(`event-stream event threw ${String(err)}`)
      }
      return bad.length === known
    }),
    { numRuns: fuzzRuns(1000) },
  )
  recordTrial(
    {
      id: 'input.snapshots',
      area: 'input',
      what: 'Generated Genesys conversation snapshots (sequences of up to 8, right and wrong shapes, any JSON) into the normaliser; event-stream events into their reader',
      tried: snapshots > 0 ? fuzzRuns(1500) + fuzzRuns(1000) : 0,
      unit: 'sequences and events',
      held: 'no exception (event-stream events: MalformedEventError only), every event well formed, tracked conversations within the limit',
      lost: bad.length,
      observed: `${snapshots} snapshots, ${eventStreamEvents} event-stream events`,
    },
    import.meta.url,
  )
  assert.deepEqual(bad, [])
})

let h: Harness
before(async () => {
  h = await startHarness({ RING_TIMEOUT_S: '5' })
})
after(() => h.close())

test('arbitrary WebSocket messages on the live Notifications socket cost neither the socket nor the next ring', async () => {
  const agent = h.world.genesys.addAgent({ name: 'Frame Fuzz', userId: USERS[0] })
  const device = fcmToken()
  assert.equal((await h.register(agent.accessToken, { platform: 'android', token: device })).status, 201)
  await subscribed(h, agent.userId)
  const processFaults = new ProcessFaults()
  const faults = processFaults.seen
  processFaults.start()
  const before = h.gateway.source.status()
  const messages = fc.sample(
    fc.oneof(
      { weight: 9, arbitrary: frameText([agent.userId, 'agent-b']) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 500 }).map((u) => Buffer.from(u)) },
    ),
    fuzzRuns(2000),
  )
  for (const [i, m] of messages.entries()) {
    h.world.genesys.sendRawFrame(m)
    if (i % 200 === 0) await new Promise((r) => setImmediate(r))
  }
  // Frames on one socket are handled in order: once this call rings, every message above was read.
  const { conversationId } = h.world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
  const forCall = (action: string): number =>
    h.world.fcm.accepted.filter(
      (m) =>
        (m.message.data as Record<string, string>).genesys_conversation_id === conversationId &&
        (m.message.data as Record<string, string>).action === action,
    ).length
  const rang = await waitFor('the ring after the fuzzing', () => forCall('ring') === 1, 10_000).catch(() => false)
  h.world.genesys.answer(conversationId)
  const cancelled = await waitFor('its cancel', () => forCall('cancel_ring') === 1, 10_000).catch(() => false)
  const after = h.gateway.source.status()
  processFaults.stop()
  recordTrial(
    {
      id: 'input.websocket-frames',
      area: 'input',
      what: 'Generated messages on the live Notifications WebSocket: Genesys-shaped frames with wrong parts, any JSON, text, 5,000-deep nesting, binary',
      tried: messages.length,
      unit: 'messages',
      held: 'no crash or unhandled rejection, the socket kept (no reconnect), the next call rings once and is cancelled once',
      lost: faults.length + (after.reconnects - before.reconnects) + (rang ? 0 : 1) + (cancelled ? 0 : 1),
      observed: `${after.rejectedFrames - before.rejectedFrames} frames refused as not understood`,
    },
    import.meta.url,
  )
  assert.deepEqual(faults, [])
  assert.equal(after.reconnects, before.reconnects, 'the socket was not dropped for bad frames')
  assert.equal(after.connected, true)
  assert.ok(after.rejectedFrames > before.rejectedFrames, 'bad frames are counted')
  assert.equal(rang, true, 'the next call rings exactly once')
  assert.equal(cancelled, true, 'and is cancelled exactly once')
})
