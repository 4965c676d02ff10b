// fast-check arbitraries for the fuzz tests: request bodies of every kind, and Genesys-shaped
// conversation snapshots, Notifications frames and webhook events that are right in places and
// wrong in others (the inputs most likely to reach deep into the normaliser).
import fc from 'fast-check'
import { DETAIL_DISCONNECT_TYPES, TOPIC_DISCONNECT_TYPES, TOPIC_STATES } from '../fixtures/genesys/sdk-enums.js'

const MEDIA = [
  'calls',
  'callbacks',
  'chats',
  'messages',
  'emails',
  'videos',
  'socialExpressions',
  'cobrowsesessions',
  'screenshares',
]
// Every value the Genesys models list, plus spellings they do not.
const STATES = [...new Set(Object.values(TOPIC_STATES).flat()), 'ALERTING', '']
const DISCONNECT = [...TOPIC_DISCONNECT_TYPES, ...DETAIL_DISCONNECT_TYPES, 'transfer.unheard-of']

/** A value that is sometimes the right type and sometimes any JSON at all. */
const sometimes = <T>(right: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary: right }, { weight: 1, arbitrary: fc.jsonValue() })

export function conversation(users: string[]): fc.Arbitrary<unknown> {
  const id = fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }))
  const leg = fc.record(
    {
      id,
      state: sometimes(fc.constantFrom(...STATES)),
      disconnectType: sometimes(fc.constantFrom(...DISCONNECT)),
      connectedTime: sometimes(fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      held: fc.boolean(),
    },
    { requiredKeys: [] },
  )
  const participant = fc
    .record(
      {
        id,
        purpose: sometimes(fc.constantFrom('agent', 'customer', 'acd', 'user', 'external', 'ivr')),
        userId: sometimes(fc.constantFrom(...users, 'unknown-user')),
        queueId: sometimes(fc.uuid()),
        name: fc.string({ maxLength: 30 }),
        address: sometimes(fc.constantFrom('tel:+15550100', 'sip:x@y', '')),
        alertingTimeoutMs: sometimes(fc.integer()),
        state: sometimes(fc.constantFrom(...STATES)),
        mediaType: sometimes(fc.constantFrom('voice', 'chat', 'callback', 'message', 'email')),
        media: fc.constantFrom(...MEDIA),
        legs: fc.array(leg, { maxLength: 3 }),
      },
      { requiredKeys: ['media', 'legs'] },
    )
    .map(({ media, legs, ...rest }) => ({ ...rest, [media]: legs }))
  return fc.record(
    {
      id: sometimes(id),
      participants: sometimes(fc.array(participant, { maxLength: 5 })),
      name: fc.string({ maxLength: 10 }),
    },
    { requiredKeys: [] },
  )
}

export function topic(users: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc
      .constantFrom(...users)
      .chain((u) =>
        fc.constantFrom(
          `v2.users.${u}.conversations`,
          `v2.users.${u}.conversations.calls`,
          `v2.users.${u}.conversations.chats`,
          `v2.users.${u}.presence`,
        ),
      ),
    fc.uuid().map((q) => `v2.routing.queues.${q}.conversations`),
    fc.uuid().map((c) => `v2.detail.events.conversation.${c}.user.start`),
    fc.constantFrom(
      'channel.metadata',
      'v2.system.socket_closing',
      'v2.users..conversations',
      'v2.users.x.conversations.faxes',
      '',
    ),
    fc.string({ maxLength: 80 }),
  )
}

