// Which Notifications API topics the source subscribes: one per agent with a device
// (`v2.users.{id}.conversations`) or one per configured queue (`v2.routing.queues.{id}.conversations`),
// plus `v2.users.{id}.presence` per agent when the ring engine filters on presence. Topics travel in
// groups (an agent's, a queue's) that always share a channel, so an agent is heard whole or not at all.

export const userTopic = (userId: string): string => `v2.users.${userId}.conversations`
export const queueTopic = (queueId: string): string => `v2.routing.queues.${queueId}.conversations`
export const presenceTopic = (userId: string): string => `v2.users.${userId}.presence`
const PRESENCE_TOPIC = /^v2\.users\.([^.]+)\.presence$/

/** The agent whose presence topic this is, or undefined for any other topic. */
export function presenceTopicUser(topic: string): string | undefined {
  const match = PRESENCE_TOPIC.exec(topic)
  return match ? (match[1] ?? '') : undefined
}

export interface TopicChoice {
  /** GENESYS_TOPICS: per agent (`users`) or per queue (`queues`). */
  per: 'users' | 'queues'
  queueIds: readonly string[]
  /** Agents' presence topics too (PRESENCE_FILTER=soft). */
  presence: boolean
}

/** The group key of an agent's topics. */
export const agentGroup = (userId: string): string => `user:${userId}`

/** An agent's own topics: its conversations (per-agent topics) and its presence (when filtered on). */
export function agentTopics(userId: string, choice: TopicChoice): string[] {
  return [...(choice.per === 'queues' ? [] : [userTopic(userId)]), ...(choice.presence ? [presenceTopic(userId)] : [])]
}

/** Every topic group the source must carry: group key (`queue:<id>` or `user:<id>`) → its topics. */
export function topicGroups(userIds: Iterable<string>, choice: TopicChoice): Map<string, string[]> {
  const groups = new Map<string, string[]>()
  if (choice.per === 'queues') for (const q of choice.queueIds) groups.set(`queue:${q}`, [queueTopic(q)])
  for (const u of userIds) {
    const topics = agentTopics(u, choice)
    if (topics.length > 0) groups.set(agentGroup(u), topics)
  }
  return groups
}
