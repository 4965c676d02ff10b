// Hand-written SVG charts (no chart library): a percentile plot for latency, in the style of
// HdrHistogram (the x axis stretches the tail: 50 %, 90 %, 99 %, 99.9 %), and bar charts with
// whiskers for figures measured over several runs.
import { quantile } from './stats.js'

const W = 720
const H = 360
const M = { top: 40, right: 24, bottom: 56, left: 72 }
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b']
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const n = (x: number): string => (Math.round(x * 10) / 10).toString()

function frame(title: string, body: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ${FONT} font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n')
}

/** Round axis maximum and tick step for values up to `max`. */
function niceScale(max: number, ticks = 5): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 }
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  return { top: Math.ceil(max / step) * step, step }
}

function fmtTick(v: number): string {
  if (v === 0) return '0'
  if (Math.abs(v) >= 1000) return `${n(v / 1000)}k`
  if (Math.abs(v) < 1) return v.toFixed(2).replace(/0+$/, '')
  return n(v)
}

export interface PercentileSeries {
  name: string
  /** Sorted ascending. */
  sorted: ArrayLike<number>
}

/** Latency against percentile; x = log10(1 / (1 - p)), so 90 %, 99 %, 99.9 % are evenly spaced. */
export function percentileChart(o: {
  title: string
  yLabel: string
  series: PercentileSeries[]
  target?: { value: number; label: string }
}): string {
  const maxNines = 3.5 // up to 99.97 %
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const points = (s: PercentileSeries): Array<[number, number]> => {
    const out: Array<[number, number]> = []
    for (let i = 0; i <= 200; i++) {
      const nines = (i / 200) * maxNines
      const p = 1 - 10 ** -nines
      out.push([nines, quantile(s.sorted, p)])
    }
    return out
  }
  const all = o.series.map(points)
  const ymax = Math.max(
    o.target?.value ?? 0,
    ...all
      .flat()
      .map(([, y]) => y)
      .filter(Number.isFinite),
  )
  const { top, step } = niceScale(ymax * 1.05)
  const x = (nines: number): number => M.left + (nines / maxNines) * pw
  const y = (v: number): number => M.top + ph - (v / top) * ph
  const parts: string[] = []
  for (let v = 0; v <= top + 1e-9; v += step) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${n(y(v))}" y2="${n(y(v))}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${M.left - 8}" y="${n(y(v) + 4)}" text-anchor="end">${fmtTick(v)}</text>`)
  }
  for (const [nines, label] of [
    [0, '0 %'],
    [0.30103, '50 %'],
    [1, '90 %'],
    [2, '99 %'],
    [3, '99.9 %'],
  ] as const) {
    parts.push(`<line x1="${n(x(nines))}" x2="${n(x(nines))}" y1="${M.top}" y2="${M.top + ph}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${n(x(nines))}" y="${M.top + ph + 18}" text-anchor="middle">${label}</text>`)
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">percentile</text>`)
  parts.push(
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  )
  if (o.target) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${n(y(o.target.value))}" y2="${n(y(o.target.value))}" stroke="#d62728" stroke-dasharray="6 4"/>`,
    )
    parts.push(
      `<text x="${W - M.right - 4}" y="${n(y(o.target.value) - 6)}" text-anchor="end" fill="#d62728">${esc(o.target.label)}</text>`,
    )
  }
  all.forEach((pts, i) => {
    const d = pts
      .filter(([, v]) => Number.isFinite(v))
      .map(([a, b], j) => `${j ? 'L' : 'M'}${n(x(a))} ${n(y(Math.min(b, top)))}`)
      .join(' ')
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`)
    const s = o.series[i] as PercentileSeries
    parts.push(
      `<rect x="${M.left + 12}" y="${M.top + 8 + i * 18}" width="14" height="3" fill="${COLORS[i % COLORS.length]}"/>`,
    )
    parts.push(
      `<text x="${M.left + 32}" y="${M.top + 13 + i * 18}">${esc(`${s.name} (n = ${s.sorted.length.toLocaleString('en-US')})`)}</text>`,
    )
  })
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`)
  return frame(o.title, parts.join('\n'))
}

export interface Bar {
  label: string
  value: number
  /** Run-to-run range, drawn as a whisker. */
  min?: number
  max?: number
  group?: number
}

/** Vertical bars with min–max whiskers; bars of the same `group` share a colour. */
export function barChart(o: {
  title: string
  yLabel: string
  bars: Bar[]
  target?: { value: number; label: string }
}): string {
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const ymax = Math.max(o.target?.value ?? 0, ...o.bars.map((b) => Math.max(b.value, b.max ?? 0)))
  const { top, step } = niceScale(ymax * 1.1)
  const y = (v: number): number => M.top + ph - (v / top) * ph
  const slot = pw / Math.max(1, o.bars.length)
  const bw = Math.min(90, slot * 0.6)
  const parts: string[] = []
  for (let v = 0; v <= top + 1e-9; v += step) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${n(y(v))}" y2="${n(y(v))}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${M.left - 8}" y="${n(y(v) + 4)}" text-anchor="end">${fmtTick(v)}</text>`)
  }
  parts.push(
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  )
  o.bars.forEach((b, i) => {
    const cx = M.left + slot * (i + 0.5)
    const color = COLORS[(b.group ?? i) % COLORS.length]
    parts.push(
      `<rect x="${n(cx - bw / 2)}" y="${n(y(b.value))}" width="${n(bw)}" height="${n(y(0) - y(b.value))}" fill="${color}" fill-opacity="0.85"/>`,
    )
    if (b.min !== undefined && b.max !== undefined && b.max > b.min) {
      parts.push(
        `<path d="M${n(cx)} ${n(y(b.min))} V${n(y(b.max))} M${n(cx - 8)} ${n(y(b.min))} H${n(cx + 8)} M${n(cx - 8)} ${n(y(b.max))} H${n(cx + 8)}" stroke="#333" fill="none"/>`,
      )
    }
    parts.push(
      `<text x="${n(cx)}" y="${n(y(b.max ?? b.value) - 6)}" text-anchor="middle" font-weight="600">${fmtTick(b.value)}</text>`,
    )
    parts.push(`<text x="${n(cx)}" y="${M.top + ph + 18}" text-anchor="middle">${esc(b.label)}</text>`)
  })
  if (o.target) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${n(y(o.target.value))}" y2="${n(y(o.target.value))}" stroke="#d62728" stroke-dasharray="6 4"/>`,
    )
    parts.push(
      `<text x="${W - M.right - 4}" y="${n(y(o.target.value) - 6)}" text-anchor="end" fill="#d62728">${esc(o.target.label)}</text>`,
    )
  }
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${n(y(0))}" y2="${n(y(0))}" stroke="#999"/>`)
  return frame(o.title, parts.join('\n'))
}
