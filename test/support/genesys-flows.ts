// The interaction flows of docs/GENESYS.md, driven on the Genesys simulator: each says what happens
// and how every agent's ring must end. Shared by the fixture test (test/sim/genesys/flows.test.ts),
// which records what the simulator emits for each, and the end-to-end test
// (test/e2e/genesys-flows.test.ts), which checks the cancels on every push service.
import type { GenesysSim } from '../../src/sim/genesys/index.js'
import type { SimMediaType } from '../../src/sim/genesys/index.js'

export type FlowAgent = 'first' | 'second'

export interface FlowContext {
  sim: GenesysSim
  agents: Record<FlowAgent, string>
  queueId: string
  /** Resolves once `agent`'s phones ring for the conversation (nothing to wait for when recording). */
  ringing: (agent: FlowAgent, conversationId: string) => Promise<void>
  /** Lets time pass between two steps, as it would between a person's actions. */
  pause: () => Promise<void>
}

export interface Flow {
  name: string
  media: SimMediaType
  what: string
  /** How each agent's ring ends: the cancel's `reason`. */
  cancels: Partial<Record<FlowAgent, string>>
  run: (ctx: FlowContext) => Promise<string>
}

export const FLOWS: Flow[] = [
  {
    name: 'alert-timeout',
    media: 'voice',
    what: "the first agent's alert times out (transfer.noanswer); the queue offers the call to the second agent, who answers",
    cancels: { first: 'not-answered', second: 'answered' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'voice', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.noAnswer(conversationId, agents.second)
      await ringing('second', conversationId)
      await pause()
      sim.answer(conversationId)
      return conversationId
    },
  },
  {
    name: 'decline',
    media: 'chat',
    what: 'the agent declines the chat in the Genesys client',
    cancels: { first: 'declined' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'chat', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.decline(conversationId)
      return conversationId
    },
  },
  {
    name: 'blind-transfer',
    media: 'voice',
    what: 'the alerting call is transferred to the second agent, who answers',
    cancels: { first: 'transferred', second: 'answered' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'voice', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.transfer(conversationId, agents.second)
      await ringing('second', conversationId)
      await pause()
      sim.answer(conversationId)
      return conversationId
    },
  },
  {
    name: 'consult-transfer',
    media: 'voice',
    what: 'the first agent answers, consults the second, completes the transfer; the second answers and the call ends later',
    cancels: { first: 'answered', second: 'answered' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'voice', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.answer(conversationId)
      await pause()
      sim.consult(conversationId, agents.second)
      await ringing('second', conversationId)
      await pause()
      sim.completeConsult(conversationId)
      await pause()
      sim.answer(conversationId)
      await pause()
      sim.end(conversationId)
      return conversationId
    },
  },
  {
    name: 'abandon',
    media: 'voice',
    what: 'the customer hangs up while the agent is alerting',
    cancels: { first: 'abandoned' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'voice', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.abandon(conversationId)
      return conversationId
    },
  },
  {
    name: 'callback',
    media: 'callback',
    what: 'a callback alerts; the agent accepts it and the call to the customer is placed',
    cancels: { first: 'answered' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'callback', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.answer(conversationId)
      return conversationId
    },
  },
  {
    name: 'message',
    media: 'message',
    what: 'a web message alerts and the agent answers it',
    cancels: { first: 'answered' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'message', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.answer(conversationId)
      return conversationId
    },
  },
  {
    name: 'email',
    media: 'email',
    what: 'an email alerts and the agent answers it',
    cancels: { first: 'answered' },
    async run({ sim, agents, queueId, ringing, pause }) {
      const { conversationId } = sim.offer({ userId: agents.first, mediaType: 'email', queueId })
      await ringing('first', conversationId)
      await pause()
      sim.answer(conversationId)
      return conversationId
    },
  },
]
