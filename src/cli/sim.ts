// `push-gateway sim`: the Genesys Cloud simulator and the APNs, FCM and Web Push sandboxes on their
// own, with simulated phones, so that every command (start, doctor, send-test, devices) can be
// tried without credentials. It prints the settings that point the gateway at them; the phones
// print each push they receive. Only the demo and this command import sim/.
import { parseArgs } from 'node:util'
import { PhoneNetwork } from '../sim/phones/index.js'
import { startTestWorld } from '../sim/world.js'

export const SIM_USAGE = `Usage: push-gateway sim

Runs the simulated Genesys Cloud and the APNs, FCM and Web Push sandboxes over TLS on loopback,
with two agents and their simulated phones, and prints the environment for start, doctor,
send-test and devices. Ctrl-C stops it (and removes its temporary keys).`

const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`

export async function runSim(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, strict: true })
  if (values.help) return (void out.write(`${SIM_USAGE}\n`), 0)
  const world = await startTestWorld()
  const phones = new PhoneNetwork(world, { bundleId: world.bundleId })
  const alice = world.genesys.addAgent({ name: 'Alice Example' })
  const bob = world.genesys.addAgent({ name: 'Bob Example' })
  const iphone = phones.iphone({ name: "Alice's iPhone", appState: 'background' })
  const android = phones.android({ name: "Bob's Android phone", appState: 'background' })
  const port = process.env.PORT ?? '8080'
  const env = {
    ...world.env,
    NODE_EXTRA_CA_CERTS: world.caFile,
    STORE_URL: 'sqlite:./data/sim-gateway.db',
    PORT: port,
    HOST: '127.0.0.1',
  }
  const register = (token: string, body: Record<string, unknown>) =>
    `curl -s -X POST http://127.0.0.1:${port}/api/v1/devices -H 'authorization: Bearer ${token}' -H 'content-type: application/json' -d ${quote(JSON.stringify(body))}`

  out.write(
    [
      'Simulated Genesys Cloud, APNs, FCM and Web Push are running on loopback (Ctrl-C stops them).',
      '',
      '1. In another terminal, point the gateway at them:',
      '',
      ...Object.entries(env).map(([name, value]) => `export ${name}=${quote(value)}`),
      '',
      '2. Try the commands:',
      '',
      'npx push-gateway doctor                      # every check passes against the simulators',
      'npx push-gateway start                       # the gateway, listening on port ' + port,
      '',
      "3. With the gateway running, register the agents' phones as their apps would:",
      '',
      ...iphone.registrations().map((body) => register(alice.accessToken, body)),
      ...android.registrations().map((body) => register(bob.accessToken, body)),
      '',
      `npx push-gateway devices list                # ${alice.name} (${alice.userId}) and ${bob.name} (${bob.userId})`,
      `npx push-gateway send-test --user ${alice.userId}   # rings and cancels ${alice.name}'s iPhone`,
      `npx push-gateway send-test --user ${bob.userId}   # rings and cancels ${bob.name}'s Android phone`,
      '',
      '(A browser is not offered here: the gateway accepts Web Push endpoints of public push services only,',
      'never loopback; `npm start` runs the demo, whose in-process gateway rings a simulated browser too.)',
      '',
      'Pushes the simulated phones receive:',
      '',
    ].join('\n'),
  )
  const show = (provider: string) => () => {
    const ringing = phones
      .phones()
      .filter((phone) => phone.ringing())
      .map((phone) => phone.name)
    out.write(
      `${new Date().toISOString()}  ${provider} push accepted; ringing now: ${ringing.length > 0 ? ringing.join(', ') : 'none'}\n`,
    )
  }
  // After the phones have handled the push (their listeners were added first).
  world.apns.on('push', show('APNs'))
  world.fcm.on('message', show('FCM'))
  world.webpush.on('push', show('Web Push'))

  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  phones.close()
  await world.close()
  return 0
}
