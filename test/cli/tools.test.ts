// The tools around the gateway, run as an operator or a contributor runs them: migrate-store with
// a misspelt source, the test runner without Redis, and `npm start`'s build step when nothing changed.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { cleanEnv, ensureBuilt, ROOT, runBuilt } from '../support/built-cli.js'
import { freePort } from '../support/ports.js'

const dir = mkdtempSync(join(tmpdir(), 'pgw-tools-'))
after(() => rmSync(dir, { recursive: true, force: true }))
before(() => ensureBuilt())

test('migrate-store with a source that does not exist copies nothing, creates nothing and exits 1', async () => {
  const missing = join(dir, 'data', 'gatway.db')
  const result = await runBuilt(
    ['migrate-store', '--from', `sqlite:${missing}`, '--to', `redis://127.0.0.1:${await freePort()}`],
    cleanEnv(),
  )
  assert.equal(result.status, 1)
  assert.equal(result.stdout, '')
  assert.equal(
    result.stderr,
    `push-gateway migrate-store: --from sqlite:${missing}: no such file; nothing was copied or created (check the path: the gateway's default is sqlite:./data/gateway.db)\n`,
  )
  assert.equal(existsSync(missing), false)
  assert.equal(existsSync(join(dir, 'data')), false)
})

test('the tests without a reachable Redis stop at once with one line saying so', async () => {
  const port = await freePort()
  const started = performance.now()
  const result = spawnSync(process.execPath, [join(ROOT, 'scripts/run-tests.mjs')], {
    cwd: ROOT,
    env: cleanEnv({ REDIS_URL: `redis://127.0.0.1:${port}` }),
    encoding: 'utf8',
    timeout: 30_000,
  })
  assert.equal(result.status, 1)
  assert.equal(result.stdout, '')
  assert.equal(
    result.stderr,
    `tests: Redis at redis://127.0.0.1:${port} cannot be reached (ECONNREFUSED): start redis-server or set REDIS_URL\n`,
  )
  assert.ok(performance.now() - started < 10_000)
})

test('npm start builds only when a source changed: with dist/ current the build step does nothing', () => {
  const stamp = join(ROOT, 'dist', '.build-stamp')
  const before = statSync(stamp).mtimeMs
  const started = performance.now()
  const result = spawnSync(process.execPath, [join(ROOT, 'scripts/build-if-stale.mjs')], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  assert.equal(result.status, 0, result.stderr)
  assert.equal(statSync(stamp).mtimeMs, before, 'no new build')
  assert.ok(performance.now() - started < 5_000)
})
