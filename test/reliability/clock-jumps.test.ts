// Clock jumps against every credential the gateway keeps (fake clocks, real TLS to the sandboxes):
// the APNs provider token (JWT, ≤ 60 min old at Apple), the FCM OAuth access token (1 h), the Genesys
// client-credentials token (24 h) and the agent-token identity cache (60 s). Two kinds of jump:
// the process suspended for hours (its clock and the world's both move on), and the process's clock
// stepped back (NTP, a restored VM) while the world's keeps going. After each, a push or a call must
// still succeed, and a revoked agent token must not live longer than the cache TTL of real time.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { FakeClock } from '../../src/clock.js'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import {
  AgentAuthError,
  AgentDirectory,
  ClientCredentialsAuth,
  GenesysRest,
  createDispatcher,
} from '../../src/genesys/index.js'
import type { Device, PushIntent } from '../../src/model.js'
import { silentLogger } from '../../src/observability/logger.js'
import { createApnsProvider } from '../../src/providers/apns.js'
import { createFcmProvider } from '../../src/providers/fcm.js'
import { startTestWorld, type TestWorld } from '../../src/sim/world.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { fcmToken } from '../e2e/harness.js'
import { recordTrial } from '../support/trials.js'

const MIN = 60_000
const HOUR = 60 * MIN
/** The world's clock (Apple, Google, Genesys) and the gateway process's own. */
const world_ = new FakeClock(Date.now())
const gateway = new FakeClock(Date.now())
let world: TestWorld
before(async () => {
  world = await startTestWorld({ clock: world_ })
})
after(() => world.close())

/** Time passes for everyone (also the process suspended: its clock jumps with the world's). */
const pass = (ms: number): void => {
  world_.advance(ms)
  gateway.advance(ms)
}

function rig(): { send(platform: 'ios' | 'android'): Promise<string>; close(): Promise<void> } {
  const logger = silentLogger()
  const apns = createApnsProvider({
    key: { keyId: world.apnsKey.keyId, teamId: world.apnsKey.teamId, privateKeyPem: world.apnsKey.privateKeyPem },
    url: world.apns.url,
    ca: world.pki.caCert,
    clock: gateway,
    logger,
  })
  const fcm = createFcmProvider({
    serviceAccount: world.serviceAccount,
    url: world.fcm.url,
    ca: world.pki.caCert,
    clock: gateway,
    logger,
  })
  const dispatcher = new Dispatcher({
    providers: { apns, fcm },
    store: createMemoryStore(),
    clock: gateway,
    logger,
    payload: { apnsTopic: world.bundleId, apnsEnvironment: 'sandbox', redactCaller: false },
    retryBaseMs: 10,
    retryMaxMs: 50,
  })
  return {
    async send(platform) {
      const device: Device =
        platform === 'ios'
          ? {
              userId: 'clock',
              platform,
              token: randomBytes(32).toString('hex'),
              pushType: 'alert',
              environment: 'sandbox',
              registeredAt: gateway.now(),
            }
          : { userId: 'clock', platform, token: fcmToken(), registeredAt: gateway.now() }
      const intent: PushIntent = {
        action: 'ring',
        ring: {
          conversationId: randomBytes(8).toString('hex'),
          userId: 'clock',
          participantId: 'p',
          mediaType: 'chat',
          offeredAt: gateway.now(),
        },
        targets: [{ device, via: platform === 'ios' ? 'alert' : 'data' }],
        expiresAt: gateway.now() + 30_000,
      }
      const [outcome] = await dispatcher.dispatch(intent)
      return outcome?.result.kind === 'delivered'
        ? 'delivered'
        : `${outcome?.result.kind}: ${'reason' in (outcome?.result ?? {}) ? (outcome?.result as { reason: string }).reason : ''}`
    },
    close: () => Promise.all([apns.close(), fcm.close()]).then(() => undefined),
  }
}

test('pushes still go out after the process sleeps for hours and after its clock is stepped back', async () => {
  const r = rig()
  const results: Record<string, string> = {}
  try {
    results['ios at start'] = await r.send('ios')
    results['android at start'] = await r.send('android')
    pass(2 * HOUR) // suspended: both tokens long expired at Apple and Google
    results['ios after a 2 h suspend'] = await r.send('ios')
    results['android after a 2 h suspend'] = await r.send('android')
    pass(26 * HOUR)
    results['ios after a 26 h suspend'] = await r.send('ios')
    results['android after a 26 h suspend'] = await r.send('android')
    // The process's clock is stepped back 5 minutes (an NTP correction); then an hour passes.
    gateway.advance(-5 * MIN)
    pass(61 * MIN)
    results['ios after a 5 min step back, then 61 min'] = await r.send('ios')
    results['android after a 5 min step back, then 61 min'] = await r.send('android')
  } finally {
    await r.close()
  }
  const failed = Object.entries(results).filter(([, v]) => v !== 'delivered')
  recordTrial(
    {
      id: 'fault.clock-jumps-push-tokens',
      area: 'fault',
      what: 'Process suspended 2 h and 26 h, and its clock stepped back 5 min then an hour passing: APNs provider token (JWT) and FCM access token (fake clocks, real sandboxes)',
      tried: Object.keys(results).length,
      unit: 'pushes',
      held: 'each push delivered (tokens renewed, or renewed once after the service refused them)',
      lost: failed.length,
    },
    import.meta.url,
  )
  assert.deepEqual(failed, [])
})

