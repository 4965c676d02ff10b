// How every SQLite store operation runs: synchronously, with driver errors turned into StoreError.
import { StoreError, StoreUnavailableError } from './store.js'

/** Runs one store operation; its driver errors reach the caller as StoreError (sqliteRunner). */
export type SqliteRun = <T>(fn: () => T) => Promise<T>

// Transient conditions (another writer holding the lock past busy_timeout, disk trouble, a closed
// handle) are the store being unavailable (503), not a bug in the request (500).
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY)/

/** Every call goes through here so driver errors reach callers as StoreError (StoreUnavailableError when transient). */
export function sqliteRunner(db: { readonly open: boolean }): SqliteRun {
  return <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn())
    } catch (err) {
      return Promise.reject(classify(err, db.open))
    }
  }
}

/** Every failure reaches callers as a StoreError: the API answers 503 + Retry-After, never 500. */
function classify(err: unknown, open: boolean): unknown {
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (!open || (typeof code === 'string' && UNAVAILABLE_CODES.test(code)))
    return new StoreUnavailableError(`SQLite store unavailable: ${message}`, { cause: err })
  return new StoreError(`SQLite store failed: ${message}`, { cause: err })
}

/** One concern of the SQLite store: its operations, and its share of the sweep of expired rows. */
export interface SqlitePart<T> {
  store: T
  /** Deletes this part's expired rows; runs inside the sweep's transaction. */
  sweep(now: number): void
}
