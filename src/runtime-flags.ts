// The Node.js flags the gateway is meant to run with. V8 sizes its heap when the process starts,
// so they must be on node's command line (or in NODE_OPTIONS): the Docker image's ENTRYPOINT and
// `npm start` carry them, test/config/runtime-flags.test.ts keeps those in step with this list,
// and `push-gateway start` logs when they are missing.
//
// --max-semi-space-size=16: V8's young generation grows to 16 MiB semi-spaces at most, on every Node.js
// version (their defaults differ). A scavenge stops every frame in flight for as long as it takes
// to copy what survives, and under load much survives however large the young generation is: with
// 64 MiB semi-spaces each pause was about four times as long, for a quarter as many, and the long
// pauses set the tail latency; the CPU per event came out the same (BENCHMARKS.md, benchmark 1).
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16']

/** The flags of NODE_FLAGS this process was not started with. */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map((f) => f.replace(/_/g, '-')))
  return NODE_FLAGS.filter((f) => !given.has(f))
}
