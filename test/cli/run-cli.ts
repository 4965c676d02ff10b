// The packaged command as a child process. Asynchronous on purpose: the simulator and sandboxes
// it talks to live in the test's own process, which spawnSync would block.
import { spawn } from 'node:child_process'
import { join } from 'node:path'

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts')]

/** The CLI as a child process; asynchronous, because the simulator it talks to lives in this process. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}
