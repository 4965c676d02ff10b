// The Node.js flags the gateway is meant to run with. V8 sizes its heap when the process starts,
// so they must be on node's command line (or in NODE_OPTIONS): the Docker image's ENTRYPOINT and
// `npm start` carry them, test/config/runtime-flags.test.ts keeps those in step with this list,
// and `push-gateway start` logs when they are missing.
//
// --max-semi-space-size=64: the young generation may grow to 64 MiB semi-spaces (Node 20's default
// stops at 16). The gateway allocates tens of KB per routing event, and each scavenge pauses every
// frame in flight: fewer scavenges mean a lower tail latency and less CPU per event. The price is
// memory: the young generation can hold up to ~100 MiB more under load.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64']

/** The flags of NODE_FLAGS this process was not started with. */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map((f) => f.replace(/_/g, '-')))
  return NODE_FLAGS.filter((f) => !given.has(f))
}
