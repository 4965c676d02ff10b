// The push connection pool (node:http2) against servers that misbehave: a hostile HTTP/2 server,
// GOAWAY with Apple's debug data, a reset after `:status`, TooManyProviderTokenUpdates, a slow but
// live server, and an idle connection whose path died. Real TLS sockets on loopback throughout.
import { afterEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger, silentLogger } from '../../src/observability/logger.js'
import { createApnsProvider } from '../../src/providers/apns.js'
import { generateApnsKey } from '../../src/sim/apns/index.js'
import { startNetProxy, type NetProxy } from '../../src/sim/net-proxy.js'
import { createTestPki } from '../../src/sim/tls.js'
import { alertMessage, apnsWorld, type ApnsWorld } from '../sim/apns/world.js'
import { startHostileH2, type Hostility } from '../support/hostile-h2.js'
import { recordTrial } from '../support/trials.js'

// What one hostile connection may cost the gateway, all of it: a push service's answer is a few
// hundred bytes, and the limits (64 KB body, 16 KB header list, 32 MB session memory) sit far below.
const MEMORY_LIMIT_MIB = 48

describe('push connections against hostile and failing servers', () => {
  let world: ApnsWorld | undefined
  let proxy: NetProxy | undefined
  afterEach(async () => {
    await proxy?.close()
    await world?.close()
    world = undefined
    proxy = undefined
  })

  const hostile: Array<[Hostility, string]> = [
    ['header-flood', 'a header list of 20,000 fields (about 2 MB)'],
    ['endless-continuation', 'CONTINUATION frames without end'],
    ['endless-body', 'a response body without end'],
  ]
  for (const [hostility, what] of hostile) {
    test(`a server answering with ${what}: memory stays bounded, the connection is dropped, the push fails as retryable`, async () => {
      const pki = await createTestPki()
      const server = await startHostileH2(pki, hostility)
      const key = await generateApnsKey()
      const apns = createApnsProvider({
        key,
        url: server.url,
        ca: pki.caCert,
        logger: silentLogger(),
        requestTimeoutMs: 10_000,
      })
      try {
        const before = process.memoryUsage()
        let peak = before.rss
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10)
        const started = performance.now()
        const result = await apns.send(alertMessage())
        const took = performance.now() - started
        await sleep(100)
        clearInterval(sampler)
        const growthMiB = (peak - before.rss) / 1024 / 1024
        const sentMiB = (server.sentPerConnection[0] ?? 0) / 1024 / 1024
        recordTrial(
          {
            id: `security.hostile-h2-${hostility}`,
            area: 'security',
            what: `an HTTP/2 push server answering a push with ${what}`,
            tried: 1,
            unit: 'connections',
            held: `the gateway's memory grew less than ${MEMORY_LIMIT_MIB} MiB, the connection was dropped, the push failed as retryable`,
            lost: growthMiB < MEMORY_LIMIT_MIB && server.closedByClient >= 1 && result.kind === 'retry' ? 0 : 1,
            observed: `RSS +${growthMiB.toFixed(1)} MiB while the server sent ${sentMiB.toFixed(1)} MiB; dropped after ${Math.round(took)} ms: ${result.kind === 'retry' ? result.reason : result.kind}`,
          },
          import.meta.url,
        )
        assert.equal(result.kind, 'retry', JSON.stringify(result))
        assert.ok(took < 5_000, `the push ended in ${Math.round(took)} ms, not at the request timeout`)
        assert.ok(server.closedByClient >= 1, 'the connection was dropped')
        assert.ok(growthMiB < MEMORY_LIMIT_MIB, `RSS grew ${growthMiB.toFixed(1)} MiB (limit ${MEMORY_LIMIT_MIB} MiB)`)
      } finally {
        await apns.close()
        await server.close()
      }
    })
  }

  test('GOAWAY with debug data: the reason is logged, the streams above the last id are re-sent once on a new connection', async () => {
    world = await apnsWorld({ responseDelayMs: 300 })
    const lines: string[] = []
    const logger = createLogger(
      { level: 'info' },
      { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)) },
    )
    const apns = world.provider({ logger })
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.sandbox.resetStats()
    const messages = Array.from({ length: 10 }, () => alertMessage())
    const sends = messages.map((m) => apns.send(m))
    await sleep(100)
    assert.equal(world.sandbox.received, 10, 'all ten in flight on the first connection')
    // The server keeps the four oldest streams and tells the client the other six were not processed.
    world.sandbox.goAway({ processed: 4, reason: 'IdleTimeout' })
    const results = await Promise.all(sends)
    assert.deepEqual(
      results.map((r) => r.kind),
      Array(10).fill('delivered'),
    )
    assert.deepEqual(
      messages.map((m) => world?.sandbox.accepted.filter((p) => p.token === m.token).length),
      Array(10).fill(1),
      'each push accepted exactly once',
    )
    assert.equal(world.sandbox.received, 16, 'the six streams above the last id were sent again, once each')
    assert.equal(world.sandbox.connections(), 1, 'on one new connection')
    const goaway = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => typeof l.msg === 'string' && l.msg.includes('GOAWAY'))
    assert.equal(goaway?.reason, 'IdleTimeout', 'the debug data reason is logged')
    assert.equal(goaway?.lastStreamId !== undefined, true)
  })

  test('RST_STREAM after :status 200 is a failed attempt: retried, never counted as delivered', async () => {
    world = await apnsWorld()
    const apns = world.provider()
    let first = true
    world.sandbox.setChaos(() => (first ? ((first = false), 'reset-after-status') : undefined))
    const message = alertMessage()
    const result = await apns.send(message)
    assert.equal(result.kind, 'retry', JSON.stringify(result))
    assert.match(result.kind === 'retry' ? result.reason : '', /after :status 200/)
    assert.equal(world.sandbox.accepted.length, 0)
    // The dispatcher's retry of the same push:
    assert.equal((await apns.send(message)).kind, 'delivered')
    assert.equal(world.sandbox.accepted.filter((p) => p.token === message.token).length, 1)
  })

  test('TooManyProviderTokenUpdates retires the connection: the next push goes out on a new one', async () => {
    world = await apnsWorld()
    const apns = world.provider()
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    world.sandbox.failNext(1, { status: 429, reason: 'TooManyProviderTokenUpdates' })
    assert.equal((await apns.send(alertMessage())).kind, 'retry')
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    assert.equal(world.sandbox.connections(), 2)
  })

  test('a slow answer on a connection that acks PINGs is not a dead connection', async () => {
    world = await apnsWorld({ responseDelayMs: 700 })
    const apns = world.provider({ transport: { pingAfterMs: 100, pingTimeoutMs: 200 } })
    const message = alertMessage()
    assert.equal((await apns.send(message)).kind, 'delivered')
    assert.equal(world.sandbox.connections(), 1)
    assert.equal(world.sandbox.received, 1, 'sent once, never re-sent')
  })

  test('an idle connection whose path died is found by its PING before reuse; the push goes out on a new one, once', async () => {
    world = await apnsWorld()
    proxy = await startNetProxy({ target: { port: Number(new URL(world.sandbox.url).port) } })
    const apns = world.provider({ url: proxy.url, transport: { idlePingMs: 200, pingTimeoutMs: 300 } })
    assert.equal((await apns.send(alertMessage())).kind, 'delivered')
    proxy.blackHoleExisting()
    await sleep(250)
    const started = performance.now()
    const message = alertMessage()
    assert.equal((await apns.send(message)).kind, 'delivered')
    assert.ok(performance.now() - started < 2_000)
    assert.equal(world.sandbox.accepted.filter((p) => p.token === message.token).length, 1)
    assert.equal(proxy.connects, 2)
  })
})
