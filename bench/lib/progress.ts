// Progress on stderr while the suite runs: which benchmark, how far it is, and when it (and the
// whole suite) should end. On a terminal one line is redrawn; otherwise (CI, a log file) a line is
// printed every 10 % or every 10 s, so a long run never looks hung.

export interface PlanItem {
  id: string
  estimateS: number
}

const BAR = 20

function clock(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '–:––'
  const m = Math.floor(s / 60)
  const sec = Math.round(s % 60)
  return `${m}:${String(sec).padStart(2, '0')}`
}

export class Progress {
  private index = -1
  private startedAt = 0
  private fraction = 0
  private detail = ''
  private lastDraw = 0
  private lastLoggedDecile = -1
  private lastLogAt = 0
  // Actual / estimated time of the benchmarks done so far: corrects the remaining estimates.
  private spentS = 0
  private estimatedDoneS = 0
  private readonly tty: boolean

  constructor(
    private readonly plan: PlanItem[],
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = out.isTTY === true
  }

  begin(id: string): void {
    this.index = this.plan.findIndex((p) => p.id === id)
    this.startedAt = performance.now()
    this.fraction = 0
    this.detail = 'starting'
    this.lastLoggedDecile = -1
    this.draw(true)
  }

  /** fraction of the current benchmark done (0..1) and what it is doing. */
  update(fraction: number, detail?: string): void {
    this.fraction = Math.max(0, Math.min(1, fraction))
    if (detail !== undefined) this.detail = detail
    this.draw(false)
  }

  /** A message that must not be overwritten (a warning, a result line). */
  note(text: string): void {
    if (this.tty) this.out.write('\r\x1b[2K')
    this.out.write(`${text}\n`)
    this.draw(true)
  }

  end(): void {
    const item = this.plan[this.index]
    const elapsed = (performance.now() - this.startedAt) / 1000
    if (item) {
      this.spentS += elapsed
      this.estimatedDoneS += item.estimateS
    }
    this.fraction = 1
    this.detail = `done in ${clock(elapsed)}`
    this.draw(true)
    if (this.tty) this.out.write('\n')
  }

  private draw(force: boolean): void {
    const now = performance.now()
    const item = this.plan[this.index]
    if (!item) return
    const elapsed = (now - this.startedAt) / 1000
    const calibration = this.estimatedDoneS > 0 ? this.spentS / this.estimatedDoneS : 1
    const guess = item.estimateS * calibration
    // Early on, the measured pace is noise: trust the estimate until 10 % is done.
    const remaining =
      this.fraction >= 0.1 ? (elapsed / this.fraction) * (1 - this.fraction) : Math.max(0, guess - elapsed)
    const later = this.plan.slice(this.index + 1).reduce((s, p) => s + p.estimateS * calibration, 0)
    const totalRemaining = remaining + later
    const total = this.spentS + elapsed + totalRemaining
    const overall = total > 0 ? (this.spentS + elapsed) / total : 0
    const pct = Math.round(this.fraction * 100)
    const filled = Math.round(this.fraction * BAR)
    const line =
      `bench [${this.index + 1}/${this.plan.length}] ${item.id.padEnd(9)} ` +
      `${'█'.repeat(filled)}${'░'.repeat(BAR - filled)} ${String(pct).padStart(3)}%  ETA ${clock(remaining)}` +
      `  · suite ${Math.round(overall * 100)}% ETA ${clock(totalRemaining)}  · ${this.detail}`
    if (this.tty) {
      if (!force && now - this.lastDraw < 100) return
      this.lastDraw = now
      const width = this.out.columns ?? 120
      this.out.write(`\r\x1b[2K${line.slice(0, width - 1)}`)
      return
    }
    const decile = Math.floor(this.fraction * 10)
    if (force || decile > this.lastLoggedDecile || now - this.lastLogAt > 10_000) {
      this.lastLoggedDecile = decile
      this.lastLogAt = now
      this.out.write(`${line}\n`)
    }
  }
}
