#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner through tsx.
// Node 20's --test does not expand globs or pick up .ts files, hence this small finder.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

function find(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...find(path))
    else if (name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

const only = process.argv.slice(2)
const files = only.length > 0 ? only : find('test').sort()
if (files.length === 0) {
  console.error('no test files found under test/')
  process.exit(1)
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...files],
  { stdio: 'inherit', env: process.env },
)
process.exit(result.status ?? 1)
