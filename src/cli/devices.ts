// push-gateway devices list|remove: the device registry as the store holds it. Tokens are shown
// as a short prefix (they are credentials to a phone); remove accepts the full token or a prefix
// that matches exactly one of the agent's devices.
import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Device } from '../model.js'
import { silentLogger, tokenPrefix } from '../observability/logger.js'
import { openStore } from '../store/open.js'
import { agentNames } from './agent-names.js'
import { EXIT, UsageError, configFrom, runCommand, type Io } from './common.js'

export const DEVICES_USAGE = `Usage: push-gateway devices list [--user <genesys-user-id>] [--json] [--config FILE]
       push-gateway devices remove --user <genesys-user-id> --token <token or prefix> [--config FILE]

list     every registered device (or one agent's), newest first; tokens as a short prefix, with
         the deviceId of the phone each belongs to ('-' when registered without one).
remove   removes one of the agent's devices; --token is the full token or a prefix of at least
         8 characters that matches exactly one of that agent's devices.

Exit codes: 0 done, 1 no such device (or the prefix matches several), 2 bad usage or configuration.`

function row(d: Device): Record<string, string> {
  return {
    userId: d.userId,
    platform: d.platform,
    kind:
      d.platform === 'ios'
        ? `${d.pushType ?? 'alert'}/${d.environment ?? 'production'}`
        : d.platform === 'web'
          ? 'web push'
          : 'fcm',
    device: tokenPrefix(d.token),
    phone: d.deviceId ?? '-',
    registeredAt: new Date(d.registeredAt).toISOString(),
  }
}

export async function devicesCommand(
  args: string[],
  io: Io,
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  return runCommand(io, async () => {
    const [sub, ...rest] = args
    if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') return (io.out(DEVICES_USAGE), EXIT.ok)
    if (sub !== 'list' && sub !== 'remove') throw new UsageError(`unknown devices command "${sub}"\n\n${DEVICES_USAGE}`)
    const { values } = parseArgs({
      args: rest,
      options: {
        user: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    })
    if (values.help) return (io.out(DEVICES_USAGE), EXIT.ok)
    if (sub === 'remove' && (!values.user || !values.token))
      throw new UsageError(`devices remove needs --user and --token\n\n${DEVICES_USAGE}`)
    const config = configFrom(values.config, env)
    const store = await openStore(config.storeUrl, { clock: systemClock, logger: silentLogger(), ...config.store })
    try {
      if (sub === 'list') {
        const users = values.user ? [values.user] : await store.listUserIds()
        const devices = (await Promise.all(users.map((u) => store.listDevices(u))))
          .flat()
          .sort((a, b) => b.registeredAt - a.registeredAt)
        if (values.json) io.out(JSON.stringify(devices.map(row), null, 2))
        else if (devices.length === 0)
          io.out(values.user ? `no devices for user ${values.user}` : 'no devices registered')
        else {
          const names = await agentNames(config, [...new Set(devices.map((d) => d.userId))])
          io.out(
            `${'agent'.padEnd(20)} ${'user'.padEnd(38)} ${'platform'.padEnd(9)} ${'kind'.padEnd(18)} ${'device'.padEnd(12)} ${'phone'.padEnd(38)} registered`,
          )
          for (const r of devices.map(row))
            io.out(
              `${(names.get(r.userId!) ?? '?').slice(0, 20).padEnd(20)} ${r.userId!.padEnd(38)} ${r.platform!.padEnd(9)} ${r.kind!.padEnd(18)} ${r.device!.padEnd(12)} ${r.phone!.padEnd(38)} ${r.registeredAt}`,
            )
          io.out(`\n${devices.length} device(s) of ${new Set(devices.map((d) => d.userId)).size} agent(s)`)
        }
        return EXIT.ok
      }
      const userId = values.user as string
      const given = (values.token as string).replace(/…$/, '')
      if (given.length < 8) throw new UsageError('--token must be the full token or a prefix of at least 8 characters')
      const mine = await store.listDevices(userId)
      const matches = mine.filter(
        (d) =>
          d.token === given ||
          d.token.startsWith(given) ||
          d.token === given.toLowerCase() ||
          d.token.startsWith(given.toLowerCase()),
      )
      if (matches.length !== 1) {
        io.err(
          `push-gateway: ${matches.length === 0 ? `user ${userId} has no device matching ${tokenPrefix(given)}` : `${matches.length} devices of user ${userId} start with ${given}: give more of the token`}`,
        )
        return EXIT.failed
      }
      const device = matches[0] as Device
      await store.removeDevice(userId, device.token)
      io.out(`removed ${device.platform} device ${tokenPrefix(device.token)} of user ${userId}`)
      // The running gateway is not told: it keeps the agent's topic until it next re-subscribes
      // (reconnect or restart). Harmless: an offer to an agent without devices rings nothing.
      if (mine.length === 1)
        io.out(
          'that was the agent’s last device: a running gateway keeps listening to the agent until it next reconnects or restarts (nothing will ring)',
        )
      return EXIT.ok
    } finally {
      await store.close()
    }
  })
}
