// Benchmark 5: the registration API under load. autocannon against POST /api/v1/devices of a real
// gateway, on the Redis store, the SQLite store and the DynamoDB store (on dynalite, a DynamoDB
// implementation in this process: it measures the gateway's side, not AWS's latency), with many
// agents' own Genesys tokens.
import { join } from 'node:path'
import autocannon from 'autocannon'
import { startGatewayChild, until } from './lib/gateway.js'
import { fmtInt, fmtMs, fmtRatio, fmtSpread, spread, type Spread } from './lib/stats.js'
import { barChart } from './lib/svg.js'
import type { BenchContext, BenchOutput, Benchmark, Scale } from './lib/types.js'
import {
  addAgents,
  benchWorld,
  device,
  dropPrefix,
  openBenchStore,
  seedDevices,
  uniquePrefix,
  type BenchAgent,
} from './lib/world.js'
import type { Device } from '../src/model.js'
import { openStore } from '../src/store/open.js'
import { DYNALITE_ENV, startDynaliteProcess } from '../test/support/dynalite.js'

type StoreKind = 'redis' | 'sqlite' | 'dynamodb'
const DYNALITE_CONNECTIONS = 8

const TARGET_REDIS_RPS = 5000
const plan = (
  scale: Scale,
  runs?: number,
): { agents: number; runs: number; seconds: number; warmS: number; connections: number } =>
  scale === 'full'
    ? { agents: 2000, runs: runs ?? 5, seconds: 10, warmS: 3, connections: 64 }
    : { agents: 300, runs: runs ?? 2, seconds: 3, warmS: 2, connections: 64 }

interface StoreFigures {
  store: StoreKind
  rps: Spread
  p50: Spread
  p99: Spread
  non2xx: number
  errors: number
}

