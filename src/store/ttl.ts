// Lifetimes shared by every backend, so they behave alike in the contract tests.

/**
 * How long cancel claims are remembered when the ring record itself is gone (expired between the
 * transition and the claim): long enough to outlast any retry of the same cancel.
 */
export const ORPHAN_CANCEL_TTL_MS = 10 * 60_000
