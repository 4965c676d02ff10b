// A private redis-server for tests that stop and restart Redis (never the shared one on 6379).
// AOF with fsync on every write in a temporary directory: what a production Redis configured for
// durability does, so "a write answered OK survives a restart" is Redis's promise, tested as such.
// Started with `replicaOf`, it is a replica of another one, which the test can stall (SIGSTOP: a
// long fork, a paused VM, a replica starved of CPU) without closing its connection.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { freePort } from '../support/ports.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

export interface OwnRedis {
  url: string
  port: number
  /** Kills the server (SIGKILL: a crash, not a shutdown). */
  kill(): Promise<void>
  /** Starts it again on the same port and data directory; resolves once it answers. */
  restart(): Promise<void>
  /** Stalls the process (SIGSTOP): its connections stay open, nothing is answered. */
  pause(): void
  /** Lets a paused process go on (SIGCONT). */
  resume(): void
  close(): Promise<void>
}

export interface OwnRedisOptions {
  /** The port of a primary on loopback: this server replicates it. */
  replicaOf?: number
}

export async function startOwnRedis(options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'pgw-redis-'))
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${port}`

  async function up(): Promise<void> {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        ...(options.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(options.replicaOf)]),
      ],
      { stdio: 'ignore' },
    )
    const deadline = Date.now() + 10_000
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
      probe.on('error', () => undefined) // refused until the server listens: that is the probe's answer
      const ok = await probe.connect().then(
        () => probe.ping().then(() => true),
        () => false,
      )
      probe.disconnect()
      if (ok) return
      if (Date.now() > deadline) throw new Error('own redis-server did not start')
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  async function down(): Promise<void> {
    const c = child
    child = undefined
    if (!c || c.exitCode !== null) return
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await exited
  }

  await up()
  return {
    url,
    port,
    kill: down,
    restart: up,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async close() {
      await down()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