/** `seconds` of requests, or with `amount` that many (each body once when it is bodies.length). */
function cannon(
  api: string,
  bodies: Array<{ token: string; body: string }>,
  seconds: number,
  connections: number,
  amount?: number,
): Promise<autocannon.Result> {
  let i = 0
  return autocannon({
    url: api,
    connections,
    ...(amount !== undefined ? { amount } : { duration: seconds }),
    requests: [
      {
        method: 'POST',
        path: '/api/v1/devices',
        setupRequest: (req) => {
          const b = bodies[i++ % bodies.length] as { token: string; body: string }
          return {
            ...req,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${b.token}` },
            body: b.body,
          }
        },
      },
    ],
  })
}

async function measure(
  ctx: BenchContext,
  world: Awaited<ReturnType<typeof benchWorld>>,
  agents: BenchAgent[],
  devices: Device[],
  kind: StoreKind,
  p: ReturnType<typeof plan>,
  step: number,
): Promise<StoreFigures> {
  const prefix = uniquePrefix('register')
  const dynalite = kind === 'dynamodb' ? await startDynaliteProcess() : undefined
  // The gateway child inherits these: the AWS SDK's default credential chain stops at them.
  if (dynalite) Object.assign(process.env, DYNALITE_ENV)
  const storeUrl =
    kind === 'redis'
      ? ctx.redisUrl
      : dynalite
        ? dynalite.storeUrl('bench')
        : `sqlite:${join(ctx.tmpDir, `register-${Date.now()}.db`)}`
  // The agents already have a device: their topics are subscribed at start, and each request is
  // the app re-registering its token at launch (an upsert), not a new topic.
  const store = dynalite
    ? await openStore(storeUrl, { createTables: true })
    : await openBenchStore(storeUrl, kind === 'redis' ? prefix : undefined)
  await seedDevices(store, devices)
  await store.close()
  const gw = await startGatewayChild({ world, storeUrl, ...(kind === 'redis' ? { storeKeyPrefix: prefix } : {}) })
  try {
    await until(
      'the gateway to subscribe every agent',
      () => world.genesys.channels().some((c) => c.connected && c.topics.length === agents.length),
      30_000,
    )
    const bodies = devices.map((d, i) => ({
      token: (agents[i % agents.length] as BenchAgent).accessToken,
      body: JSON.stringify(
        d.platform === 'ios'
          ? { platform: 'ios', token: d.token, pushType: 'alert', environment: 'sandbox' }
          : { platform: 'android', token: d.token },
      ),
    }))
    ctx.progress.update(step / 3, `${kind}: warm-up (fills the token → agent cache)`)
    // dynalite answers one request at a time: 64 connections would only queue behind it.
    const connections = kind === 'dynamodb' ? DYNALITE_CONNECTIONS : p.connections
    // Every agent once first, so no measured request waits for Genesys to name its token's owner,
    // however slowly the machine runs the timed warm-up.
    await cannon(gw.ready.api, bodies, p.warmS, connections, bodies.length)
    await cannon(gw.ready.api, bodies, p.warmS, connections)
    const results: autocannon.Result[] = []
    for (let r = 0; r < p.runs; r++) {
      ctx.progress.update((step + r / p.runs) / 3, `${kind}: run ${r + 1}/${p.runs}, ${connections} connections`)
      results.push(await cannon(gw.ready.api, bodies, p.seconds, connections))
    }
    return {
      store: kind,
      rps: spread(results.map((x) => x.requests.average)),
      p50: spread(results.map((x) => x.latency.p50)),
      p99: spread(results.map((x) => x.latency.p99)),
      non2xx: results.reduce((s, x) => s + x.non2xx, 0),
      errors: results.reduce((s, x) => s + x.errors, 0),
    }
  } finally {
    await gw.stop()
    if (kind === 'redis') await dropPrefix(prefix, ctx.redisUrl)
    await dynalite?.close()
  }
}

export const register: Benchmark = {
  id: 'register',
  title: '5. Registration API (POST /api/v1/devices)',
  estimateS: (scale) => {
    const p = plan(scale)
    return 3 * (10 + p.warmS + p.runs * (p.seconds + 1))
  },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const p = plan(ctx.scale, ctx.runs)
    const world = await benchWorld()
    try {
      const agents = addAgents(world, Math.min(p.agents, 1000))
      // Up to 1,000 agents (one Notifications channel); more devices than agents: some have two.
      const devices = Array.from({ length: p.agents }, (_, i) =>
        device((agents[i % agents.length] as BenchAgent).userId, i % 2 === 0 ? 'ios' : 'android'),
      )
      const redis = await measure(ctx, world, agents, devices, 'redis', p, 0)
      const sqlite = await measure(ctx, world, agents, devices, 'sqlite', p, 1)
      const dynamodb = await measure(ctx, world, agents, devices, 'dynamodb', p, 2)
      const row = (f: StoreFigures): string =>
        `| ${f.store} | ${fmtSpread(f.rps, fmtInt)} | ${fmtSpread(f.p50, fmtMs)} | ${fmtSpread(f.p99, fmtMs)} | ${fmtInt(f.non2xx)} | ${fmtInt(f.errors)} |`
      return {
        id: 'register',
        title: register.title,
        markdown: [
          `${p.runs} runs of ${p.seconds} s per store after a ${p.warmS} s warm-up, ${p.connections} connections (DynamoDB: ${DYNALITE_CONNECTIONS}), requests rotating over ${fmtInt(devices.length)} devices of ${fmtInt(agents.length)} agents (each request carries its agent's own Genesys token).`,
          '',
          '| store | requests/s | p50 | p99 | non-2xx | errors |',
          '|---|---|---|---|---|---|',
          row(redis),
          row(sqlite),
          row(dynamodb),
          '',
          `Redis / SQLite throughput: ${fmtRatio(redis.rps.median / sqlite.rps.median)}.`,
          '',
          'DynamoDB is measured on dynalite, a DynamoDB implementation running on this machine: it shows what the gateway and the AWS SDK cost per registration, not what AWS adds. Real DynamoDB adds several milliseconds per operation (single-digit ms within a region); a registration is one conditional write, so expect its latency to rise by about that much. On the ring path an offer costs one write before its push leaves and an answer a read plus a write before its cancel leaves (README, DynamoDB: what it costs).',
        ].join('\n'),
        method:
          'autocannon (in the orchestrator process, beside the simulator) drives the real gateway in a child process: agent bearer token → GET /api/v2/users/me on the simulator (cached for a minute under a hash of the token, so only the warm-up asks Genesys), body validation, store upsert, and the topic check. ' +
          "The agents' devices are registered before the gateway starts (their topics subscribed at start), so the measured requests are re-registrations, as an app does at every launch; a first registration also subscribes a Notifications topic, a Genesys REST call limited to 300/min per client. Logs at info, written to /dev/null.",
        charts: [
          {
            file: 'register.svg',
            alt: 'Registration requests per second',
            svg: barChart({
              title: 'POST /api/v1/devices, requests per second',
              yLabel: 'requests per second',
              bars: [redis, sqlite, dynamodb].map((f, i) => ({
                label: f.store,
                value: f.rps.median,
                min: f.rps.min,
                max: f.rps.max,
                group: i,
              })),
              target: { value: TARGET_REDIS_RPS, label: `target (Redis) ≥ ${fmtInt(TARGET_REDIS_RPS)}/s` },
            }),
          },
        ],
        headline: [
          {
            figure: 'Redis: requests/s',
            value: fmtSpread(redis.rps, fmtInt),
            target: `≥ ${fmtInt(TARGET_REDIS_RPS)}`,
            pass: redis.rps.median >= TARGET_REDIS_RPS && redis.non2xx === 0,
          },
          { figure: 'Redis: p99', value: fmtSpread(redis.p99, fmtMs) },
          { figure: 'SQLite: requests/s', value: fmtSpread(sqlite.rps, fmtInt) },
          { figure: 'SQLite: p99', value: fmtSpread(sqlite.p99, fmtMs) },
          { figure: 'DynamoDB (dynalite): requests/s', value: fmtSpread(dynamodb.rps, fmtInt) },
          { figure: 'DynamoDB (dynalite): p99', value: fmtSpread(dynamodb.p99, fmtMs) },
        ],
        data: { plan: p, redis, sqlite, dynamodb },
      }
    } finally {
      await world.close()
    }
  },
}
