// What every event source (Notifications API WebSocket, event-stream WebSocket, webhook) offers
// the rest of the gateway. A source only normalises Genesys wire formats into RoutingEvents.
import type { RoutingEvent, EventSourceName } from '../model.js'
import type { SourceStatus } from '../outcomes.js'

// The sources import it from here, beside the interface that reports it.
export type { SourceStatus }

export type RoutingEventHandler = (event: RoutingEvent) => void

/**
 * An agent's system presence changed (from the v2.users.{id}.presence topic), for the ring
 * engine's presence filter. `systemPresence` as Genesys sent it; `changedAt` epoch ms.
 */
export type PresenceHandler = (userId: string, systemPresence: string, changedAt: number) => void

/** Where presence changes go (the ring engine's presence filter, src/ring/presence.ts). */
export interface PresenceSink {
  update(userId: string, systemPresence: string, changedAt: number): void
}

export interface EventSource {
  readonly name: EventSourceName
  start(): Promise<void>
  stop(): Promise<void>
  /** The registry gained an agent's first device: start hearing that agent. */
  addUser(userId: string): Promise<void>
  /** The agent's last device went: stop hearing that agent. */
  removeUser(userId: string): Promise<void>
  status(): SourceStatus
}
