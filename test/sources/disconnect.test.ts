// The mapping tables of docs/GENESYS.md: every disconnectType and state the Genesys models list has
// an outcome for a ring, in both vocabularies.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  DETAIL_DISCONNECT_REASONS,
  disconnectReason,
  legEndReason,
  legPhase,
  TOPIC_DISCONNECT_REASONS,
} from '../../src/sources/disconnect.js'
import {
  ANALYTICS_DISCONNECT_TYPES,
  DETAIL_DISCONNECT_TYPES,
  TOPIC_DISCONNECT_TYPES,
  TOPIC_STATES,
} from '../fixtures/genesys/sdk-enums.js'

test('every disconnectType the conversation topic models list has its own row, and no row is invented', () => {
  assert.deepEqual(Object.keys(TOPIC_DISCONNECT_REASONS).sort(), [...TOPIC_DISCONNECT_TYPES].sort())
})

test('every disconnectType the detail event models list has its own row, and no row is invented', () => {
  assert.deepEqual(Object.keys(DETAIL_DISCONNECT_REASONS).sort(), [...DETAIL_DISCONNECT_TYPES].sort())
})

test("the analytics segments' spelling (noAnswerTransfer…) is understood too, value for value", () => {
  const same: Record<string, string> = {
    noAnswerTransfer: 'transfer.noanswer',
    notAvailableTransfer: 'transfer.notavailable',
    consultTransfer: 'transfer.consult',
    forwardTransfer: 'transfer.forward',
    conferenceTransfer: 'transfer.conference',
    transportFailure: 'transport.failure',
    dndEndpoint: 'endpoint.donotdisturb',
    dndTransfer: 'transfer.donotdisturb',
  }
  for (const value of ANALYTICS_DISCONNECT_TYPES)
    assert.equal(disconnectReason(value), disconnectReason(same[value] ?? value), value)
  for (const value of ANALYTICS_DISCONNECT_TYPES) assert.notEqual(disconnectReason(value), undefined, value)
})

test('an alert that ends: the outcome for each disconnectType, in both vocabularies', () => {
  const table: Array<[string, string, string]> = [
    // [topic value, detail value, outcome]
    ['transfer.noanswer', 'NO_ANSWER_TRANSFER', 'not-answered'],
    ['transfer.notavailable', 'NOT_AVAILABLE_TRANSFER', 'not-answered'],
    ['transfer', 'TRANSFER', 'transferred'],
    ['transfer.consult', 'CONSULT_TRANSFER', 'transferred'],
    ['transfer.forward', 'FORWARD_TRANSFER', 'transferred'],
    ['transfer.conference', 'CONFERENCE_TRANSFER', 'transferred'],
    ['client', 'CLIENT', 'declined'],
    ['endpoint', 'ENDPOINT', 'declined'],
    ['endpoint.donotdisturb', 'DND_ENDPOINT', 'declined'],
    ['transfer.donotdisturb', 'DND_TRANSFER', 'declined'],
    ['peer', 'PEER', 'abandoned'],
    ['timeout', 'TIMEOUT', 'ended'],
    ['system', 'SYSTEM', 'ended'],
    ['error', 'ERROR', 'ended'],
    ['transport.failure', 'TRANSPORT_FAILURE', 'ended'],
    ['spam', 'SPAM', 'ended'],
    ['uncallable', 'UNCALLABLE', 'ended'],
    ['other', 'OTHER', 'ended'],
  ]
  for (const [topic, detail, outcome] of table) {
    assert.equal(legEndReason(false, topic, false), outcome, topic)
    assert.equal(legEndReason(false, detail, false), outcome, detail)
  }
  assert.equal(disconnectReason('Transfer.NoAnswer'), 'not-answered', 'case does not matter')
  assert.equal(disconnectReason('something.new'), undefined)
})

test('after an answer every end is plain ended; the customer gone turns a vague end into abandoned, never a clear one', () => {
  for (const value of [...TOPIC_DISCONNECT_TYPES, ...DETAIL_DISCONNECT_TYPES])
    assert.equal(legEndReason(true, value, true), 'ended', value)
  assert.equal(legEndReason(false, undefined, true), 'abandoned')
  assert.equal(legEndReason(false, 'system', true), 'abandoned')
  assert.equal(legEndReason(false, 'something.new', true), 'abandoned')
  assert.equal(legEndReason(false, 'something.new', false), 'ended')
  assert.equal(legEndReason(false, 'transfer.noanswer', true), 'not-answered')
  assert.equal(legEndReason(false, 'client', true), 'declined')
})

test('only alerting rings the agent, for every media type; each other state the models list is named', () => {
  const expected: Record<string, string> = {
    alerting: 'ringing',
    connected: 'answered',
    disconnected: 'ended',
    terminated: 'ended',
  }
  for (const [media, states] of Object.entries(TOPIC_STATES)) {
    for (const state of states) assert.equal(legPhase(state), expected[state] ?? 'not-ringing', `${media}.${state}`)
  }
  assert.equal(legPhase('ALERTING'), 'ringing')
})
