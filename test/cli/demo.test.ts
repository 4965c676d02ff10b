// `push-gateway demo` as a newcomer runs it (the built CLI): it prints where the dashboard is and
// the token that opens it, all three push services have devices, a normally answered call is not
// reported as a failure, and closing its output (`npm start | head`) stops it cleanly, its
// temporary key material gone.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { before, test } from 'node:test'
import { cleanEnv, ensureBuilt, startBuilt } from '../support/built-cli.js'
import { freePort } from '../support/ports.js'

before(() => ensureBuilt())

interface State {
  devices: Record<string, number>
  recent: Array<{ type: string; reason?: string; normal?: boolean; agentName?: string }>
}

test('the demo prints the dashboard address and its admin token; the dashboard shows iOS, Android and Web devices, agents by name, and keeps normal outcomes apart', async () => {
  const port = await freePort()
  const demo = startBuilt(['demo', '--port', String(port)], cleanEnv())
  try {
    await demo.waitFor(new RegExp(`^Dashboard: http://127\\.0\\.0\\.1:${port}/dashboard$`, 'm'), 30_000)
    const token = /^Admin token: (\S+) /m.exec(await demo.waitFor(/^Admin token: \S+ .*$/m))?.[1] ?? ''
    assert.ok(token.length >= 16)
    const base = `http://127.0.0.1:${port}`
    assert.equal((await fetch(`${base}/dashboard/api/state`)).status, 401, 'admin access is on: no token, no data')
    const state = async (): Promise<State> => {
      const res = await fetch(`${base}/dashboard/api/state`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(res.status, 200)
      return (await res.json()) as State
    }
    // The phones register right after the address is printed.
    let current = await state()
    for (let i = 0; i < 50 && !(current.devices.ios && current.devices.android && current.devices.web); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      current = await state()
    }
    assert.ok(current.devices.ios && current.devices.android && current.devices.web, JSON.stringify(current.devices))
    // Round 1: Alice answers at her desk; the call's end then finds no ring to cancel (not-ringing).
    for (let i = 0; i < 100 && !current.recent.some((item) => item.reason === 'not-ringing'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      current = await state()
    }
    // Agents appear by their Genesys names (looked up once, in the background), not as ids.
    assert.ok(
      current.recent.some((item) => item.agentName === 'Alice Example'),
      JSON.stringify(current.recent.slice(-5)),
    )
    const suppressions = current.recent.filter((item) => item.type === 'suppressed')
    assert.ok(
      suppressions.some((item) => item.reason === 'not-ringing'),
      JSON.stringify(suppressions),
    )
    for (const item of suppressions.filter((s) => s.reason === 'not-ringing' || s.reason === 'duplicate'))
      assert.equal(item.normal, true)
  } finally {
    demo.child.kill('SIGTERM')
  }
  assert.equal((await demo.finished).status, 0, demo.stderr())
})

test('npm start | head: the demo stops when its output is closed, exits 0, and leaves no key material behind', async () => {
  const demo = startBuilt(['demo', '--port', String(await freePort())], cleanEnv())
  const listening = await demo.waitFor(/store sqlite:(\S+)\/gateway\.db/, 30_000)
  const dir = /store sqlite:(\S+)\/gateway\.db/.exec(listening)?.[1] ?? ''
  assert.ok(existsSync(dir), dir)
  demo.child.stdout.destroy()
  const result = await demo.finished
  assert.equal(result.status, 0, result.stderr)
  assert.ok(!result.stderr.includes('EPIPE'), result.stderr)
  assert.equal(existsSync(dir), false, `${dir} (keys of the sandboxes) removed`)
})
