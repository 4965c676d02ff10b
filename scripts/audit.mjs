#!/usr/bin/env node
// CI's dependency audit: `npm audit --omit=dev` (what ships in the image), failing on any high or
// critical advisory. Exit codes: 0 clean (or not verifiable, see below), 1 high/critical advisories.
//
// When the registry's advisory endpoint cannot be asked (no network, or a registry mirror that
// refuses POST /-/npm/v1/security/advisories/bulk, as this project's build machines do: 405), the
// audit did NOT happen: that is printed as a banner that cannot be missed, and the run continues
// unless AUDIT_REQUIRED=1, which makes it fail (set it wherever the endpoint is reachable).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

// `--from FILE` reads a saved `npm audit --json` report instead of asking the registry (to check this script).
const from = process.argv.indexOf('--from')
const run =
  from > 0
    ? { stdout: readFileSync(process.argv[from + 1] ?? '', 'utf8'), stderr: '', status: 1 }
    : spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
let report
try {
  report = JSON.parse(run.stdout || 'null')
} catch {
  report = null
}

const counts = report?.metadata?.vulnerabilities
if (counts && typeof counts === 'object') {
  const high = (counts.high ?? 0) + (counts.critical ?? 0)
  const all = Object.entries(counts)
    .filter(([k, v]) => k !== 'total' && v > 0)
    .map(([k, v]) => `${v} ${k}`)
  if (high === 0) {
    console.log(
      `audit: no high or critical advisories in production dependencies${all.length ? ` (${all.join(', ')})` : ''}`,
    )
    process.exit(0)
  }
  console.error(`audit: FAILED: ${high} high or critical advisories in production dependencies`)
  for (const [name, v] of Object.entries(report.vulnerabilities ?? {})) {
    if (v.severity === 'high' || v.severity === 'critical') {
      const via = (v.via ?? []).map((x) => (typeof x === 'string' ? x : `${x.title} (${x.url})`)).join('; ')
      console.error(
        `  ${v.severity.padEnd(8)} ${name} ${v.range ?? ''}: ${via}${v.fixAvailable ? ' [fix available: npm audit fix]' : ''}`,
      )
    }
  }
  process.exit(1)
}

const why =
  report?.error?.summary ||
  report?.message ||
  (run.stderr || '').split('\n').find((l) => /error|audit/i.test(l)) ||
  `npm exited ${run.status}`
const banner = [
  '########################################################################',
  '# audit: NOT VERIFIED: the npm advisory endpoint could not be asked.   #',
  '# No claim is made about known vulnerabilities in this build.          #',
  '########################################################################',
]
console.error([...banner, `audit: ${String(why).trim()}`].join('\n'))
if (process.env.AUDIT_REQUIRED === '1') {
  console.error('audit: AUDIT_REQUIRED=1: failing')
  process.exit(1)
}
console.error('audit: continuing (set AUDIT_REQUIRED=1 to fail instead)')
process.exit(0)
