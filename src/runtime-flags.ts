import { setFlagsFromString } from 'node:v8'

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

// V8 flags the gateway sets on itself as it starts (Gateway.create), so they hold however it is
// started (`npx push-gateway start`, a test, an embedding): they change only how the garbage
// collector places and moves objects, which V8 reads at each collection, and NODE_OPTIONS refuses
// them.
//
// --no-allocation-site-pretenuring: V8 watches where objects are allocated, and a place whose
// objects often survived a young-generation collection has its later objects allocated straight
// in the old generation. Under load the gateway's per-push objects (the HTTP/2 stream and what it
// holds among them) look like that: pushes in flight across a collection survive it.
// Allocated old, they die old: the old generation fills with them, full collections come sooner
// (their final pause is the longest of all), and while they wait to be collected, their pointers
// into the young generation keep young objects alive through every scavenge. Without it, less is
// promoted, each scavenge copies less and pauses less, and full collections come later
// (BENCHMARKS.md, benchmark 1, the GC figures).
export const RUNTIME_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring']

let runtimeFlagsApplied = false

/** Sets RUNTIME_V8_FLAGS on this process (once; later calls change nothing). */
export function applyRuntimeV8Flags(): void {
  if (runtimeFlagsApplied) return
  runtimeFlagsApplied = true
  for (const flag of RUNTIME_V8_FLAGS) setFlagsFromString(flag)
}

/** The flags of NODE_FLAGS this process was not started with. */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map((f) => f.replace(/_/g, '-')))
  return NODE_FLAGS.filter((f) => !given.has(f))
}
