// The Notifications API channels of one OAuth client and the topics each carries. Rules (Genesys
// Notifications API, see docs/PLATFORMS.md): 1000 topics per channel (more → 400), 20 channels per
// OAuth client (the 21st evicts the least recently used). So topic groups are packed onto as few
// channels as fit, largest first onto the emptiest, one ChannelLink per channel, and one channel is
// kept free: a make-before-break hand-over briefly needs a spare, and hand-overs go one at a time.
import type { ChannelLink } from './channel-link.js'

/** The organisation has more agents (or queues) than one OAuth client's channels can carry. */
export class TopicCapacityError extends Error {
  readonly code = 'SOURCE_TOPIC_CAPACITY'
  constructor(message: string) {
    super(message)
    this.name = 'TopicCapacityError'
  }
}

/** What a new link is given by its pool. */
export interface LinkSeams {
  index: number
  /** The topics the pool has assigned to the link right now. */
  topics: () => string[]
  /** Runs a hand-over after any other link's: the pool never holds more than one spare channel. */
  handOverLock: (fn: () => Promise<void>) => Promise<void>
}

export interface ChannelPoolOptions {
  maxTopicsPerChannel?: number
  maxChannels?: number
  newLink: (seams: LinkSeams) => ChannelLink
}

interface TopicGroup {
  topics: string[]
  link: ChannelLink
}

export class ChannelPool {
  private readonly links: ChannelLink[] = []
  /** Group key (`user:<id>` or `queue:<id>`) → its topics and the link that carries them. */
  private readonly groups = new Map<string, TopicGroup>()
  private readonly counts = new Map<ChannelLink, number>()
  private readonly perChannel: number
  private readonly usableChannels: number
  private handOvers: Promise<unknown> = Promise.resolve()

  constructor(private readonly options: ChannelPoolOptions) {
    this.perChannel = options.maxTopicsPerChannel ?? 1000
    // One channel stays free: a make-before-break hand-over needs it, and a 21st channel would
    // evict one of ours (Genesys evicts the least recently used).
    this.usableChannels = Math.max(1, (options.maxChannels ?? 20) - 1)
  }

  /**
   * Places every group on a link, creating as few links as fit; nothing connects until start().
   * Throws TopicCapacityError, before making any link, when the groups cannot fit.
   */
  pack(groups: Map<string, string[]>, { queuesWouldHelp }: { queuesWouldHelp: boolean }): void {
    const total = [...groups.values()].reduce((n, t) => n + t.length, 0)
    const needed = Math.max(1, Math.ceil(total / this.perChannel))
    if (needed > this.usableChannels) {
      throw new TopicCapacityError(
        `${total} Notifications API topics need ${needed} channels, but Genesys allows 20 channels of 1000 topics per OAuth client ` +
          `(one is kept free for hand-overs): use GENESYS_EVENT_SOURCE=webhook with the Amazon EventBridge integration` +
          (queuesWouldHelp ? ', or GENESYS_TOPICS=queues' : ''),
      )
    }
    for (let i = 0; i < needed; i++) this.links.push(this.newLink())
    // Largest first onto the emptiest link: channels end up evenly filled, with room to grow.
    for (const [key, topics] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
      let link = this.emptiest(topics.length)
      if (!link && this.links.length < this.usableChannels) this.links.push((link = this.newLink()))
      if (!link)
        throw new TopicCapacityError(
          `the topics of ${key} do not fit in ${this.usableChannels} channels: use GENESYS_EVENT_SOURCE=webhook (Amazon EventBridge)`,
        )
      this.assign(key, topics, link)
    }
  }

  /** Connects every link packed so far. */
  async start(): Promise<void> {
    await Promise.all(this.links.map((l) => l.start()))
  }

  async stop(): Promise<void> {
    await Promise.all(this.links.map((l) => l.stop()))
    this.links.length = 0
    this.groups.clear()
    this.counts.clear()
  }

  /**
   * Carries a new group on the emptiest link with room, or on a new link while channels remain.
   * False when every usable channel is full: the group is not heard.
   */
  async add(key: string, topics: string[]): Promise<boolean> {
    const link = this.emptiest(topics.length)
    if (link) {
      this.assign(key, topics, link)
      await link.add(topics)
      return true
    }
    if (this.links.length >= this.usableChannels) return false
    const fresh = this.newLink()
    this.links.push(fresh)
    this.assign(key, topics, fresh)
    await fresh.start()
    return true
  }

  /** Stops carrying a group: its link's topic set is replaced by what remains. */
  async remove(key: string): Promise<void> {
    const group = this.groups.get(key)
    if (!group) return
    this.groups.delete(key)
    this.counts.set(group.link, (this.counts.get(group.link) ?? 0) - group.topics.length)
    await group.link.resubscribe()
  }

  get size(): number {
    return this.links.length
  }

  get connected(): boolean {
    return this.links.length > 0 && this.links.every((l) => l.connected)
  }

  get topicCount(): number {
    return [...this.groups.values()].reduce((n, g) => n + g.topics.length, 0)
  }

  get reconnects(): number {
    return this.links.reduce((n, l) => n + l.reconnects, 0)
  }

  /** Every link, with its topic count. */
  list(): Array<{ link: ChannelLink; topics: number }> {
    return this.links.map((link) => ({ link, topics: this.counts.get(link) ?? 0 }))
  }

  private topicsOf(link: ChannelLink): string[] {
    const out: string[] = []
    for (const g of this.groups.values()) if (g.link === link) out.push(...g.topics)
    return out
  }

  private assign(key: string, topics: string[], link: ChannelLink): void {
    this.groups.set(key, { topics, link })
    this.counts.set(link, (this.counts.get(link) ?? 0) + topics.length)
  }

  /** The link with the fewest topics that has room for `size` more. */
  private emptiest(size = 0): ChannelLink | undefined {
    let best: ChannelLink | undefined
    let bestCount = Infinity
    for (const l of this.links) {
      const n = this.counts.get(l) ?? 0
      if (n + size <= this.perChannel && n < bestCount) [best, bestCount] = [l, n]
    }
    return best
  }

  private newLink(): ChannelLink {
    const link: ChannelLink = this.options.newLink({
      index: this.links.length,
      topics: () => this.topicsOf(link),
      handOverLock: (fn) => {
        const run = this.handOvers.then(fn)
        this.handOvers = run.catch(() => undefined)
        return run
      },
    })
    return link
  }
}
