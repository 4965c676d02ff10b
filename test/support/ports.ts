// A port nothing listens on right now, for a child process (gateway, redis-server) that must be
// told its port before it starts. Taken below Linux's ephemeral range (32768–60999): a port the
// kernel handed out for listen(0) can be handed out again, as the local port of any outgoing
// connection of a test running in parallel, in the second before the child binds it (seen as
// EADDRINUSE). Random ports from 20000–32767 are only ever taken on purpose.
import { createServer } from 'node:net'

const LOW = 20_000
const HIGH = 32_768

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW))
    if (await canListen(port)) return port
  }
  throw new Error(`no free port found in ${LOW}–${HIGH - 1}`)
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}