test('a large backward step (45 min) costs iOS pushes until the provider token is 20 min old on the gateway clock, then recovers', async () => {
  const r = rig()
  const timeline: Array<{ at: number; result: string }> = []
  try {
    assert.equal(await r.send('ios'), 'delivered')
    gateway.advance(-45 * MIN)
    pass(61 * MIN) // Apple: the token is 61 min old; the gateway's clock: 16 min
    for (let m = 0; m <= 6; m++) {
      timeline.push({ at: m, result: await r.send('ios') })
      pass(MIN)
    }
  } finally {
    await r.close()
  }
  const failed = timeline.filter((t) => t.result !== 'delivered')
  recordTrial(
    {
      id: 'fault.clock-step-back-apns',
      area: 'fault',
      what: 'Process clock stepped back 45 min, then an hour passing: iOS pushes each minute',
      tried: timeline.length,
      unit: 'pushes',
      held: 'recovered by itself once the provider token was 20 min old on the gateway clock; the pushes before failed with the "check the clock" alarm',
      lost: failed.length,
      knownLimit:
        'Apple refuses a token renewal within 20 min of the last (TooManyProviderTokenUpdates), and iat comes from the gateway clock: a backward step of more than 10 min costs iOS pushes for up to 20 min. Keep the host clock synchronised (slewing, not stepping).',
      observed: `failed at minutes ${failed.map((f) => f.at).join(', ')}`,
    },
    import.meta.url,
  )
  assert.ok(failed.length > 0 && failed.length <= 5, `a bounded loss (${failed.length} pushes)`)
  assert.equal(timeline.at(-1)?.result, 'delivered', 'recovered without a restart')
  assert.match(failed[0]?.result ?? '', /ExpiredProviderToken/)
})

test('the Genesys client-credentials token and the agent identity cache across the same jumps', async () => {
  const dispatcher = createDispatcher(world.pki.caCert)
  const logger = silentLogger()
  const auth = new ClientCredentialsAuth({
    loginUrl: world.genesys.url,
    ...world.client,
    dispatcher,
    clock: gateway,
    logger,
  })
  const rest = new GenesysRest({ apiUrl: world.genesys.url, auth, dispatcher, clock: gateway, logger })
  const agents = new AgentDirectory({
    apiUrl: world.genesys.url,
    organization: { id: () => Promise.resolve(world.genesys.orgId) },
    dispatcher,
    clock: gateway,
    logger,
  })
  const queue = world.genesys.addQueue({ name: 'Clock Queue' })
  const outcomes: Record<string, boolean> = {}
  const ok = async (what: string, f: () => Promise<unknown>): Promise<void> => {
    outcomes[what] = await f().then(
      () => true,
      () => false,
    )
  }
  await ok('REST at start', () => rest.getQueue(queue.id))
  pass(25 * HOUR) // past the token's 24 h life
  await ok('REST after a 25 h suspend', () => rest.getQueue(queue.id))
  gateway.advance(-45 * MIN)
  pass(24 * HOUR)
  await ok('REST after a 45 min step back, then 24 h', () => rest.getQueue(queue.id))

  // A revoked agent token must stop working within the cache TTL (60 s) of real time.
  const agent = world.genesys.addAgent()
  await ok('agent token at start', () => agents.resolve(agent.accessToken))
  world.genesys.revokeToken(agent.accessToken)
  pass(2 * MIN)
  outcomes['revoked agent token refused after a 2 min suspend'] = await agents.resolve(agent.accessToken).then(
    () => false,
    (err: unknown) => err instanceof AgentAuthError,
  )
  const second = world.genesys.addAgent()
  await ok('second agent token', () => agents.resolve(second.accessToken))
  world.genesys.revokeToken(second.accessToken)
  gateway.advance(-45 * MIN) // the process clock steps back: the entry must not now live 46 minutes
  pass(2 * MIN)
  outcomes['revoked agent token refused 2 min after a 45 min step back'] = await agents
    .resolve(second.accessToken)
    .then(
      () => false,
      (err: unknown) => err instanceof AgentAuthError,
    )

  const failed = Object.entries(outcomes).filter(([, v]) => !v)
  recordTrial(
    {
      id: 'fault.clock-jumps-genesys-tokens',
      area: 'fault',
      what: 'Process suspended 25 h and its clock stepped back 45 min: Genesys client-credentials token (24 h) and the 60 s agent identity cache with revoked tokens',
      tried: Object.keys(outcomes).length,
      unit: 'checks',
      held: 'REST calls succeed (token renewed); a revoked agent token is refused once 60 s of real time have passed',
      lost: failed.length,
    },
    import.meta.url,
  )
  assert.deepEqual(failed, [])
})