/** A Notifications API frame as text: mostly JSON with a topic, sometimes anything at all. */
export function frameText(users: string[]): fc.Arbitrary<string> {
  const frame = fc.record(
    {
      topicName: sometimes(topic(users)),
      version: fc.constant('2'),
      eventBody: fc.oneof(conversation(users), fc.jsonValue()),
      metadata: fc.record({ CorrelationId: fc.uuid() }),
    },
    { requiredKeys: [] },
  )
  return fc.oneof(
    { weight: 6, arbitrary: frame.map((f) => JSON.stringify(f)) },
    { weight: 1, arbitrary: fc.json() },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        '{',
        'null',
        '[]',
        '{"topicName":null}',
        '{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}',
        '\u0000\uffff',
        '{"__proto__":{"topicName":"x"}}',
      ),
    },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 5000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`) },
  )
}

export function eventBridgeEvent(users: string[]): fc.Arbitrary<unknown> {
  return fc.record(
    {
      version: fc.constant('0'),
      id: sometimes(fc.uuid()),
      'detail-type': sometimes(topic(users)),
      source: fc.constant('aws.partner/genesys.com/cloud/org/push'),
      time: sometimes(fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      detail: sometimes(
        fc.record(
          {
            topicName: sometimes(topic(users)),
            version: fc.constant('2'),
            eventBody: sometimes(conversation(users)),
            timestamp: sometimes(fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  )
}

export function eventStreamEvent(users: string[]): fc.Arbitrary<unknown> {
  return fc.record(
    {
      eventType: sometimes(
        fc.constantFrom(
          'routing.queue.member.added',
          'routing.queue.member.removed',
          'routing.conversation.created',
          'routing.conversation.updated',
          'routing.conversation.deleted',
        ),
      ),
      timestamp: sometimes(fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      data: sometimes(
        fc.record(
          {
            conversationId: sometimes(fc.uuid()),
            memberId: sometimes(fc.constantFrom(...users)),
            userId: sometimes(fc.constantFrom(...users)),
            mediaType: sometimes(fc.constantFrom('voice', 'chat', 'callback', 'message', 'email')),
            queueId: sometimes(fc.uuid()),
            conversation: conversation(users),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  )
}

/** Request bodies: absent, API-shaped with wrong bits, random JSON, prototype keys, deep, huge, binary. */
export function bodies(o: {
  tokens: string[]
  users: string[]
  conversations: string[]
}): fc.Arbitrary<Buffer | undefined> {
  const text = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Buffer> => a.map((v) => Buffer.from(JSON.stringify(v)))
  const token = fc.oneof(
    fc.constantFrom(...o.tokens),
    fc.stringMatching(/^[0-9a-fA-F]{0,300}$/),
    fc.string({ maxLength: 300 }),
    fc.constant('a'.repeat(5000)),
  )
  const registration = fc.record(
    {
      platform: sometimes(fc.constantFrom('ios', 'android', 'web', 'blackberry')),
      token: sometimes(token),
      pushType: sometimes(fc.constantFrom('voip', 'alert', 'background')),
      environment: sometimes(fc.constantFrom('production', 'sandbox', 'development')),
      appId: sometimes(fc.string({ maxLength: 300 })),
      userId: fc.constantFrom(...o.users),
      subscription: sometimes(
        fc.record(
          {
            endpoint: sometimes(fc.webUrl()),
            keys: sometimes(fc.record({ p256dh: fc.base64String(), auth: fc.base64String() })),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  )
  const answered = fc.record(
    {
      token: sometimes(token),
      siblingTokens: sometimes(fc.array(token, { maxLength: 10 })),
      participantId: sometimes(fc.string({ maxLength: 200 })),
    },
    { requiredKeys: [] },
  )
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 5, arbitrary: text(registration) },
    { weight: 3, arbitrary: text(answered) },
    { weight: 3, arbitrary: fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '{"__proto__":{"admin":true},"platform":"android"}',
          '{"constructor":{"prototype":{"isAdmin":true}}}',
          '{"platform":"android","platform":"ios"}',
          '{"a":1}garbage',
          '\ufeff{"platform":"android"}',
        )
        .map((s) => Buffer.from(s)),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 100, max: 10_000 }).map((n) => Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}`)),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 100, max: 10_000 }).map((n) => Buffer.from(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`)),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(15_000, 17_000, 300_000, 1_000_000)
        .map((n) => Buffer.from(JSON.stringify({ platform: 'android', token: 'a'.repeat(n) }))),
    },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)) },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 50 })
        .map((u) => Buffer.concat([Buffer.from('{"platform":"'), Buffer.from([0xff, 0xfe, ...u]), Buffer.from('"}')])),
    },
  )
}
