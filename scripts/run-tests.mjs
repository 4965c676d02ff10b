#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner through tsx.
// Node 20's --test does not expand globs or pick up .ts files, hence this small finder.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { connect as connectTls } from 'node:tls'
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
// Most of the suite runs against a real Redis. Without one, every Redis test would retry and log
// connection errors for minutes: check once, and say so in one line.
const needsRedis = only.length === 0 || files.some((file) => /redis/i.test(readFileSync(file, 'utf8')))
if (needsRedis) {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const problem = await pingRedis(url)
  if (problem) {
    console.error(
      `tests: Redis at ${url.replace(/\/\/[^@/]*@/, '//')} cannot be reached (${problem}): start redis-server or set REDIS_URL`,
    )
    process.exit(1)
  }
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...files],
  { stdio: 'inherit', env: process.env },
)
process.exit(result.status ?? 1)

/** Sends PING (after AUTH when the URL has a password); resolves undefined on +PONG, else the reason. */
function pingRedis(url) {
  const target = new URL(url)
  const port = Number(target.port || 6379)
  const host = target.hostname || '127.0.0.1'
  const auth = target.password
    ? `AUTH ${target.username ? `${decodeURIComponent(target.username)} ` : ''}${decodeURIComponent(target.password)}\r\n`
    : ''
  return new Promise((resolve) => {
    const socket =
      target.protocol === 'rediss:' ? connectTls({ host, port, servername: host }) : connect({ host, port })
    let answer = ''
    const done = (problem) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(problem)
    }
    const timer = setTimeout(() => done('no answer within 2 s'), 2_000)
    socket.once(target.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => socket.write(`${auth}PING\r\n`))
    socket.on('data', (chunk) => {
      answer += chunk.toString()
      if (answer.includes('+PONG')) done(undefined)
      else if (answer.startsWith('-')) done(answer.split('\r\n')[0])
    })
    socket.on('error', (err) => done(err.code ?? err.message))
  })
}
