// Fault tests assert the process never saw an unhandled rejection or an uncaught exception while
// it was being broken: this records them (instead of letting one end the run) for the assertion.
export class ProcessFaults {
  readonly seen: string[] = []
  private readonly record = (err: unknown): void => void this.seen.push(String(err))

  start(): void {
    process.on('unhandledRejection', this.record)
    process.on('uncaughtException', this.record)
  }

  stop(): void {
    process.off('unhandledRejection', this.record)
    process.off('uncaughtException', this.record)
  }
}
