// The Node.js flags the gateway runs with (src/runtime-flags.ts) are on every command line that
// starts it: the Docker image's ENTRYPOINT and `npm start`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { missingNodeFlags, NODE_FLAGS } from '../../src/runtime-flags.js'

const root = new URL('../../', import.meta.url)

test('the Docker image and npm start run node with the gateway flags', () => {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(new URL('Dockerfile', root), 'utf8'))?.[1]
  assert.ok(entrypoint, 'the Dockerfile has an exec-form ENTRYPOINT')
  const argv = JSON.parse(entrypoint) as string[]
  assert.equal(argv[0], 'node')
  assert.deepEqual(argv.slice(1, 1 + NODE_FLAGS.length), [...NODE_FLAGS], 'flags before the script')
  assert.equal(argv[1 + NODE_FLAGS.length], 'dist/cli.js')

  const start = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> })
    .scripts.start
  assert.equal(start, `node ${NODE_FLAGS.join(' ')} dist/cli.js demo`)
})

test('missing flags are found on the command line or in NODE_OPTIONS', () => {
  assert.deepEqual(missingNodeFlags([], ''), [...NODE_FLAGS])
  assert.deepEqual(missingNodeFlags([...NODE_FLAGS], ''), [])
  assert.deepEqual(missingNodeFlags(['--enable-source-maps'], ` ${NODE_FLAGS.join(' ')} `), [])
  assert.deepEqual(
    missingNodeFlags(
      NODE_FLAGS.map((f) => f.replace(/-/g, '_').replace(/^__/, '--')),
      '',
    ),
    [],
    'V8 accepts underscores too',
  )
})

test("once the gateway's runtime V8 flags are applied, V8 allocates nothing straight into the old generation", () => {
  // The same workload with and without them: without, V8 starts pretenuring (so the workload does
  // what it must for this test to mean anything); with, never. V8 weighs pretenuring only while
  // its young generation is at full size, which a short workload reaches or not depending on
  // timing (under a loaded test run, not): the young generation starts at the gateway's maximum.
  const tenured = (flags: 'gateway-flags' | 'defaults'): number => {
    const run = spawnSync(
      process.execPath,
      [
        ...NODE_FLAGS,
        '--min-semi-space-size=16',
        '--import',
        'tsx',
        '--trace-pretenuring',
        '--trace-pretenuring-statistics',
        fileURLToPath(new URL('../fixtures/pretenuring-workload.ts', import.meta.url)),
        flags,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    )
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /kept \d+/)
    return run.stdout.split('\n').filter((line) => line.includes('=> tenure')).length
  }
  assert.ok(tenured('defaults') > 0, 'with V8 defaults the workload is pretenured')
  assert.equal(tenured('gateway-flags'), 0, 'with the gateway flags nothing is pretenured')
})
