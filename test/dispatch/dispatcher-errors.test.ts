// Regression: a push whose payload cannot be built (here an offer time beyond what a Date holds,
// which a webhook once carried) failed inside the dispatcher and surfaced as an unhandled
// rejection that could take the process down. It must be one failed outcome among others.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeClock } from '../../src/clock.js'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import type { PushIntent, PushTarget } from '../../src/model.js'
import { createLogger, tokenPrefix } from '../../src/observability/logger.js'
import type { FcmSend, PushProvider } from '../../src/providers/provider.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { ProcessFaults } from '../support/process-faults.js'
import type { PushOutcome } from '../../src/outcomes.js'

test('a push whose payload cannot be built fails as an outcome, not an unhandled rejection, and other pushes go on', async () => {
  const clock = new FakeClock(Date.now())
  const sent: string[] = []
  // The provider is a collaborator here; what is under test is the dispatcher's handling.
  const fcm: PushProvider<FcmSend> = {
    name: 'fcm',
    send: async (m) => (sent.push(m.message.token), { kind: 'delivered' }),
    close: async () => {},
  }
  const outcomes: PushOutcome[] = []
  const lines: Array<Record<string, unknown>> = []
  const logger = createLogger(
    { level: 'debug' },
    {
      write: (s: string) =>
        void lines.push(
          ...s
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        ),
    },
  )
  const dispatcher = new Dispatcher({
    providers: { fcm },
    store: createMemoryStore({ clock }),
    clock,
    logger,
    payload: { apnsEnvironment: 'production', redactCaller: false },
    onOutcome: (o) => outcomes.push(o),
  })
  const target = (token: string): PushTarget => ({
    via: 'data',
    device: { userId: 'u', platform: 'android', token, registeredAt: clock.now() },
  })
  const intent = (offeredAt: number, token: string): PushIntent => ({
    action: 'ring',
    ring: { conversationId: 'c', userId: 'u', participantId: 'p', mediaType: 'voice', offeredAt },
    targets: [target(token)],
    expiresAt: clock.now() + 30_000,
  })
  const processFaults = new ProcessFaults()
  processFaults.start()
  try {
    const [bad] = await dispatcher.dispatch(intent(1e20, 'bad-token'))
    const [good] = await dispatcher.dispatch(intent(clock.now(), 'good-token'))
    await new Promise((r) => setImmediate(r))
    assert.equal(bad?.result.kind, 'failed')
    assert.match(bad?.result.kind === 'failed' ? bad.result.reason : '', /internal error/)
    assert.equal(good?.result.kind, 'delivered')
    assert.deepEqual(sent, ['good-token'])
    assert.equal(outcomes.length, 2, 'both outcomes are reported (counted and logged)')
    assert.deepEqual(processFaults.seen, [])
    const aboutBad = lines.filter((l) => l.device === tokenPrefix('bad-token'))
    assert.equal(aboutBad.length, 1, 'the failed push is logged once')
    assert.equal(aboutBad[0]?.msg, 'push not delivered')
    assert.equal(aboutBad[0]?.level, 50, 'at error level, a bug')
    assert.match(String((aboutBad[0]?.err as { stack?: string } | undefined)?.stack), /payloads/, 'with where it broke')
  } finally {
    processFaults.stop()
  }
})
