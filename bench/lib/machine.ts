// The machine and code a run measured: published with every figure.
import { execFileSync } from 'node:child_process'
import { cpus, freemem, loadavg, release, totalmem, type } from 'node:os'

export interface Machine {
  cpuModel: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  commit: string
  dirty: boolean
  redis: string
  loadAtStart: number[]
  freeMemGiB: number
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

export function describeMachine(redisVersion: string): Machine {
  const c = cpus()
  return {
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    commit: git(['rev-parse', '--short=12', 'HEAD']) || 'unknown',
    // Other engineers' uncommitted work in the tree may be part of what was measured.
    dirty: git(['status', '--porcelain', '--untracked-files=no', '--', 'src']).length > 0,
    redis: redisVersion,
    loadAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    freeMemGiB: Math.round((freemem() / 1024 ** 3) * 10) / 10,
  }
}
