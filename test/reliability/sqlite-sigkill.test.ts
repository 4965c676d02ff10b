// The gateway process on its embedded SQLite store, SIGKILLed (no shutdown, no flush) while a call
// rings and registrations are in flight, then restarted on the same file; three times. Checked: every
// registration answered 201 survives; the ring open at the kill is still known after the restart, so
// when the call ends its devices get exactly one cancel (and no second ring); the database stays in
// WAL mode and passes PRAGMA integrity_check; the file, its WAL and the directory are owner-only.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { apnsToken, fcmToken, waitFor } from '../e2e/harness.js'
import { startInstance, type Instance } from '../scale/instances.js'
import { lostIn, verdict } from '../support/ledger.js'
import { recordTrial } from '../support/trials.js'

const CYCLES = 3
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
let world: TestWorld
let instance: Instance | undefined
before(async () => {
  world = await startTestWorld()
})
after(async () => {
  await instance?.stop()
  await world.close()
})

async function ready(i: Instance): Promise<void> {
  await waitFor(
    `${i.id} ready`,
    async () => (await fetch(`${i.api}/readyz`).catch(() => undefined))?.status === 200,
    20_000,
  )
}

test(`SIGKILL mid-ring and mid-registration on SQLite, ${CYCLES} times: registrations survive, open rings are cancelled once after the restart, the file stays sound`, async () => {
  const dir = join(world.dir, 'data')
  const db = join(dir, 'gateway.db')
  const settings = {
    STORE_URL: `sqlite:${db}`,
    RING_TIMEOUT_S: '60',
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_WRITES_PER_USER_PER_MINUTE: '0',
    MAX_DEVICES_PER_AGENT: '1000',
  }
  instance = await startInstance(world, 'sqlite-0', settings)
  await ready(instance)

  const registered: Array<{ userId: string; token: string }> = []
  const calls = new Map<string, string[]>()
  const recoveredAfter: number[] = []
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const current: Instance = instance
    // An agent with two phones, heard by the gateway, and a call ringing them.
    const agent = world.genesys.addAgent({ name: `Kill ${cycle}` })
    const phones = [apnsToken(), fcmToken()]
    for (const body of [
      { platform: 'ios', token: phones[0], environment: 'sandbox' },
      { platform: 'android', token: phones[1] },
    ]) {
      const res = await fetch(`${current.api}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      assert.equal(res.status, 201)
      registered.push({ userId: agent.userId, token: body.token as string })
    }
    await waitFor(
      'the subscription',
      () =>
        world.genesys
          .channels()
          .some((c) => c.connected && c.topics.includes(`v2.users.${agent.userId}.conversations`)),
      10_000,
    )
    const { conversationId } = world.genesys.offer({ userId: agent.userId, mediaType: 'voice' })
    calls.set(conversationId, phones)
    await waitFor('both phones ring', () => verdict(world, new Map([[conversationId, phones]])).rings === 2, 10_000)

    // Registrations keep arriving; the process is killed in the middle of them.
    const registrant = world.genesys.addAgent()
    let running = true
    const burst = (async () => {
      while (running) {
        const token = fcmToken()
        const res = await fetch(`${current.api}/api/v1/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${registrant.accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ platform: 'android', token }),
        }).catch(() => undefined)
        if (res?.status === 201) registered.push({ userId: registrant.userId, token })
        if (!res) return
      }
    })()
    await sleep(150)
    current.child.kill('SIGKILL')
    await current.exited
    running = false
    await burst

    const restartedAt = Date.now()
    instance = await startInstance(world, `sqlite-${cycle + 1}`, settings)
    await ready(instance)
    recoveredAfter.push(Date.now() - restartedAt)
    // The call ends after the restart: the ring known only from SQLite must be cancelled.
    world.genesys.abandon(conversationId)
    await waitFor(
      'the cancel after the restart',
      () => lostIn(verdict(world, new Map([[conversationId, phones]]))) === 0,
      10_000,
    ).catch(() => undefined)
  }
  await sleep(300)
  const v = verdict(world, calls)
  // While the gateway runs, the WAL and shared-memory files exist: SQLite gives them the database's mode.
  const wanted: Array<[string, number]> = [
    [db, 0o600],
    [`${db}-wal`, 0o600],
    [`${db}-shm`, 0o600],
    [dir, 0o700],
  ]
  const modes = wanted.map(([path, want]) => ({ path, want, mode: statSync(path).mode & 0o777 }))
  const loose = modes.filter((m) => m.mode !== m.want)
  await instance.stop()
  instance = undefined

  const sqlite = new Database(db, { readonly: true })
  const integrity = sqlite.pragma('integrity_check', { simple: true })
  const journal = sqlite.pragma('journal_mode', { simple: true })
  const stored = new Set(
    (sqlite.prepare('SELECT token FROM devices').all() as Array<{ token: string }>).map((r) => r.token),
  )
  sqlite.close()
  const lost = registered.filter((r) => !stored.has(r.token))

  recordTrial(
    {
      id: 'fault.sqlite-sigkill',
      area: 'fault',
      what: 'Gateway process SIGKILLed on SQLite while a call rang and registrations were in flight, then restarted on the same file',
      tried: CYCLES,
      unit: 'kills',
      held: 'every 201 registration kept; the ring open at the kill cancelled exactly once after the restart, never rung again; WAL, integrity_check ok',
      lost: lost.length + lostIn(v) + (integrity === 'ok' ? 0 : 1),
      observed: `${registered.length} registrations answered 201; ready again ${Math.min(...recoveredAfter)}–${Math.max(...recoveredAfter)} ms after the restart began`,
    },
    import.meta.url,
  )
  recordTrial(
    {
      id: 'security.sqlite-permissions',
      area: 'security',
      what: 'The SQLite store created by the gateway: database, WAL and shared-memory files, and their directory',
      tried: modes.length,
      unit: 'paths',
      held: 'file 0600, directory 0700 (owner only)',
      lost: loose.length,
    },
    import.meta.url,
  )
  assert.deepEqual(lost, [], 'no registration answered 201 was lost')
  assert.deepEqual(v.duplicateRings, [], 'no phone rang again after a restart')
  assert.deepEqual(v.notEnded, [], 'each ring open at a kill was cancelled exactly once after the restart')
  assert.equal(integrity, 'ok')
  assert.equal(journal, 'wal')
  assert.deepEqual(loose, [], 'owner-only permissions')
})
