// Closing an ioredis connection without hanging. QUIT needs a live connection: on a client that
// never connected (a wrong STORE_URL) or is reconnecting, a queued QUIT waits forever, which made
// SIGTERM hang. So: QUIT only when ready and only briefly, otherwise drop the socket.
import type { Redis } from 'ioredis'

export async function closeRedis(client: Redis, timeoutMs = 1_000): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect()
    return
  }
  let timer: NodeJS.Timeout | undefined
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs)
  })
  try {
    await Promise.race([client.quit().then(() => undefined), gaveUp])
  } catch {
    // the connection went while quitting: nothing left to close politely
  } finally {
    clearTimeout(timer)
    // TypeScript narrowed status to 'ready' above; QUIT has changed it since.
    if ((client.status as string) !== 'end') client.disconnect()
  }
}
