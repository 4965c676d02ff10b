import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { FakeClock } from '../../src/clock.js'
import type { RoutingEvent } from '../../src/model.js'
import { ConversationNormaliser } from '../../src/sources/normalise.js'
import {
  AGENT_PID,
  CONV,
  OTHER_USER,
  QUEUE,
  USER,
  queueTopic,
  snapshot,
  userTopic,
  type Leg,
  type MediaKey,
} from '../fixtures/genesys/snapshots.js'

const T0 = Date.UTC(2026, 0, 1, 9)

function run(n: ConversationNormaliser, topic: string, body: unknown): RoutingEvent[] {
  return n.fromSnapshot(topic, body, T0, 'notifications')
}

function summary(events: RoutingEvent[]): string[] {
  return events.map((e) => (e.kind === 'ended' ? `ended:${e.reason}` : e.kind))
}

/** Feeds agent-leg states in order (customer state per step optional) and returns every event. */
function sequence(media: MediaKey, steps: Array<{ agent: Leg; customer?: Leg }>): RoutingEvent[] {
  const n = new ConversationNormaliser()
  return steps.flatMap((s) =>
    run(n, userTopic(), snapshot({ media, agents: [{ leg: s.agent }], customer: s.customer })),
  )
}

test('a real-shaped alerting voice snapshot is an offer with caller, queue and alert timeout', () => {
  const frame = JSON.parse(
    readFileSync(new URL('../fixtures/genesys/voice-alerting.json', import.meta.url), 'utf8'),
  ) as {
    topicName: string
    eventBody: unknown
  }
  const events = run(new ConversationNormaliser(), frame.topicName, frame.eventBody)
  assert.deepEqual(events, [
    {
      kind: 'offer',
      conversationId: CONV,
      userId: USER,
      participantId: AGENT_PID,
      mediaType: 'voice',
      queueId: QUEUE,
      callerDisplay: '+447700900123',
      occurredAt: T0,
      receivedAt: T0,
      source: 'notifications',
      alertingTimeoutMs: 8000,
    },
  ])
})

const MEDIA: Array<[MediaKey, RoutingEvent['mediaType']]> = [
  ['calls', 'voice'],
  ['callbacks', 'callback'],
  ['chats', 'chat'],
  ['messages', 'message'],
  ['emails', 'email'],
]

for (const [key, mediaType] of MEDIA) {
  test(`${mediaType}: offer then answer then hang-up gives offer, answered, ended`, () => {
    const events = sequence(key, [
      { agent: { state: 'alerting' } },
      { agent: { state: 'connected', connectedTime: '2026-01-01T09:00:05.000Z' } },
      { agent: { state: 'disconnected', disconnectType: 'client', disconnectedTime: '2026-01-01T09:03:00.000Z' } },
    ])
    assert.deepEqual(summary(events), ['offer', 'answered', 'ended:ended'])
    assert.ok(events.every((e) => e.mediaType === mediaType))
    assert.equal(events[1]?.occurredAt, Date.parse('2026-01-01T09:00:05.000Z'))
  })

  test(`${mediaType}: customer leaves while the agent is alerting is abandoned`, () => {
    const events = sequence(key, [
      { agent: { state: 'alerting' } },
      {
        agent: { state: 'disconnected', disconnectType: 'peer' },
        customer: { state: 'disconnected', disconnectType: 'client' },
      },
    ])
    assert.deepEqual(summary(events), ['offer', 'ended:abandoned'])
  })

  test(`${mediaType}: transfer, alert timeout, system timeout and decline while alerting are told apart`, () => {
    for (const [disconnectType, reason] of [
      ['transfer.forward', 'transferred'],
      ['transfer', 'transferred'],
      ['transfer.consult', 'transferred'],
      ['transfer.noanswer', 'not-answered'],
      ['timeout', 'ended'],
      ['client', 'declined'],
      ['endpoint', 'declined'],
    ] as const) {
      const events = sequence(key, [
        { agent: { state: 'alerting' } },
        { agent: { state: 'disconnected', disconnectType } },
      ])
      assert.deepEqual(summary(events), ['offer', `ended:${reason}`], disconnectType)
    }
  })
}

test('repeated identical snapshots produce one event', () => {
  const n = new ConversationNormaliser()
  const alerting = snapshot({ agents: [{ leg: { state: 'alerting' } }] })
  const events = [1, 2, 3].flatMap(() => run(n, userTopic(), alerting))
  assert.deepEqual(summary(events), ['offer'])
  const connected = snapshot({ agents: [{ leg: { state: 'connected' } }] })
  assert.deepEqual(summary([1, 2].flatMap(() => run(n, userTopic(), connected))), ['answered'])
})

test('the call routed back to the same agent is a new participant and a new offer', () => {
  const n = new ConversationNormaliser()
  const first = run(n, userTopic(), snapshot({ agents: [{ leg: { state: 'alerting' } }] }))
  const timedOut = run(
    n,
    userTopic(),
    snapshot({ agents: [{ leg: { state: 'disconnected', disconnectType: 'transfer.noanswer' } }] }),
  )
  const again = run(
    n,
    userTopic(),
    snapshot({
      agents: [
        { leg: { state: 'disconnected', disconnectType: 'transfer.noanswer' } },
        { pid: 'a1b2c3d4-0000-4000-8000-000000000004', leg: { state: 'alerting' } },
      ],
    }),
  )
  assert.deepEqual(summary([...first, ...timedOut, ...again]), ['offer', 'ended:not-answered', 'offer'])
  assert.equal(again[0]?.participantId, 'a1b2c3d4-0000-4000-8000-000000000004')
})

