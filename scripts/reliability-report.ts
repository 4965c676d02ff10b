// Renders RELIABILITY.md from the trial records the tests wrote (test-artifacts/reliability/*.json).
//   npx tsx scripts/reliability-report.ts          write RELIABILITY.md from the last `npm test`
//   npx tsx scripts/reliability-report.ts --check  (CI, after npm test) fail when a record shows
//       something lost or let through, or when RELIABILITY.md's table no longer matches this run
//       (a trial added, removed or changed in size without regenerating the document).
// The "observed" column (timings, retries) varies from run to run and is not compared.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Trial, TrialArea } from '../test/support/trials.js'

const ROOT = join(import.meta.dirname, '..')
const DIR = join(ROOT, 'test-artifacts/reliability')
const DOC = join(ROOT, 'RELIABILITY.md')
const BEGIN = '<!-- trials:begin -->'
const END = '<!-- trials:end -->'

const AREAS: Record<TrialArea, string> = {
  fault: 'Faults injected',
  input: 'Bad input',
  security: 'Attacks',
}

function readTrials(): Trial[] {
  if (!existsSync(DIR)) return []
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Trial)
    .sort((a, b) => a.id.localeCompare(b.id))
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

function row(t: Trial): string {
  const lost = t.knownLimit ? `**${t.lost}** (known limit: ${t.knownLimit})` : `**${t.lost}**`
  return `| ${cell(t.what)} | ${t.tried.toLocaleString('en-US')} ${cell(t.unit)} | ${cell(t.held)} | ${cell(lost)} | ${cell(t.observed ?? '')} | [${t.id}](${t.test}) |`
}

/** The comparable part of a row: everything but the observed column. */
function key(line: string): string {
  const cells = line.split(/(?<!\\)\|/).map((c) => c.trim())
  cells.splice(5, 1)
  return cells.join('|')
}

function tables(trials: Trial[]): string {
  const out: string[] = []
  for (const [area, title] of Object.entries(AREAS) as Array<[TrialArea, string]>) {
    const mine = trials.filter((t) => t.area === area)
    if (mine.length === 0) continue
    out.push(
      `### ${title}`,
      '',
      '| tried | how many | what held | lost or let through | observed (last run) | test |',
      '|---|---|---|---|---|---|',
      ...mine.map(row),
      '',
    )
  }
  const total = trials.reduce((s, t) => s + t.tried, 0)
  const lost = trials.filter((t) => !t.knownLimit).reduce((s, t) => s + t.lost, 0)
  const limits = trials.filter((t) => t.knownLimit && t.lost > 0)
  out.push(
    `**${trials.length} trials, ${total.toLocaleString('en-US')} cases in all; lost or let through: ${lost}${limits.length ? ` (plus ${limits.map((t) => `${t.lost} in the known limit ${t.id}`).join(', ')})` : ''}.**`,
  )
  return out.join('\n')
}

function tableRows(text: string): string[] {
  const start = text.indexOf(BEGIN)
  const end = text.indexOf(END)
  if (start < 0 || end < 0) return []
  return text
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| tried'))
    .map(key)
}

const trials = readTrials()
if (trials.length === 0) {
  console.error('reliability: no trial records in test-artifacts/reliability (run npm test first)')
  process.exit(1)
}
const failed = trials.filter((t) => t.lost > 0 && !t.knownLimit)
const rendered = tables(trials)

if (process.argv.includes('--check')) {
  for (const t of failed) console.error(`reliability: ${t.id}: ${t.lost} lost or let through (${t.what})`)
  const doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : ''
  const want = tableRows(`${BEGIN}\n${rendered}\n${END}`)
  const have = tableRows(doc)
  const missing = want.filter((r) => !have.includes(r))
  const stale = have.filter((r) => !want.includes(r))
  for (const r of missing) console.error(`reliability: RELIABILITY.md lacks this run's row: ${r}`)
  for (const r of stale) console.error(`reliability: RELIABILITY.md has a row this run did not measure: ${r}`)
  if (missing.length + stale.length > 0)
    console.error(
      'reliability: regenerate with `npm test && npx tsx scripts/reliability-report.ts` (default FUZZ_RUNS)',
    )
  const ok = failed.length === 0 && missing.length + stale.length === 0
  console.log(
    `reliability: ${trials.length} trials, ${ok ? 'RELIABILITY.md matches this run, nothing lost' : 'FAILED'}`,
  )
  process.exit(ok ? 0 : 1)
}

const doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : `${BEGIN}\n${END}\n`
const start = doc.indexOf(BEGIN)
const end = doc.indexOf(END)
if (start < 0 || end < 0) {
  console.error(`reliability: ${DOC} has no ${BEGIN} … ${END} block`)
  process.exit(1)
}
writeFileSync(DOC, `${doc.slice(0, start + BEGIN.length)}\n${rendered}\n${doc.slice(end)}`)
console.log(
  `reliability: wrote ${trials.length} trials to RELIABILITY.md${failed.length ? ` (${failed.length} with losses!)` : ''}`,
)
process.exit(failed.length === 0 ? 0 : 1)
