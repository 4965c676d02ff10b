// An HTTP proxy in front of dynalite that breaks chosen DynamoDB requests the ways a network breaks
// them: the request never arrives (the connection is reset before it is forwarded), or it arrives,
// the write is done, and the reply is lost (the connection is reset instead of answered). The
// second is the ambiguous failure a client cannot tell from the first: the SDK retries the write.
// And as DynamoDB refuses a request over its capacity: 400 ThrottlingException, nothing done.
import { createServer, request, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export type DynamoFault = 'lose-request' | 'lose-reply' | 'throttle'

export interface DynamoFaultProxy {
  endpoint: string
  /** The next `times` requests of `operation` (PutItem, GetItem, …) after the first `skip` meet `fault`. */
  fail(operation: string, fault: DynamoFault, o?: { times?: number; skip?: number }): void
  /** Requests of each operation that reached dynalite. */
  readonly forwarded: Map<string, number>
  close(): Promise<void>
}

export async function startDynamoFaultProxy(target: string): Promise<DynamoFaultProxy> {
  const upstream = new URL(target)
  const faults: Array<{ operation: string; fault: DynamoFault; times: number; skip: number }> = []
  const forwarded = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? ''
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const rule = faults.find((f) => f.operation === operation && f.times > 0)
      let fault: DynamoFault | undefined
      if (rule && rule.skip > 0) rule.skip--
      else if (rule) {
        rule.times--
        fault = rule.fault
      }
      if (fault === 'lose-request') return void req.socket.resetAndDestroy()
      if (fault === 'throttle') {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' })
        return void res.end(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
            message: 'Rate of requests exceeds the allowed throughput.',
          }),
        )
      }
      forwarded.set(operation, (forwarded.get(operation) ?? 0) + 1)
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (reply: IncomingMessage) => {
          const body: Buffer[] = []
          reply.on('data', (c: Buffer) => body.push(c))
          reply.on('end', () => {
            if (fault === 'lose-reply') return void req.socket.resetAndDestroy()
            res.writeHead(reply.statusCode ?? 502, reply.headers)
            res.end(Buffer.concat(body))
          })
        },
      )
      out.on('error', () => req.socket.resetAndDestroy())
      out.end(Buffer.concat(chunks))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fail: (operation, fault, o = {}) => faults.push({ operation, fault, times: o.times ?? 1, skip: o.skip ?? 0 }),
    forwarded,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
