// `push-gateway sim` as the README's "Try every command without credentials" uses it, all with the
// built CLI: the printed settings make doctor pass, start serve the printed registrations, and
// send-test ring and cancel the simulated phones, which say so; devices list shows them.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { cleanEnv, ensureBuilt, runBuilt, startBuilt } from '../support/built-cli.js'
import { freePort } from '../support/ports.js'

const dir = mkdtempSync(join(tmpdir(), 'pgw-sim-'))
after(() => rmSync(dir, { recursive: true, force: true }))
before(() => ensureBuilt())

/** The `export NAME='value'` lines the sim printed. */
function exported(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']))
}

test('push-gateway sim prints what start, doctor, send-test and devices need, and they work against it', async () => {
  const port = String(await freePort())
  const sim = startBuilt(['sim'], cleanEnv({ PORT: port }))
  const gatewayRunning: Array<ReturnType<typeof startBuilt>> = []
  try {
    await sim.waitFor(/^Pushes the simulated phones receive:$/m, 30_000)
    const env = cleanEnv({ ...exported(sim.stdout()), STORE_URL: `sqlite:${join(dir, 'gateway.db')}` })
    assert.equal(env.PORT, port)

    const doctor = await runBuilt(['doctor'], env)
    assert.equal(doctor.status, 0, doctor.stdout + doctor.stderr)
    assert.match(doctor.stdout, /Everything the gateway needs answered\./)

    const gateway = startBuilt(['start'], env)
    gatewayRunning.push(gateway)
    await gateway.waitFor(/"gateway started"/, 30_000)
    // The printed registrations, as curl would send them.
    for (const [, token, body] of sim
      .stdout()
      .matchAll(/^curl .*-H 'authorization: Bearer ([^']+)' .* -d '([^']+)'$/gm)) {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      })
      assert.equal(res.status, 201, await res.text())
    }
    const devices = await runBuilt(['devices', 'list'], env)
    assert.equal(devices.status, 0, devices.stderr)
    assert.match(devices.stdout, /3 device\(s\) of 2 agent\(s\)/)
    // Agents by their Genesys names, asked with the client credentials.
    assert.match(devices.stdout, /^Alice Example +\S+ +ios /m)
    assert.match(devices.stdout, /^Bob Example +\S+ +android /m)

    const bob = /send-test --user (\S+) +# rings and cancels Bob Example's Android phone/.exec(sim.stdout())?.[1] ?? ''
    const sent = await runBuilt(['send-test', '--user', bob], env)
    assert.equal(sent.status, 0, sent.stdout + sent.stderr)
    assert.match(sent.stdout, /Every device accepted the test ring\./)
    await sim.waitFor(/FCM push accepted; ringing now: Bob's Android phone/)
    await sim.waitFor(/FCM push accepted; ringing now: none/)
  } finally {
    for (const gateway of gatewayRunning) gateway.child.kill('SIGTERM')
    sim.child.kill('SIGTERM')
  }
  assert.equal((await sim.finished).status, 0)
})
