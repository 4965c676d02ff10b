// Every simulated service listens the same way: on loopback by default, on a free port unless told
// otherwise, failing the start (not crashing later) if the port is taken.
import type { AddressInfo, Server } from 'node:net'

/** Listens on `host` (default 127.0.0.1) and `port` (default: any free one); resolves to the port. */
export async function listenOnLoopback(server: Server, options: { host?: string; port?: number }): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return (server.address() as AddressInfo).port
}
