// dynalite (a DynamoDB implementation on LevelDB, in memory here) on a loopback port, for the
// DynamoDB store's tests: the contract suite, the end-to-end rings and the failover test.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { freePort } from './ports.js'

interface DynaliteOptions {
  createTableMs?: number
  deleteTableMs?: number
  updateTableMs?: number
}

const require = createRequire(import.meta.url)
const dynalite = require('dynalite') as (options: DynaliteOptions) => Server

/** Credentials dynalite accepts (it checks their shape, not their value). */
export const DYNALITE_CREDENTIALS = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-test-secret' }
/** The same as environment variables, for gateways started as child processes. */
export const DYNALITE_ENV = {
  AWS_ACCESS_KEY_ID: DYNALITE_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: DYNALITE_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'eu-west-1',
}

export interface Dynalite {
  endpoint: string
  /** A dynamodb:// STORE_URL for tables named `<prefix>-…` on this server. */
  storeUrl(prefix: string): string
  close(): Promise<void>
}

export async function startDynalite(port = 0): Promise<Dynalite> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    endpoint,
    storeUrl: (prefix) => `dynamodb://${prefix}?region=eu-west-1&endpoint=${encodeURIComponent(endpoint)}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}

/**
 * dynalite in a child process of its own: for benchmarks and multi-instance tests, where a busy
 * event loop in this process (a load generator, the simulators) would otherwise slow the database.
 */
export async function startDynaliteProcess(): Promise<Dynalite> {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [
      require.resolve('dynalite/cli.js'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--createTableMs',
      '0',
      '--deleteTableMs',
      '0',
      '--updateTableMs',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('dynalite did not start within 15 s')), 15_000)
    child.once('exit', (code) => reject(new Error(`dynalite exited (${String(code)})`)))
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('Dynalite listening')) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    storeUrl: (prefix) => `dynamodb://${prefix}?region=eu-west-1&endpoint=${encodeURIComponent(endpoint)}`,
    close: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}
