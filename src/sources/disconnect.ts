// What Genesys' words for a media leg mean to a ring. Two vocabularies name why a leg ended:
// - the conversation topics (v2.users.{id}.conversations…, REST conversations): lower-case
//   `disconnectType`, e.g. `transfer.noanswer` (purecloud-platform-client-v2 ConversationEventTopicCall,
//   …Callback, …Chat, …Message, …Email: DisconnectTypeEnum);
// - the analytics detail events (v2.detail.events.conversation.{id}.user.end, .acd.end): upper-case,
//   kind first, e.g. `NO_ANSWER_TRANSFER` (UserEndDetailEventTopicUserEndEvent DisconnectTypeEnum).
// Genesys' "Disconnect reasons" article defines each one relative to the participant whose leg ended:
// "No Answer Transfer: a transfer after an alerting timeout", "Timeout: a system (dialing) timeout",
// "Client: the Genesys Cloud user interface caused the disconnect", "Peer: another participant caused
// the disconnect, for example the customer hung up". docs/GENESYS.md has the table in prose.
import type { EndReason } from '../model.js'

/** Why an alerting agent leg stopped, by the topics' disconnectType (every value the SDK models list). */
export const TOPIC_DISCONNECT_REASONS: Readonly<Record<string, EndReason>> = {
  endpoint: 'declined', // the agent's phone (desk phone, WebRTC) rejected or hung up the alert
  'endpoint.dnd': 'declined', // the agent's phone is in do-not-disturb (older SDKs spell it .dnd)
  'endpoint.donotdisturb': 'declined',
  client: 'declined', // Decline in the Genesys client
  system: 'ended',
  timeout: 'ended', // a system (dialling) timeout, not the agent's alert timing out
  transfer: 'transferred',
  'transfer.conference': 'transferred',
  'transfer.consult': 'transferred',
  'transfer.forward': 'transferred',
  'transfer.noanswer': 'not-answered', // the alert timed out; ACD offers the interaction to the next agent
  'transfer.notavailable': 'not-answered', // routed on because the agent was not available
  'transfer.dnd': 'declined',
  'transfer.donotdisturb': 'declined',
  'transport.failure': 'ended',
  error: 'ended',
  peer: 'abandoned', // another participant left: the customer hung up while the agent was alerting
  other: 'ended',
  spam: 'ended',
  uncallable: 'ended',
}

/** The same for the analytics detail events' disconnectType. */
export const DETAIL_DISCONNECT_REASONS: Readonly<Record<string, EndReason>> = {
  UNKNOWN: 'ended',
  ENDPOINT: 'declined',
  DND_ENDPOINT: 'declined',
  CLIENT: 'declined',
  SYSTEM: 'ended',
  TIMEOUT: 'ended',
  TRANSFER: 'transferred',
  CONFERENCE_TRANSFER: 'transferred',
  CONSULT_TRANSFER: 'transferred',
  FORWARD_TRANSFER: 'transferred',
  NO_ANSWER_TRANSFER: 'not-answered',
  NOT_AVAILABLE_TRANSFER: 'not-answered',
  DND_TRANSFER: 'declined',
  TRANSPORT_FAILURE: 'ended',
  ERROR: 'ended',
  PEER: 'abandoned',
  OTHER: 'ended',
  SPAM: 'ended',
  UNCALLABLE: 'ended',
}

/**
 * The same for the analytics details query's segments (AnalyticsConversationSegment), a third
 * spelling: camel case, kind last (noAnswerTransfer). Only the values the other two lack are here.
 */
export const ANALYTICS_DISCONNECT_REASONS: Readonly<Record<string, EndReason>> = {
  conferenceTransfer: 'transferred',
  consultTransfer: 'transferred',
  forwardTransfer: 'transferred',
  noAnswerTransfer: 'not-answered',
  notAvailableTransfer: 'not-answered',
  dndEndpoint: 'declined',
  dndTransfer: 'declined',
  transportFailure: 'ended',
}

/** The reason a disconnectType of any vocabulary names; undefined for a value no table knows. */
export function disconnectReason(disconnectType: string): EndReason | undefined {
  return (
    TOPIC_DISCONNECT_REASONS[disconnectType.toLowerCase()] ??
    DETAIL_DISCONNECT_REASONS[disconnectType.toUpperCase()] ??
    ANALYTICS_DISCONNECT_REASONS[disconnectType]
  )
}

/**
 * Why an agent leg ended, for the cancel of its ring. A leg that had connected was answered: its
 * ring is over already and the end is plain `ended`. A value that says nothing about the agent
 * (system, other, none at all, or one newer than this table) becomes `abandoned` when the customer
 * had already left, since the customer leaving is then what ended the alert.
 */
export function legEndReason(
  wasConnected: boolean,
  disconnectType: string | undefined,
  customerGone: boolean,
): EndReason {
  if (wasConnected) return 'ended'
  const reason = disconnectType === undefined ? undefined : disconnectReason(disconnectType)
  if (reason !== undefined && reason !== 'ended') return reason
  return customerGone ? 'abandoned' : 'ended'
}

/**
 * What a media entry's `state` means for the agent's phone. Only `alerting` rings the agent: the
 * interaction is offered to them and waits for Answer (calls, callbacks, chats, messages, emails
 * alike). The other live states the models list do not: `dialing` and `contacting` are the agent's
 * own outbound call (a callback being placed, a manual call), `offering` is the platform being
 * offered the interaction before anyone is alerted, `scheduled` a callback not yet due, `parked` an
 * email put aside, `transmitting`/`uploading`/`converting` an email or fax on its way, `none` nothing.
 */
export type LegPhase = 'ringing' | 'answered' | 'ended' | 'not-ringing'

export function legPhase(state: string): LegPhase {
  switch (state.toLowerCase()) {
    case 'alerting':
      return 'ringing'
    case 'connected':
      return 'answered'
    case 'disconnected':
    case 'terminated':
      return 'ended'
    default:
      return 'not-ringing'
  }
}
