// A TCP proxy on loopback that a test or benchmark puts between the gateway and a sandbox, to break
// the network the ways real networks break: a NAT or firewall that forgets existing flows (their
// bytes vanish, nothing is closed), a service that refuses connections, a slow path, a reset.
// It forwards bytes and never looks into them: TLS runs end to end through it.
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { listenOnLoopback } from './listen.js'

export interface NetProxyOptions {
  /** Where connections go (a sandbox's port on loopback). */
  target: { host?: string; port: number }
  host?: string
  port?: number
}

/** What the proxy does with a new connection. */
export type ConnectMode =
  /** Forward it. */
  | 'pass'
  /** Accept and reset it at once (RST): the client sees ECONNRESET, as from a refusing service. */
  | 'refuse'
  /** Accept it and never forward a byte: a path that went silent. */
  | 'black-hole'

interface Flow {
  client: Socket
  upstream: Socket | undefined
  silenced: boolean
  /** Bytes from the service back to the client vanish; the client's still get through. */
  repliesLost: boolean
}

export class NetProxy {
  readonly port: number
  /** Connections accepted so far (any mode): the connect attempts a client made. */
  connects = 0
  /** performance.now() of each accepted connection. */
  readonly connectTimes: number[] = []
  private mode: ConnectMode = 'pass'
  private delayMs = 0
  private readonly flows = new Set<Flow>()

  constructor(
    private readonly server: Server,
    port: number,
    private readonly target: { host: string; port: number },
  ) {
    this.port = port
    server.on('connection', (client) => this.accept(client))
  }

  /** `https://localhost:<port>`: the sandbox's URL through the proxy (its certificate names localhost). */
  get url(): string {
    return `https://localhost:${this.port}`
  }

  /** How new connections are treated from now on. */
  setMode(mode: ConnectMode): void {
    this.mode = mode
  }

  /** Holds every chunk this long before forwarding it (0: none). */
  setDelay(ms: number): void {
    this.delayMs = ms
  }

  /** Existing flows stop carrying bytes either way, and stay open: a NAT that forgot them. New ones follow the mode. */
  blackHoleExisting(): void {
    for (const flow of this.flows) flow.silenced = true
  }

  /**
   * Existing flows still carry what the client sends, but nothing comes back, and they stay open:
   * the path died after a request got through, so the service acted on it and its reply is lost.
   */
  loseRepliesOfExisting(): void {
    for (const flow of this.flows) flow.repliesLost = true
  }

  /** Resets every open flow (RST to both ends). */
  resetAll(): void {
    for (const flow of this.flows) this.drop(flow, true)
  }

  /** Open flows right now. */
  get openFlows(): number {
    return this.flows.size
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const flow of this.flows) this.drop(flow, false)
    await closed
  }

  private accept(client: Socket): void {
    this.connects++
    this.connectTimes.push(performance.now())
    client.on('error', () => undefined)
    if (this.mode === 'refuse') return void client.resetAndDestroy()
    const flow: Flow = { client, upstream: undefined, silenced: this.mode === 'black-hole', repliesLost: false }
    this.flows.add(flow)
    client.once('close', () => this.drop(flow, false))
    if (flow.silenced) return void client.resume()
    const upstream = createConnection({ host: this.target.host, port: this.target.port })
    flow.upstream = upstream
    upstream.on('error', () => undefined)
    upstream.once('close', () => this.drop(flow, false))
    this.pipe(flow, client, upstream)
    this.pipe(flow, upstream, client)
  }

  private pipe(flow: Flow, from: Socket, to: Socket): void {
    const lost = (): boolean => flow.silenced || (flow.repliesLost && from === flow.upstream)
    from.on('data', (chunk: Buffer) => {
      if (lost()) return
      if (this.delayMs <= 0) return void to.write(chunk)
      setTimeout(() => {
        if (!lost() && !to.destroyed) to.write(chunk)
      }, this.delayMs)
    })
    // A half-close is passed on, unless the flow was silenced (a dead path carries no FIN either).
    from.once('end', () => {
      if (!flow.silenced && !to.destroyed) to.end()
    })
  }

  private drop(flow: Flow, reset: boolean): void {
    if (!this.flows.delete(flow)) return
    for (const socket of [flow.client, flow.upstream]) {
      if (!socket || socket.destroyed) continue
      if (reset) socket.resetAndDestroy()
      else socket.destroy()
    }
  }
}

export async function startNetProxy(options: NetProxyOptions): Promise<NetProxy> {
  const server = createServer()
  const port = await listenOnLoopback(server, options)
  return new NetProxy(server, port, { host: options.target.host ?? '127.0.0.1', port: options.target.port })
}
