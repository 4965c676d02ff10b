// A fresh clone must stand on its own: no file points outside the repository, and every relative
// link in the README and docs/ opens a file that exists.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { test } from 'node:test'

const root = resolve(import.meta.dirname, '../..')

function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...filesUnder(path))
    else if (/\.(ts|md|mjs|js|json|ya?ml)$/.test(name)) out.push(path)
  }
  return out
}

const readmeAndDocs = [join(root, 'README.md'), ...filesUnder(join(root, 'docs'))]

test('no source, test, README or docs file points outside the repository (a sibling folder of inputs and the like)', () => {
  const offenders: string[] = []
  for (const file of [...filesUnder(join(root, 'src')), ...filesUnder(join(root, 'test')), ...readmeAndDocs]) {
    if (file === import.meta.filename) continue
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, index) => {
        if (/(\.\.\/)+shared\b|\bseed\/(ERRATA|design-guide)/.test(line))
          offenders.push(`${file.slice(root.length + 1)}:${index + 1}`)
      })
  }
  assert.deepEqual(offenders, [])
})

test('every relative link in README.md and docs/ opens a file of the repository', () => {
  const broken: string[] = []
  for (const file of readmeAndDocs) {
    for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (target === undefined || /^(https?:|mailto:|#)/.test(target)) continue
      const path = resolve(dirname(file), target.split('#')[0] ?? '')
      if (!path.startsWith(root + '/') || !existsSync(path)) broken.push(`${file.slice(root.length + 1)} → ${target}`)
    }
  }
  assert.deepEqual(broken, [])
})

test('docs/ holds the architecture with its pipeline diagram, the platform facts with vendor links, and the delivery invariants', () => {
  const architecture = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8')
  assert.match(architecture, /sources\/[\s\S]*ring\/[\s\S]*dispatch\/[\s\S]*providers\//)
  const platforms = readFileSync(join(root, 'docs/PLATFORMS.md'), 'utf8')
  for (const vendor of ['developer.genesys.cloud', 'developer.apple.com', 'firebase.google.com', 'rfc-editor.org'])
    assert.ok(platforms.includes(vendor), vendor)
  const delivery = readFileSync(join(root, 'docs/DELIVERY.md'), 'utf8')
  for (const step of ['CLAIM', 'PUSH', 'MARK', 'RECOVER', 'fencing']) assert.ok(delivery.includes(step), step)
  for (const [, testFile] of delivery.matchAll(/`(test\/[\w/.-]+\.ts)`/g))
    assert.ok(existsSync(join(root, testFile ?? '')), `${testFile} named in DELIVERY.md exists`)
})
