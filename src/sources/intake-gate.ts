// Back-pressure from the ring engine to the WebSocket sources. Genesys pushes frames at whatever
// rate its conversations change; the gateway decides each event with a store round trip or two.
// When the gateway falls behind (a burst after a quiet spell, a store slower for a moment, a long
// pause of its own), reading every frame that arrived meanwhile starts thousands of decisions at
// once. Each keeps its snapshot, its ring and its pushes alive while it waits, so every young-generation
// GC copies them all: after a 1 s stall at 2,000 frames/s, scavenges grew from 5 to 30-100 ms and the
// gateway fell further behind before it caught up, about 2 s after the stall; sometimes it did not
// catch up at all (BENCHMARKS.md, "After a stall"). With the gate, a socket stops being read while
// EVENTS_MAX_IN_FLIGHT events are being decided, and is read again once half of them are done:
// the frames wait in the kernel's socket buffers and at Genesys (TCP flow control), which cost
// the gateway nothing, and the gateway works through them at its full rate.
//
// What is counted is decisions (store-bound), not pushes in flight (bound by the push services'
// latency): a slow push service must never stop the gateway from hearing the answers and hang-ups
// that cancel its rings. Frames already read when the gate closes are still handled: a socket
// read holds at most a few dozen.

export class IntakeGate {
  private deciding = 0
  private waiting: Array<() => void> = []
  /** Times a socket was paused because the gate was full (push_gateway_intake_pauses_total). */
  pauses = 0

  constructor(readonly maxInFlight: number) {}

  /** Events taken in and not yet decided. */
  get inFlight(): number {
    return this.deciding
  }

  get full(): boolean {
    return this.deciding >= this.maxInFlight
  }

  /** An event was taken in; call `decided()` once its decision is made. */
  taken(): void {
    this.deciding++
  }

  decided(): void {
    this.deciding--
    // Reopened at half the limit, not at the limit: a gateway at its limit would otherwise pause and
    // resume its sockets once per event.
    if (this.waiting.length > 0 && this.deciding <= this.maxInFlight >> 1) {
      const resume = this.waiting
      this.waiting = []
      for (const r of resume) r()
    }
  }

  /** A source stopped reading because the gate is full: `resume` is called once there is room again. */
  whenRoom(resume: () => void): void {
    this.pauses++
    this.waiting.push(resume)
  }
}
