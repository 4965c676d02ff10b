// What the simulator emits for each flow, on the agents' conversation topics and as analytics detail
// events, is kept as one fixture per flow (test/fixtures/genesys/flows/<flow>.json) and must fit
// Genesys' SDK models. A change to the simulator's output shows here as a fixture difference;
// UPDATE_GENESYS_FIXTURES=1 rewrites the fixtures after a deliberate change (review the diff).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { FakeClock } from '../../../src/clock.js'
import { startGenesysSim, type EventBridgeEvent } from '../../../src/sim/genesys/index.js'
import { FLOWS, type Flow } from '../../support/genesys-flows.js'
import { modelOfTopic, modelProblems } from '../../support/genesys-sdk.js'

export interface FlowFixture {
  flow: string
  what: string
  events: Array<{ topicName: string; eventBody: Record<string, unknown> }>
}

const FIRST = '6d2a1c0e-8a3b-4c52-9f1e-2b7f0a4d9c11'
const SECOND = '1f3e5d7c-9b8a-4765-8432-10fedcba9876'
const QUEUE = '9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a'
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g

export const fixturePath = (flow: string): URL => new URL(`../../fixtures/genesys/flows/${flow}.json`, import.meta.url)

/** Random ids become stable ones, in order of appearance, so a run compares with the fixture. */
function stableIds(events: FlowFixture['events']): FlowFixture['events'] {
  const known = new Map<string, string>([FIRST, SECOND, QUEUE].map((id) => [id, id]))
  const text = JSON.stringify(events).replace(UUID, (id) => {
    let stable = known.get(id)
    if (!stable) known.set(id, (stable = `00000000-0000-4000-8000-${String(known.size - 2).padStart(12, '0')}`))
    return stable
  })
  return JSON.parse(text) as FlowFixture['events']
}

async function record(flow: Flow): Promise<FlowFixture> {
  const clock = new FakeClock(Date.UTC(2026, 0, 5, 9))
  const sim = await startGenesysSim({ clock })
  try {
    sim.addAgent({ userId: FIRST, name: 'Ada Agent' })
    sim.addAgent({ userId: SECOND, name: 'Bob Agent' })
    sim.addQueue({ id: QUEUE, name: 'Support' })
    const seen: EventBridgeEvent[] = []
    sim.eventBridge.subscribe((event) => seen.push(event))
    await flow.run({
      sim,
      agents: { first: FIRST, second: SECOND },
      queueId: QUEUE,
      ringing: () => Promise.resolve(),
      pause: () => Promise.resolve(clock.advance(2_000)),
    })
    // The agents' own topic and the detail events; the queue topic carries the same snapshots.
    const events = seen
      .filter((e) => !e.detail.topicName.startsWith('v2.routing.queues.'))
      .map((e) => ({ topicName: e.detail.topicName, eventBody: e.detail.eventBody }))
    return { flow: flow.name, what: flow.what, events: stableIds(events) }
  } finally {
    await sim.close()
  }
}

for (const flow of FLOWS) {
  test(`${flow.name}: the simulator emits the recorded topic snapshots and detail events, each fitting its SDK model`, async () => {
    const recorded = await record(flow)
    if (process.env.UPDATE_GENESYS_FIXTURES === '1')
      writeFileSync(fixturePath(flow.name), `${JSON.stringify(recorded, null, 2)}\n`)
    const fixture = JSON.parse(readFileSync(fixturePath(flow.name), 'utf8')) as FlowFixture
    assert.deepEqual(recorded, fixture)
    for (const [i, e] of recorded.events.entries()) {
      const model = modelOfTopic(e.topicName)
      assert.ok(model, `event ${i}: no model for ${e.topicName}`)
      assert.deepEqual(modelProblems(model, e.eventBody, `${flow.name}[${i}]`), [])
    }
    const kinds = recorded.events
      .map((e) => /\.(user\.start|user\.end|acd\.start|acd\.end)$/.exec(e.topicName)?.[1])
      .filter((k) => k !== undefined)
    assert.ok(
      kinds.includes('user.start') && (kinds.includes('user.end') || kinds.includes('acd.end')),
      'detail events for the agent',
    )
  })
}
