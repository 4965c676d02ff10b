#!/usr/bin/env node
// Builds dist/ only when a source file or a tsconfig changed since the last build, so `npm start`
// starts in a second instead of recompiling every time. Tests that run the built CLI call it too;
// a lock directory keeps two of them from compiling into dist/ at the same time.
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const stamp = join(root, 'dist', '.build-stamp')
const lock = join(root, '.build-lock')

function newestInput() {
  let newest = 0
  const visit = (path) => {
    const info = statSync(path)
    if (info.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
    else newest = Math.max(newest, info.mtimeMs)
  }
  for (const input of ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json']) visit(join(root, input))
  return newest
}

function builtAt() {
  try {
    statSync(join(root, 'dist', 'cli.js'))
    return statSync(stamp).mtimeMs
  } catch {
    return -1
  }
}

const current = () => builtAt() >= newestInput()

function takeLock() {
  const deadline = Date.now() + 180_000
  for (;;) {
    try {
      mkdirSync(lock)
      return
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
      // A build killed half-way leaves its lock behind: older than any build takes, it is stale.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true })
      } catch {
        // removed meanwhile by its owner
      }
      if (Date.now() > deadline) throw new Error(`build-if-stale: ${lock} is held for too long`)
      spawnSync(process.execPath, ['-e', 'setTimeout(() => {}, 200)'])
    }
  }
}

if (!current()) {
  takeLock()
  try {
    if (!current()) {
      const startedAt = Date.now()
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
      const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
      if (result.status !== 0) process.exit(result.status ?? 1)
      writeFileSync(stamp, '')
      // The stamp carries the time the build started: a file saved during the build is newer.
      utimesSync(stamp, startedAt / 1000, startedAt / 1000)
    }
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}
