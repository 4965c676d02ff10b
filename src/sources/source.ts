// What every event source (Notifications API WebSocket, guide-style event stream, webhook) offers
// the rest of the gateway. A source only normalises Genesys wire formats into RoutingEvents.
import type { RoutingEvent, EventSourceName } from '../model.js'

export type RoutingEventHandler = (event: RoutingEvent) => void

export interface SourceStatus {
  name: EventSourceName
  /** True when the source can currently hear Genesys (every channel's socket is open). */
  connected: boolean
  channels: number
  topics: number
  reconnects: number
  /** Frames that were not understood (counted, logged once per kind). */
  rejectedFrames: number
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
