// A listening Redis connection's check on itself. A subscriber only receives: on a path that went
// silent (a NAT or firewall forgot the idle flow, closing nothing) it waits forever, owing no reply
// that a timeout could miss. So it publishes a token of its own, on a command connection, and must
// hear it back. The device feed (redis-device-feed.ts) and the scale bus (scale/bus.ts) use it.
import { randomUUID } from 'node:crypto'

export class SelfProbe {
  private pending: { token: string; heard: () => void } | undefined

  /** `tokenPrefix` tells probes apart from the other messages of a channel they share. */
  constructor(private readonly tokenPrefix = '') {}

  /** A probe is out now. */
  get running(): boolean {
    return this.pending !== undefined
  }

  /** Every probe the subscriber hears (any instance's): only this probe's own token counts. */
  heard(message: string): void {
    if (message === this.pending?.token) this.pending.heard()
  }

  /**
   * Publishes a fresh token with `publish` and waits, `timeoutMs` from now, for heard() to see it.
   * A failed publish rejects: it says nothing about the subscriber, and each caller decides.
   */
  async run(publish: (token: string) => Promise<unknown>, timeoutMs: number): Promise<'heard' | 'lost'> {
    const mine = { token: `${this.tokenPrefix}${randomUUID()}`, heard: () => undefined as void }
    this.pending = mine
    let timer: NodeJS.Timeout | undefined
    try {
      const heard = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
        timer.unref()
        mine.heard = () => resolve(true)
      })
      await publish(mine.token)
      return (await heard) ? 'heard' : 'lost'
    } finally {
      clearTimeout(timer)
      if (this.pending === mine) this.pending = undefined
    }
  }
}
