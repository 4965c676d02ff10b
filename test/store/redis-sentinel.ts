// A private Redis behind Sentinel for failover tests: a primary, one replica (or more) and three sentinels
// (quorum 2), each a redis-server child on a loopback port, in a temporary directory. Sentinels
// rewrite their config files, so each gets its own.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from '../support/ports.js'

export const MASTER_NAME = 'pgw-primary'

export interface SentinelCluster {
  /** redis+sentinel://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c/pgw-primary */
  url: string
  /** The port of the server the sentinels call the primary right now. */
  primaryPort(): Promise<number>
  /** SIGKILLs the current primary (a crash); resolves with its port. */
  killPrimary(): Promise<number>
  /** Starts a killed server again on its port: the sentinels turn it into a replica of the new primary. */
  restart(port: number): Promise<void>
  /** A client of the server on `port` (for checking what it holds). */
  client(port: number): Redis
  close(): Promise<void>
}

export interface SentinelClusterOptions {
  /** Sentinel down-after-milliseconds: how long the primary must be silent before it is called down. */
  downAfterMs?: number
  /** Default 1. */
  replicas?: number
}

export async function startSentinelCluster(options: SentinelClusterOptions = {}): Promise<SentinelCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sentinel-'))
  const children = new Map<number, ChildProcess>()
  const replicaCount = options.replicas ?? 1
  const [primary, ...others] = await uniquePorts(4 + replicaCount)
  const replicaPorts = others.slice(0, replicaCount)
  const sentinelPorts = others.slice(replicaCount)
  const downAfterMs = options.downAfterMs ?? 1_000

  function server(port: number, extra: string[]): ChildProcess {
    const data = join(dir, `data-${port}`)
    rmSync(data, { recursive: true, force: true })
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--dbfilename',
        `dump-${port}.rdb`,
        ...extra,
      ],
      { stdio: 'ignore' },
    )
    children.set(port, child)
    return child
  }
  server(primary as number, [])
  for (const port of replicaPorts) server(port, ['--replicaof', '127.0.0.1', String(primary)])
  for (const port of sentinelPorts) {
    const file = join(dir, `sentinel-${port}.conf`)
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    )
    const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' })
    children.set(port, child)
  }
  for (const port of [primary as number, ...others]) await answering(port)
  for (const port of replicaPorts) {
    const replica = new Redis({ port, host: '127.0.0.1' })
    await until(
      async () => (await replica.info('replication')).includes('master_link_status:up'),
      15_000,
      'the replica in sync',
    )
    replica.disconnect()
  }
  const sentinel = new Redis({ port: sentinelPorts[0] as number, host: '127.0.0.1', lazyConnect: false })
  sentinel.on('error', () => undefined)
  // The sentinels must know the replica and each other before a failover can elect anyone.
  await until(
    async () => {
      const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[]
      const peers = (await sentinel.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[]
      return replicas.length === replicaCount && peers.length === 2
    },
    15_000,
    'sentinels that know the replica and each other',
  )

  async function primaryPort(): Promise<number> {
    const [, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string]
    return Number(port)
  }

  async function kill(port: number): Promise<void> {
    const child = children.get(port)
    children.delete(port)
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
  }

  return {
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER_NAME}`,
    primaryPort,
    async killPrimary() {
      const port = await primaryPort()
      await kill(port)
      return port
    },
    async restart(port) {
      server(port, [])
      await answering(port)
    },
    client: (port) => new Redis({ port, host: '127.0.0.1' }),
    async close() {
      sentinel.disconnect()
      await Promise.all([...children.keys()].map(kill))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function uniquePorts(n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

async function answering(port: number): Promise<void> {
  await until(
    async () => {
      const probe = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      })
      probe.on('error', () => undefined) // refused until the server listens: that is the probe's answer
      const ok = await probe.connect().then(
        () => probe.ping().then(() => true),
        () => false,
      )
      probe.disconnect()
      return ok
    },
    10_000,
    `redis-server on port ${port}`,
  )
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
