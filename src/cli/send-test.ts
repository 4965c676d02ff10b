// push-gateway send-test --user <id>: rings an agent's devices exactly as a real call would (same
// payloads, same providers, same retries and token hygiene), then cancels the ring, and prints each
// device's result. The payload says it is a test (queue "push-gateway test").
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import { Dispatcher } from '../dispatch/dispatcher.js'
import { MEDIA_TYPES, type MediaType, type PushIntent, type RingContext } from '../model.js'
import { silentLogger, tokenPrefix } from '../observability/logger.js'
import { createProviders, providerList } from '../providers/create.js'
import { selectCancelTargets, selectRingTargets } from '../ring/phones.js'
import { openStore } from '../store/open.js'
import { EXIT, UsageError, configFrom, runCommand, type Io } from './common.js'
import type { PushOutcome } from '../outcomes.js'

export const SEND_TEST_USAGE = `Usage: push-gateway send-test --user <genesys-user-id> [--media voice|chat|callback|message|email]
                              [--ring-seconds N] [--config FILE] [--json]

Rings every phone of the agent once, as a real interaction would (a call goes through PushKit
on iPhones), waits --ring-seconds (default 5), then cancels the ring. Prints each
device's result. A device the push service says is dead is removed, as in normal operation.

Exit codes: 0 every device accepted the ring, 1 a device failed or the agent has no device,
2 bad usage or configuration.`

export interface DeviceResult {
  device: string
  platform: string
  via: string
  action: string
  result: string
  reason?: string
  ms?: number
  removed: boolean
}

/** What send-test prints for one push: the device by its token prefix, never the token. */
function deviceResult(outcome: PushOutcome): DeviceResult {
  return {
    device: tokenPrefix(outcome.target.device.token),
    platform: outcome.target.device.platform,
    via: outcome.target.via,
    action: outcome.intent.action,
    result: outcome.result.kind,
    ...('reason' in outcome.result ? { reason: outcome.result.reason } : {}),
    ...(outcome.sentAtHr !== undefined ? { ms: Math.round(outcome.answeredAtHr - outcome.sentAtHr) } : {}),
    removed: outcome.pruned,
  }
}

export async function runSendTest(
  config: Config,
  io: Io,
  options: { userId: string; media: MediaType; ringMs: number; json?: boolean },
): Promise<{ code: number; results: DeviceResult[] }> {
  const clock = systemClock
  const logger = silentLogger()
  const store = await openStore(config.storeUrl, { clock, logger })
  const providers = createProviders(config, {
    clock,
    logger,
    ...(io.ca ? { ca: io.ca } : {}),
    ...(io.webPushSandboxHosts ? { webPushSandboxHosts: io.webPushSandboxHosts } : {}),
  })
  const dispatcher = new Dispatcher({
    providers,
    store,
    clock,
    logger,
    payload: {
      apnsTopic: config.apns?.topic,
      apnsEnvironment: config.apns?.environment ?? 'production',
      redactCaller: config.payload.redactCaller,
    },
  })
  const results: DeviceResult[] = []
  try {
    const devices = await store.listDevices(options.userId)
    if (devices.length === 0) {
      io.err(`push-gateway: no devices registered for user ${options.userId} (see: push-gateway devices list)`)
      return { code: EXIT.failed, results }
    }
    const { targets, skipped } = selectRingTargets(devices, options.media)
    for (const s of skipped)
      if (!options.json)
        io.out(`  --    ${tokenPrefix(s.device.token).padEnd(12)} ${s.device.platform.padEnd(8)} not rung: ${s.reason}`)
    const now = clock.now()
    const ring: RingContext = {
      conversationId: `push-gateway-test-${randomUUID()}`,
      userId: options.userId,
      participantId: 'push-gateway-test',
      mediaType: options.media,
      offeredAt: now,
      queueName: 'push-gateway test',
      callerDisplay: 'push-gateway test',
    }
    const ringIntent: PushIntent = { action: 'ring', ring, targets, expiresAt: now + config.ring.timeoutMs }
    const rang = await dispatcher.dispatch(ringIntent)
    results.push(...rang.map(deviceResult))
    print(io, results, options.json)
    const delivered = rang.filter((r) => r.result.kind === 'delivered').map((r) => r.target.device)
    if (delivered.length > 0) {
      await new Promise((r) => setTimeout(r, options.ringMs))
      const cancelTargets = selectCancelTargets(
        delivered,
        await store.listDevices(options.userId),
        config.ring.iosCallCancel,
      )
      const cancelled = await dispatcher.dispatch({
        action: 'cancel',
        ring,
        targets: cancelTargets,
        expiresAt: clock.now() + config.ring.timeoutMs,
        reason: 'ended',
      })
      const more = cancelled.map(deviceResult)
      results.push(...more)
      print(io, more, options.json)
    }
    const ok = rang.length > 0 && rang.every((r) => r.result.kind === 'delivered')
    if (options.json) io.out(JSON.stringify({ ok, userId: options.userId, results }, null, 2))
    else io.out(ok ? '\nEvery device accepted the test ring.' : '\nSome devices did not get the test ring (see above).')
    return { code: ok ? EXIT.ok : EXIT.failed, results }
  } finally {
    await Promise.all(providerList(providers).map((p) => p.close()))
    await store.close()
  }
}

function print(io: Io, results: DeviceResult[], json: boolean | undefined): void {
  if (json) return
  for (const r of results) {
    const mark = r.result === 'delivered' ? '  ok  ' : '  FAIL'
    const why = r.reason ? ` (${r.reason})` : ''
    io.out(
      `${mark}  ${r.device.padEnd(12)} ${r.platform.padEnd(8)} ${r.action.padEnd(7)} via ${r.via.padEnd(6)} ${r.result}${why}${r.ms !== undefined ? ` ${r.ms} ms` : ''}${r.removed ? ' — token removed' : ''}`,
    )
  }
}

export async function sendTestCommand(args: string[], io: Io): Promise<number> {
  return runCommand(io, async () => {
    const { values } = parseArgs({
      args,
      options: {
        user: { type: 'string' },
        media: { type: 'string' },
        'ring-seconds': { type: 'string' },
        config: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    })
    if (values.help) return (io.out(SEND_TEST_USAGE), EXIT.ok)
    if (!values.user) throw new UsageError(`send-test needs --user <genesys-user-id>\n\n${SEND_TEST_USAGE}`)
    const media = (values.media ?? 'voice') as MediaType
    if (!MEDIA_TYPES.includes(media)) throw new UsageError(`--media must be one of ${MEDIA_TYPES.join(', ')}`)
    const seconds = Number(values['ring-seconds'] ?? '5')
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 60)
      throw new UsageError('--ring-seconds must be a number from 0 to 60')
    const config = configFrom(values.config)
    return (
      await runSendTest(config, io, { userId: values.user, media, ringMs: seconds * 1000, json: values.json === true })
    ).code
  })
}
