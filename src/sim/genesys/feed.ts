// Every conversation change, as the simulator publishes it to the Notifications API, is also offered
// here: the event-stream hub (eventstream.ts, an API Genesys Cloud does not offer, see
// docs/PLATFORMS.md) and the EventBridge hub subscribe to it instead of re-deriving state.
import type { SimConversation } from './conversations.js'

export type ConversationChangeListener = (
  conversation: Readonly<SimConversation>,
  snapshot: Record<string, unknown>,
) => void

export class ConversationFeed {
  private readonly listeners = new Set<ConversationChangeListener>()

  subscribe(listener: ConversationChangeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  emit(conversation: SimConversation, snapshot: Record<string, unknown>): void {
    for (const l of this.listeners) l(conversation, snapshot)
  }
}
