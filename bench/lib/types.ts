// What a benchmark module is and what it hands back to the report.
import type { Progress } from './progress.js'

export type Scale = 'quick' | 'full'

export interface BenchContext {
  scale: Scale
  /** Repetitions of the measured part (each benchmark's default unless --runs was given). */
  runs: number | undefined
  progress: Progress
  redisUrl: string
  /** A scratch directory for this run (profiles, SQLite files); removed at the end. */
  tmpDir: string
  /** Also record a --cpu-prof profile where the benchmark supports it. */
  profile: boolean
}

export interface Chart {
  /** File name under bench/charts/. */
  file: string
  alt: string
  svg: string
}

export interface Headline {
  figure: string
  value: string
  target?: string
  /** undefined: no target, or not measurable in this run. */
  pass?: boolean
}

export interface BenchOutput {
  id: string
  title: string
  /** The figures (Markdown: tables and short notes). */
  markdown: string
  /** How it was measured, in a few sentences. */
  method: string
  charts: Chart[]
  headline: Headline[]
  /** Raw figures for bench/results.json. */
  data: unknown
  /** Set when the benchmark could not run yet (a missing product feature). */
  pending?: string
}

export interface Benchmark {
  id: string
  title: string
  /** Rough duration in seconds, for the ETA before the benchmark has started. */
  estimateS(scale: Scale): number
  run(ctx: BenchContext): Promise<BenchOutput>
}
