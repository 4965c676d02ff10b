// Reading a request body the way a push service's front end does: whole, but bounded. Past the
// limit the rest is drained without being kept, and the caller answers 413 like the real service.
import type { Readable } from 'node:stream'

/** The whole body, or undefined when it is larger than `limit` bytes (or the stream failed). */
export function readBoundedBody(stream: Readable, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    const done = (): void => resolve(failed || size > limit ? undefined : Buffer.concat(chunks))
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) chunks.push(chunk)
    })
    stream.once('error', () => {
      failed = true
      done()
    })
    // An HTTP/2 stream can close without 'end' (reset); resolving twice is harmless.
    stream.once('end', done)
    stream.once('close', done)
  })
}
