// Every Genesys fixture the tests read fits the models of Genesys' JavaScript SDK
// (purecloud-platform-client-v2): a field the model does not have, or a value it does not list,
// fails here, so the tests never build on a shape Genesys does not send.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { modelOfTopic, modelProblems, sdkModels } from '../support/genesys-sdk.js'
import { snapshot, type MediaKey } from '../fixtures/genesys/snapshots.js'

const dir = new URL('../fixtures/genesys/', import.meta.url)
const json = (name: string): unknown => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as unknown

/** The frames of a fixture file: a flow's events, an EventBridge envelope, or a Notifications frame. */
function framesOf(value: unknown): Array<{ topicName: string; eventBody: unknown }> {
  const v = value as {
    events?: Array<{ topicName: string; eventBody: unknown }>
    detail?: { topicName: string; eventBody: unknown }
    topicName?: string
    eventBody?: unknown
  }
  if (Array.isArray(v.events)) return v.events
  if (v.detail) return [v.detail]
  if (typeof v.topicName === 'string') return [{ topicName: v.topicName, eventBody: v.eventBody }]
  return []
}

test('the checker reads the SDK and refuses an unknown field, a wrong type and an unlisted value', () => {
  assert.ok(sdkModels().get('ConversationEventTopicCall')?.has('disconnectType'))
  const call = { id: 'x', state: 'alerting', held: false }
  assert.deepEqual(modelProblems('ConversationEventTopicCall', call), [])
  assert.match(
    modelProblems('ConversationEventTopicCall', { ...call, startAlertingTime: '2026-01-01T00:00:00Z' }).join(),
    /startAlertingTime: not a field/,
    'a REST-only field',
  )
  assert.match(modelProblems('ConversationEventTopicCall', { ...call, held: 'no' }).join(), /expected a boolean/)
  assert.match(
    modelProblems('ConversationEventTopicCall', { ...call, disconnectType: 'noanswer' }).join(),
    /is not one of/,
  )
  assert.match(
    modelProblems('UserEndDetailEventTopicUserEndEvent', { disconnectType: 'transfer.noanswer' }).join(),
    /is not one of/,
    'the topic vocabulary on a detail event',
  )
  assert.match(
    modelProblems('ConversationEventTopicConversation', {
      participants: [{ purpose: 'agent', calls: [{ state: 'ringing' }] }],
    }).join(),
    /participants\[0\]\.calls\[0\]\.state/,
  )
})

test('every fixture file under test/fixtures/genesys fits its SDK model', () => {
  const files = [
    ...readdirSync(dir).filter((f) => f.endsWith('.json')),
    ...readdirSync(new URL('flows/', dir)).map((f) => `flows/${f}`),
  ]
  assert.ok(files.length >= 10, 'the flow fixtures are there')
  for (const file of files) {
    const frames = framesOf(json(file))
    assert.ok(frames.length > 0, `${file}: no frames`)
    for (const [i, f] of frames.entries()) {
      const model = modelOfTopic(f.topicName)
      assert.ok(model, `${file}[${i}]: no model for ${f.topicName}`)
      assert.deepEqual(modelProblems(model, f.eventBody, `${file}[${i}]`), [])
    }
  }
})

test('the snapshots the unit tests build fit ConversationEventTopicConversation for every media type', () => {
  for (const media of ['calls', 'callbacks', 'chats', 'messages', 'emails'] as MediaKey[]) {
    const body = snapshot({
      media,
      customer: { state: 'disconnected', disconnectType: 'endpoint' },
      agents: [{ leg: { state: 'disconnected', disconnectType: 'peer' } }],
    })
    assert.deepEqual(modelProblems('ConversationEventTopicConversation', body), [], media)
  }
})
