// npm run bench [-- --only latency,apns --quick --runs 3 --no-profile --out FILE --no-write]
// Runs the benchmark suite against the simulator and sandboxes and writes BENCHMARKS.md.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { apns } from './apns.js'
import { burst } from './burst.js'
import { connections } from './connections.js'
import { fanout } from './fanout.js'
import { fcm } from './fcm.js'
import { latency } from './latency.js'
import { describeMachine } from './lib/machine.js'
import { Progress } from './lib/progress.js'
import { writeReport, type ReportTarget } from './lib/report.js'
import type { BenchOutput, Benchmark, Scale } from './lib/types.js'
import { dropStaleBenchKeys, REDIS_URL } from './lib/world.js'
import { memory } from './memory.js'
import { receipts } from './receipts.js'
import { register } from './register.js'
import { scaleout } from './scaleout.js'

const ALL: Benchmark[] = [latency, apns, fcm, fanout, register, memory, scaleout, burst, connections, receipts]

const HELP = `npm run bench -- [options]
  --only ids      comma-separated: ${ALL.map((b) => b.id).join(',')}
  --quick         small sizes and short runs (development); figures are not publishable
  --runs N        repetitions of each measured part (default: 5 full, 2 quick; some use fewer)
  --no-profile    skip the --cpu-prof run of the latency benchmark
  --out FILE      where to write the report (default: BENCHMARKS.md for a full run of everything,
                  else a scratch directory)
  --no-write      print the report's location only, write nothing in the repository
Needs Redis (REDIS_URL, default redis://127.0.0.1:6379).`

async function redisVersion(url: string): Promise<string> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await r.connect()
    const info = await r.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  } finally {
    r.disconnect()
  }
}

// The build just before (and whatever ran before it) leaves the machine busy: a full run waits
// for the 1-minute load to fall below SETTLED_LOAD, up to SETTLE_MAX_S, so the figures are not
// taken beside the compiler. The report still states the load at start.
const SETTLED_LOAD = 0.5
const SETTLE_MAX_S = 120

async function settle(): Promise<void> {
  const until = Date.now() + SETTLE_MAX_S * 1000
  let said = false
  const load = (): number => loadavg()[0] ?? 0
  while (load() > SETTLED_LOAD && Date.now() < until) {
    if (!said)
      process.stderr.write(
        `bench: waiting up to ${SETTLE_MAX_S} s for the machine to settle (load ${load().toFixed(2)}, want < ${SETTLED_LOAD})\n`,
      )
    said = true
    await new Promise((resolve) => setTimeout(resolve, 2_000))
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }
  const ids = values.only
    ? values.only
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : ALL.map((b) => b.id)
  const unknown = ids.filter((id) => !ALL.some((b) => b.id === id))
  if (unknown.length) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; known: ${ALL.map((b) => b.id).join(', ')}\n`)
    return 2
  }
  const runs = values.runs !== undefined ? Number(values.runs) : undefined
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1 && runs <= 50)) {
    process.stderr.write('bench: --runs must be a whole number between 1 and 50\n')
    return 2
  }
  const scale: Scale = values.quick ? 'quick' : 'full'
  const selected = ALL.filter((b) => ids.includes(b.id))
  const root = fileURLToPath(new URL('../', import.meta.url))
  // The product is measured as it ships (dist/): build it from the current sources first.
  process.stderr.write('bench: building dist/ (npm run build)\n')
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  if (build.status !== 0) {
    process.stderr.write('bench: npm run build failed\n')
    return 1
  }

  let redis: string
  try {
    redis = await redisVersion(REDIS_URL)
  } catch (err) {
    process.stderr.write(`bench: Redis is needed at ${REDIS_URL} (REDIS_URL): ${(err as Error).message}\n`)
    return 2
  }
  if (scale === 'full') await settle()
  const stale = await dropStaleBenchKeys(REDIS_URL)
  if (stale > 0) process.stderr.write(`bench: deleted ${stale} Redis keys left by benchmark runs that were killed\n`)
  const machine = describeMachine(redis)
  const startedAt = new Date()
  const tmp = mkdtempSync(join(tmpdir(), 'push-gw-bench-'))
  const progress = new Progress(selected.map((b) => ({ id: b.id, estimateS: b.estimateS(scale) })))
  process.stderr.write(
    `bench: ${selected.map((b) => b.id).join(', ')} (${scale}) on ${machine.cpuModel} × ${machine.cores}, Node ${machine.node}, load ${machine.loadAtStart[0]}\n`,
  )
  const outputs: BenchOutput[] = []
  const failures: Array<{ id: string; title: string; error: string }> = []
  let interrupted = false
  process.once('SIGINT', () => {
    interrupted = true
    process.stderr.write('\nbench: interrupted, finishing the current step and cleaning up (Ctrl-C again to force)\n')
    process.once('SIGINT', () => process.exit(130))
  })
  for (const b of selected) {
    if (interrupted) break
    progress.begin(b.id)
    try {
      const o = await b.run({ scale, runs, progress, redisUrl: REDIS_URL, tmpDir: tmp, profile: !values['no-profile'] })
      outputs.push(o)
      progress.end()
      for (const h of o.headline)
        progress.note(
          `  ${b.id}: ${h.figure}: ${h.value}${h.target ? ` (target ${h.target}: ${h.pass ? 'met' : 'NOT met'})` : ''}`,
        )
      if (o.pending) progress.note(`  ${b.id}: pending: ${o.pending}`)
    } catch (err) {
      progress.end()
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err)
      failures.push({ id: b.id, title: b.title, error })
      progress.note(`  ${b.id}: FAILED: ${error.split('\n').slice(0, 3).join(' | ')}`)
    }
  }
  rmSync(tmp, { recursive: true, force: true })

  const everything = selected.length === ALL.length && scale === 'full' && !interrupted
  let target: ReportTarget
  const repoTarget: ReportTarget = {
    mdFile: join(root, 'BENCHMARKS.md'),
    chartsDir: join(root, 'bench', 'charts'),
    chartsLink: 'bench/charts',
    jsonFile: join(root, 'bench', 'results.json'),
  }
  if (values.out && resolve(values.out) === repoTarget.mdFile) {
    target = repoTarget
  } else if (values.out) {
    const md = values.out
    const dir = join(md, '..')
    target = { mdFile: md, chartsDir: join(dir, 'charts'), chartsLink: 'charts', jsonFile: join(dir, 'results.json') }
  } else if (everything && !values['no-write']) {
    target = repoTarget
  } else {
    const dir = join(tmpdir(), 'push-gateway-bench')
    target = {
      mdFile: join(dir, 'BENCHMARKS.md'),
      chartsDir: join(dir, 'charts'),
      chartsLink: 'charts',
      jsonFile: join(dir, 'results.json'),
    }
  }
  writeReport(target, {
    machine,
    scale,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt,
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    loadAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    outputs,
    failures,
    notRun: ALL.filter((b) => !selected.includes(b)).map((b) => ({ id: b.id, title: b.title })),
    ids: ALL.map((b) => b.id),
  })
  process.stderr.write(`bench: report written to ${target.mdFile}\n`)
  return failures.length > 0 || interrupted ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
