// Gateway instances as child processes (`push-gateway start`, configured only by environment), as
// an operator runs several behind a load balancer, with their JSON log lines collected.
import { spawn, type ChildProcess } from 'node:child_process'
import { freePort } from '../support/ports.js'
import { join } from 'node:path'
import type { TestWorld } from '../../src/sim/world.js'

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts'), 'start']
// Settings from the test runner's own environment must not leak into the instances.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) =>
      !/^(GENESYS_|APNS_|FCM_|RING_|DEDUP_|STORE_|LEASE_|INSTANCE_|WEBHOOK_|WEBPUSH_|PRESENCE_|PORT$|HOST$)/.test(k),
  ),
)

export interface LogLine {
  at: number
  msg: string
  [key: string]: unknown
}

export interface Instance {
  id: string
  api: string
  child: ChildProcess
  logs: LogLine[]
  exited: Promise<number | null>
  /** Milliseconds (Date.now()) when this instance logged `msg`, the first time after `after`. */
  loggedAt(msg: string, after?: number): number | undefined
  stop(): Promise<number | null>
}

export async function startInstance(world: TestWorld, id: string, settings: Record<string, string>): Promise<Instance> {
  const port = await freePort()
  const child = spawn(process.execPath, CLI, {
    env: {
      ...cleanEnv,
      ...world.env,
      NODE_EXTRA_CA_CERTS: world.caFile,
      PORT: String(port),
      HOST: '127.0.0.1',
      INSTANCE_ID: id,
      LOG_LEVEL: 'info',
      ...settings,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: LogLine[] = []
  let partial = ''
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      try {
        logs.push({ ...(JSON.parse(line) as LogLine), at: Date.now() })
      } catch {
        logs.push({ msg: line, at: Date.now() })
      }
    }
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const inst: Instance = {
    id,
    api: `http://127.0.0.1:${port}`,
    child,
    logs,
    exited,
    loggedAt: (msg, after = 0) => logs.find((l) => l.msg === msg && l.at >= after)?.at,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
  void exited.then((code) => {
    if (code !== 0 && code !== null && stderr) process.stderr.write(`instance ${id} exited ${code}: ${stderr}\n`)
  })
  return inst
}

export async function register(api: string, accessToken: string, body: unknown): Promise<number> {
  const res = await fetch(`${api}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  await res.arrayBuffer()
  return res.status
}
