// Percentiles and run-to-run spread. Percentiles use the nearest-rank method on sorted samples, so
// p99.9 of 40,000 samples is an observed value, never an interpolation between two.

export interface Distribution {
  n: number
  min: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort()
}

/** Nearest-rank percentile of already sorted values (q in [0, 1]). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1] as number
}

export function distribution(values: ArrayLike<number>): Distribution {
  const s = sortedCopy(values)
  let sum = 0
  for (const v of s) sum += v
  return {
    n: s.length,
    min: s.length ? (s[0] as number) : Number.NaN,
    mean: s.length ? sum / s.length : Number.NaN,
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    p999: quantile(s, 0.999),
    max: s.length ? (s[s.length - 1] as number) : Number.NaN,
  }
}

/** One figure measured in several runs: its median and the range the runs covered. */
export interface Spread {
  median: number
  min: number
  max: number
  runs: number[]
}

export function spread(runs: number[]): Spread {
  const s = sortedCopy(runs)
  const mid = s.length / 2
  const median =
    s.length === 0
      ? Number.NaN
      : s.length % 2
        ? (s[Math.floor(mid)] as number)
        : ((s[mid - 1] as number) + (s[mid] as number)) / 2
  return { median, min: s[0] ?? Number.NaN, max: s[s.length - 1] ?? Number.NaN, runs }
}

/** "1.23 ms (1.10–1.41)": the median of the runs and their range. */
export function fmtSpread(sp: Spread, fmt: (x: number) => string): string {
  if (sp.runs.length <= 1) return fmt(sp.median)
  return `${fmt(sp.median)} (${fmt(sp.min)}–${fmt(sp.max)})`
}

export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '–'
  if (x < 1) return `${x.toFixed(3)} ms`
  if (x < 10) return `${x.toFixed(2)} ms`
  if (x < 1000) return `${x.toFixed(1)} ms`
  return `${(x / 1000).toFixed(2)} s`
}

export function fmtInt(x: number): string {
  if (!Number.isFinite(x)) return '–'
  return Math.round(x).toLocaleString('en-US')
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–'
}

export function fmtMiB(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : '–'
}
