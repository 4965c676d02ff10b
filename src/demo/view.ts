// The demo's terminal view: one line per event and per push, with the end-to-end latency from
// the moment the simulated Genesys Cloud made the change to the moment the push service took it.
import { performance } from 'node:perf_hooks'
import type { RoutingEvent } from '../model.js'
import type { SimulatedPhone } from '../sim/phones/index.js'
import type { PushOutcome } from '../outcomes.js'

const tty = process.stdout.isTTY
const paint = (code: number) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s)
export const colour = {
  dim: paint(2),
  green: paint(32),
  yellow: paint(33),
  red: paint(31),
  cyan: paint(36),
  bold: paint(1),
  magenta: paint(35),
}

export class DemoView {
  private readonly started = performance.now()
  /** performance.now() of the Genesys change that should lead to a push, by conversation and action. */
  private readonly changes = new Map<string, number>()
  readonly latencies: number[] = []
  /** Push service accepted → the phone's app reported it (device receipts), ms. */
  readonly receipts: number[] = []
  private rings = 0
  private cancels = 0
  private failures = 0

  constructor(
    private readonly deviceNames: Map<string, string>,
    private readonly agentNames: Map<string, string>,
  ) {}

  private stamp(): string {
    return colour.dim(`+${((performance.now() - this.started) / 1000).toFixed(3).padStart(8)}s`)
  }

  line(who: string, text: string): void {
    process.stdout.write(`${this.stamp()}  ${who.padEnd(8)} ${text}\n`)
  }

  /** The demo is about to change a conversation in Genesys; pushes for it are timed from now. */
  genesysChange(conversationId: string, action: 'ring' | 'cancel_ring', text: string, at: number): void {
    this.changes.set(`${conversationId}:${action}`, at)
    this.line(colour.cyan('Genesys'), text)
  }

  event(e: RoutingEvent): void {
    const agent = this.agentNames.get(e.userId) ?? e.userId
    const what = e.kind === 'ended' ? `ended (${e.reason})` : e.kind
    this.line(colour.magenta('gateway'), colour.dim(`heard ${e.mediaType} ${what} for ${agent} via ${e.source}`))
  }

  /** A push service accepted a push (called from the sandboxes' own events). */
  accepted(
    service: 'APNs' | 'FCM' | 'Web Push',
    token: string,
    conversationId: string,
    action: string,
    detail: string,
    at: number,
  ): void {
    const t0 = this.changes.get(`${conversationId}:${action}`)
    const latency = t0 === undefined ? undefined : at - t0
    if (latency !== undefined) this.latencies.push(latency)
    if (action === 'ring') this.rings++
    else this.cancels++
    const device = this.deviceNames.get(token) ?? `${token.slice(0, 8)}…`
    const verb = action === 'ring' ? colour.green('ring  ') : colour.yellow('cancel')
    const ms =
      latency === undefined ? '' : colour.bold(`${latency.toFixed(1)} ms`) + colour.dim(' after the Genesys change')
    this.line(service, `${verb} → ${device.padEnd(34)} ${colour.dim(detail.padEnd(22))} ${ms}`)
  }

  /** What each agent sees: which phones ring now. */
  phones(phones: SimulatedPhone[], violations: number): void {
    const states = phones.map((p) => `${p.name} ${p.ringing() ? colour.green('ringing') : colour.dim('quiet')}`)
    this.line(
      'phones',
      `${states.join(colour.dim(' · '))}${violations > 0 ? colour.red(` (${violations} platform rule violations)`) : ''}`,
    )
  }

  /** The gateway counted a device receipt: the phone's app reported the push. */
  receipt(token: string, action: string, latencyMs: number | undefined): void {
    if (latencyMs !== undefined) this.receipts.push(latencyMs)
    const device = this.deviceNames.get(token) ?? `${token.slice(0, 8)}…`
    const verb = action === 'ring' ? colour.green('ring  ') : colour.yellow('cancel')
    const ms =
      latencyMs === undefined ? '' : colour.bold(`${Math.round(latencyMs)} ms`) + colour.dim(' push service → phone')
    this.line(colour.cyan('receipt'), `${verb} ← ${device.padEnd(34)} ${ms}`)
  }

  outcome(o: PushOutcome): void {
    if (o.result.kind === 'delivered') return
    this.failures++
    const device = this.deviceNames.get(o.target.device.token) ?? o.target.device.token.slice(0, 8)
    this.line(colour.red('failed'), `${o.intent.action} → ${device}: ${o.result.kind} (${o.result.reason})`)
  }

  summary(): string {
    const sorted = [...this.latencies].sort((a, b) => a - b)
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
    const fmt = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(1)} ms`)
    const receipts = [...this.receipts].sort((a, b) => a - b)
    const rpct = (p: number) => receipts[Math.min(receipts.length - 1, Math.floor((p / 100) * receipts.length))]
    return (
      `${this.rings} rings and ${this.cancels} cancels delivered, ${this.failures} failed; Genesys change → push accepted: p50 ${fmt(pct(50))}, p99 ${fmt(pct(99))}, max ${fmt(sorted.at(-1))} (${sorted.length} pushes); ` +
      `push accepted → phone reported: p50 ${fmt(rpct(50))}, max ${fmt(receipts.at(-1))} (${receipts.length} receipts)`
    )
  }
}
