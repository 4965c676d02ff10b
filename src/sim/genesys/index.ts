// The Genesys Cloud simulator's public surface (used by tests, the demo and benchmarks).
export { GenesysSim, startGenesysSim, type GenesysSimOptions, type GenesysSimStats } from './sim.js'
export type { Frame } from './notifications.js'
export { MAX_CHANNELS_PER_OWNER, MAX_TOPICS_PER_CHANNEL } from './notifications.js'
export type { SimConversation, SimParticipant, SimMedia, SimMediaType } from './conversations.js'
export { ConversationFeed, type ConversationChangeListener } from './feed.js'
export type { EventBridgeBus, EventBridgeEvent, EventBridgeTarget } from './eventbridge.js'
export { AGENT_APP_CLIENT_ID } from './oauth.js'
