// The gateway runs on Node 20, 22 and 24 (README, Deploying). A dependency whose `engines` leaves
// one of them out installs with an EBADENGINE warning there (an error under engine-strict) and may
// call an API that Node does not have: light-my-request 6.8 (Fastify's inject) moved to cookie 2,
// which wants Node 22. Every package a production install brings must accept every supported line,
// from the floor in our own `engines`.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { test } from 'node:test'
import semver from 'semver'

const root = resolve(import.meta.dirname, '../..')
const manifest = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(resolve(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; dev?: boolean; engines?: unknown }>
}

/** The oldest Node release our own `engines` accepts, and the first release of each later LTS line. */
const floor = semver.minVersion(manifest.engines.node)?.version ?? ''
const SUPPORTED = [floor, '22.0.0', '24.0.0']

test('our engines names a Node 20 floor', () => {
  assert.equal(semver.major(floor), 20, `engines.node ${manifest.engines.node}`)
})

test('every production dependency accepts Node 20 (from our floor), 22 and 24', () => {
  const refusals: string[] = []
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true) continue
    const engines = entry.engines as { node?: unknown } | undefined
    const range = typeof engines?.node === 'string' ? engines.node : undefined
    if (range === undefined) continue
    for (const node of SUPPORTED)
      if (!semver.satisfies(node, range)) refusals.push(`${path}@${entry.version}: node ${range} refuses ${node}`)
  }
  assert.deepEqual(
    refusals,
    [],
    'raise our engines floor, pin the package, or override its dependency (package.json overrides)',
  )
})
