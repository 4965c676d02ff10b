// The seam for a later source: every conversation change, as the simulator publishes it to the
// Notifications API, is also offered here. The guide-style "Event Streams" compatibility service
// (not offered by Genesys Cloud, see docs/PLATFORMS.md) will subscribe to this feed instead of re-deriving
// state; it is not built yet.
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
