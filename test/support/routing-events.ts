// The routing events the ring engine's tests feed it: agent-1's leg part-1 of conv-1, a voice
// interaction from the Notifications source, stamped with the test's clock.
import type { Clock } from '../../src/clock.js'
import type { RoutingEvent } from '../../src/model.js'

export type TestEventKind = 'offer' | 'answered' | 'ended'

export function routingEvent(clock: Clock, kind: TestEventKind, extra: Partial<RoutingEvent> = {}): RoutingEvent {
  return {
    kind,
    conversationId: 'conv-1',
    userId: 'agent-1',
    participantId: 'part-1',
    mediaType: 'voice',
    occurredAt: clock.now(),
    receivedAt: clock.now(),
    source: 'notifications',
    ...(kind === 'ended' ? { reason: 'abandoned' } : {}),
    ...extra,
  } as RoutingEvent
}
