// What the reliability, fuzz and security tests tried and what got through, one JSON file per trial
// under test-artifacts/reliability/. scripts/reliability-report.ts renders them as RELIABILITY.md
// and, in CI, checks that RELIABILITY.md still says what this run measured.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export type TrialArea = 'fault' | 'input' | 'security'

export interface Trial {
  /** Stable id, also the file name: `fault.genesys-socket-killed`. */
  id: string
  area: TrialArea
  /** The fault injected or the attack tried, as a reader would say it. */
  what: string
  /** How many times: a count fixed by the test's design, so the table is the same every run. */
  tried: number
  unit: string
  /** What the gateway promised and the test checked. */
  held: string
  /** Lost or let through (registrations lost, duplicate rings, open rings never ended, 5xx, crashes, requests let in). */
  lost: number
  /**
   * A loss the design accepts, with the reason (a platform rule): shown beside the figure in
   * RELIABILITY.md; the check then accepts `lost` > 0 for this trial only.
   */
  knownLimit?: string
  /** Measured figures that vary from run to run (timings, retries); not compared by the check. */
  observed?: string
  /** The test file, relative to the repository. */
  test: string
}

export const TRIALS_DIR = join(import.meta.dirname, '../../test-artifacts/reliability')

/** Writes the record; call it before asserting, so a failing run still shows what was lost. */
export function recordTrial(t: Omit<Trial, 'test'>, testFileUrl: string): void {
  mkdirSync(TRIALS_DIR, { recursive: true })
  const test = relative(join(import.meta.dirname, '../..'), fileURLToPath(testFileUrl))
  writeFileSync(join(TRIALS_DIR, `${t.id}.json`), `${JSON.stringify({ ...t, test }, null, 2)}\n`)
}

/** FUZZ_RUNS=n multiplies nothing: it sets the run count of every property (default: the CI size). */
export function fuzzRuns(ciDefault: number): number {
  const n = Number(process.env.FUZZ_RUNS)
  return Number.isInteger(n) && n > 0 ? n : ciDefault
}