test('an alerting participant that disappears from the snapshot ends its ring', () => {
  const n = new ConversationNormaliser()
  run(n, userTopic(), snapshot({ agents: [{ leg: { state: 'alerting' } }] }))
  const gone = run(n, userTopic(), snapshot({ agents: [] }))
  assert.deepEqual(summary(gone), ['ended:ended'])
  const abandoned = new ConversationNormaliser()
  run(abandoned, userTopic(), snapshot({ agents: [{ leg: { state: 'alerting' } }] }))
  assert.deepEqual(
    summary(run(abandoned, userTopic(), snapshot({ agents: [], customer: { state: 'disconnected' } }))),
    ['ended:abandoned'],
  )
})

test('a ring that vanishes is ended with what the latest snapshot said about its caller', () => {
  const n = new ConversationNormaliser()
  const chat = (customerName: string) =>
    snapshot({ media: 'chats', customerName, customerAddress: '', agents: [{ leg: { state: 'alerting' } }] })
  assert.equal(run(n, userTopic(), chat('Guest'))[0]?.callerDisplay, 'Guest')
  // The customer names themself while the chat still rings: no new event, but the ring now knows them.
  assert.deepEqual(run(n, userTopic(), chat('Grace Hopper')), [])
  const gone = run(n, userTopic(), snapshot({ media: 'chats', agents: [] }))
  assert.deepEqual(summary(gone), ['ended:ended'])
  assert.equal(gone[0]?.callerDisplay, 'Grace Hopper')
  assert.equal(gone[0]?.queueId, QUEUE)
  assert.equal(gone[0]?.mediaType, 'chat')
})

test('a user topic hears only its own user; a queue topic hears every agent', () => {
  const body = snapshot({
    agents: [
      { leg: { state: 'alerting' } },
      { pid: 'a1b2c3d4-0000-4000-8000-000000000009', userId: OTHER_USER, leg: { state: 'alerting' } },
    ],
  })
  const mine = run(new ConversationNormaliser(), userTopic(), body)
  assert.deepEqual(
    mine.map((e) => e.userId),
    [USER],
  )
  const queue = run(new ConversationNormaliser(), queueTopic(), body)
  assert.deepEqual(queue.map((e) => e.userId).sort(), [USER, OTHER_USER].sort())
})

test('the same conversation heard on a user topic and a queue topic rings once', () => {
  const n = new ConversationNormaliser()
  const body = snapshot({ agents: [{ leg: { state: 'alerting' } }] })
  assert.equal(run(n, userTopic(), body).length + run(n, queueTopic(), body).length, 1)
})

test('per-media topics, whose participants carry state themselves, are understood', () => {
  const n = new ConversationNormaliser()
  const body = {
    id: CONV,
    participants: [
      { id: 'p-c', purpose: 'customer', address: 'tel:+15551234567', state: 'connected' },
      { id: AGENT_PID, purpose: 'agent', user: { id: USER }, queue: { id: QUEUE }, state: 'alerting' },
    ],
  }
  const events = run(n, userTopic(USER, '.calls'), body)
  assert.deepEqual(summary(events), ['offer'])
  assert.equal(events[0]?.mediaType, 'voice')
  assert.equal(events[0]?.callerDisplay, '+15551234567')
  assert.equal(events[0]?.queueId, QUEUE)
})

test('digital media show the customer name as caller display', () => {
  const events = run(
    new ConversationNormaliser(),
    userTopic(),
    snapshot({
      media: 'chats',
      customerName: 'Grace Hopper',
      customerAddress: '',
      agents: [{ leg: { state: 'alerting' } }],
    }),
  )
  assert.equal(events[0]?.callerDisplay, 'Grace Hopper')
})

test('malformed input returns nothing, is counted by kind, and never throws', () => {
  const n = new ConversationNormaliser()
  assert.deepEqual(run(n, 'v2.users.x.presence', snapshot({ agents: [] })), [])
  for (const body of [null, 42, 'x', [], {}, { id: 7, participants: [] }, { id: CONV, participants: {} }]) {
    assert.deepEqual(run(n, userTopic(), body), [])
  }
  assert.deepEqual(run(n, userTopic(), { id: CONV, participants: [null, { purpose: 'agent', userId: USER }] }), [])
  assert.deepEqual(n.rejected, { 'unknown-topic': 1, 'malformed-body': 7, 'malformed-participant': 1 })
  // A hostile getter must not escape either.
  const hostile = {
    id: CONV,
    get participants(): unknown[] {
      throw new Error('boom')
    },
  }
  assert.deepEqual(run(n, userTopic(), hostile), [])
})

test('ended conversations are forgotten after a while; trailing snapshots stay silent meanwhile', () => {
  const clock = new FakeClock(T0)
  const n = new ConversationNormaliser({ clock, limits: { endedTtlMs: 60_000 } })
  run(n, userTopic(), snapshot({ agents: [{ leg: { state: 'alerting' } }] }))
  run(n, userTopic(), snapshot({ agents: [{ leg: { state: 'disconnected', disconnectType: 'client' } }] }))
  assert.deepEqual(
    run(n, userTopic(), snapshot({ agents: [{ leg: { state: 'disconnected', disconnectType: 'client' } }] })),
    [],
  )
  assert.equal(n.tracked, 1)
  clock.advance(120_000)
  run(n, userTopic(), snapshot({ conversationId: 'other', agents: [] }))
  assert.equal(n.tracked, 0)
})

test('the number of tracked conversations is bounded', () => {
  const n = new ConversationNormaliser({ limits: { maxConversations: 3 } })
  for (let i = 0; i < 10; i++)
    run(n, userTopic(), snapshot({ conversationId: `c${i}`, agents: [{ leg: { state: 'alerting' } }] }))
  assert.equal(n.tracked, 3)
  n.forget('c9')
  assert.equal(n.tracked, 2)
})
