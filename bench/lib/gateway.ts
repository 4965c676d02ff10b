// Starting a real gateway in a child process against the benchmark world.
import { NODE_FLAGS } from '../../src/runtime-flags.js'
import type { TestWorld } from '../../src/sim/world.js'
import { Child } from './child.js'
import { gatewayEnv } from './world.js'
import type { GatewayChildArgs, GatewayReady } from '../procs/gateway.js'

export interface GatewayChildOptions {
  world: TestWorld
  storeUrl: string
  storeKeyPrefix?: string
  env?: Record<string, string>
  /** Added to the flags the gateway runs with in production (src/runtime-flags.ts). */
  nodeFlags?: string[]
}

export function startGatewayChild(o: GatewayChildOptions): Promise<Child<GatewayReady>> {
  const args: GatewayChildArgs = {
    env: gatewayEnv(o.world, o.storeUrl, o.env),
    caFile: o.world.caFile,
    ...(o.storeKeyPrefix ? { storeKeyPrefix: o.storeKeyPrefix } : {}),
  }
  return Child.start<GatewayReady>(new URL('../procs/gateway.ts', import.meta.url), {
    args: [Buffer.from(JSON.stringify(args)).toString('base64')],
    nodeFlags: [...NODE_FLAGS, ...(o.nodeFlags ?? [])],
  })
}

/** Polls `check` every 20 ms until it returns true, or throws after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
