// `push-gateway demo` (what `npm start` runs): the real gateway, embedded SQLite store, wired to
// the built-in Genesys Cloud simulator and APNs / FCM / Web Push sandboxes. Two agents' simulated
// phones register through the gateway's API like the apps would; a scenario loops until Ctrl-C
// and prints, after each change in Genesys, which phones are ringing.
// This is the only gateway command that imports sim/.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { destination } from 'pino'
import { Gateway, PortInUseError } from '../app.js'
import { loadConfig } from '../config.js'
import { createLogger } from '../observability/logger.js'
import { PhoneNetwork, ReceiptReporter, type SimulatedPhone } from '../sim/phones/index.js'
import { startTestWorld, type TestWorld } from '../sim/world.js'
import { colour, DemoView } from './view.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, host, () => probe.close(() => resolve(true)))
  })
}

interface DemoPhone {
  phone: SimulatedPhone
  /** What the app POSTs to /api/v1/devices at start, one body per token. */
  registrations(): Array<Record<string, unknown>>
}

async function register(api: string, accessToken: string, demo: DemoPhone): Promise<void> {
  for (const body of demo.registrations()) {
    const res = await fetch(`${api}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (res.status !== 201) throw new Error(`registering ${demo.phone.name} failed: ${res.status} ${await res.text()}`)
  }
}

export async function runDemo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { loops: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help) {
    process.stdout.write(
      'Usage: push-gateway demo [--loops N] [--port P]\n  Runs the gateway against the built-in simulator and sandboxes; --loops stops after N rounds.\n',
    )
    return
  }
  const loops = values.loops ? Number(values.loops) : Infinity
  // Loopback unless HOST says otherwise (the Docker image sets 0.0.0.0 so `-p 8080:8080` reaches it).
  const host = process.env.HOST ?? '127.0.0.1'
  // A port asked for (--port, PORT) must be that port: taken, the demo stops with one line naming
  // it. Only the default, 8080, gives way to a free port when something else holds it.
  const asked = values.port ?? process.env.PORT
  if (asked !== undefined && !/^\d{1,5}$/.test(asked)) {
    process.stderr.write(`push-gateway: PORT: ${asked} is not a port number\n`)
    process.exit(2)
  }
  const wanted = Number(asked ?? 8080)
  if (asked !== undefined && !(await portFree(wanted, host))) {
    process.stderr.write(`push-gateway: ${new PortInUseError(wanted, host).message}\n`)
    process.exit(2)
  }
  const port = asked !== undefined || (await portFree(wanted, host)) ? wanted : 0

  process.stdout.write(
    colour.bold('genesys-push-gateway demo') +
      colour.dim(' — simulated Genesys Cloud, APNs, FCM and Web Push sandboxes and phones over TLS on loopback\n'),
  )
  const world: TestWorld = await startTestWorld()
  const adminToken = randomBytes(24).toString('base64url')
  const config = loadConfig({
    ...world.env,
    STORE_URL: `sqlite:${join(world.dir, 'gateway.db')}`,
    PORT: String(port),
    HOST: host,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    RING_TIMEOUT_S: '20',
    // A token of this run only, so the dashboard can be opened (without one admin access is off).
    ADMIN_TOKEN: adminToken,
  })
  // Gateway logs go to stderr (JSON, warnings and up by default) so they do not mix with the view.
  const logger = createLogger({ level: config.logLevel }, destination(2))

  const deviceNames = new Map<string, string>()
  const agentNames = new Map<string, string>()
  const view = new DemoView(deviceNames, agentNames)
  const gateway = await Gateway.create({
    config,
    logger,
    ca: world.pki.caCert,
    webPushSandboxHosts: [world.webPushSandboxHost],
    onEvent: (e) => view.event(e),
    onOutcome: (o) => view.outcome(o),
    onReceipt: (r) => view.receipt(r.token, r.action, r.latencyMs),
  })
  // Pushes take 40-240 ms from the push service to a phone; the apps report each one (receipts).
  const phones = new PhoneNetwork(world, { bundleId: world.bundleId, delivery: { delayMs: 40, jitterMs: 200 } })
  const reporters: ReceiptReporter[] = []
  world.apns.on(
    'push',
    (p: { token: string; headers: Record<string, string>; payload: Record<string, unknown>; hrtime: number }) =>
      view.accepted(
        'APNs',
        p.token,
        String(p.payload.genesys_conversation_id),
        String(p.payload.action),
        `${p.headers['apns-push-type']} ${p.headers['apns-topic']}`,
        p.hrtime,
      ),
  )
  world.fcm.on('message', (m: { message: Record<string, unknown>; hrtime: number }) => {
    const data = (m.message.data ?? {}) as Record<string, string>
    const android = (m.message.android ?? {}) as Record<string, string>
    view.accepted(
      'FCM',
      String(m.message.token),
      String(data.genesys_conversation_id),
      String(data.action),
      `data ${android.priority ?? ''}`,
      m.hrtime,
    )
  })
  world.webpush.on(
    'push',
    (w: { endpoint: string; payload?: Record<string, unknown>; urgency: string; hrtime: number }) =>
      view.accepted(
        'Web Push',
        w.endpoint,
        String(w.payload?.genesys_conversation_id),
        String(w.payload?.action),
        `urgency ${w.urgency}`,
        w.hrtime,
      ),
  )

  let stopping = false
  const stop = async (code: number) => {
    // A second Ctrl-C forces the exit; the world's key material is still removed (exit hook).
    if (stopping) process.exit(1)
    stopping = true
    process.stdout.write(`\n${view.summary()}\n${colour.dim('stopping…')}\n`)
    await Promise.all(reporters.map((r) => r.stop()))
    phones.close()
    await gateway.stop(2_000)
    await world.close()
    process.exit(code)
  }
  process.on('SIGINT', () => void stop(0))
  process.on('SIGTERM', () => void stop(0))

  // A stop (Ctrl-C, SIGTERM, a closed stdout) may come at any point of the scenario: requests then
  // fail under it, which is expected; stop() exits once everything is closed.
  const scenario = async (): Promise<void> => {
    const api = await gateway.start()
    view.line('gateway', `listening on ${api} (store ${config.storeUrl}); Genesys simulator at ${world.genesys.url}`)
    const dashboardUrl = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${new URL(api).port}/dashboard`
    process.stdout.write(
      `\nDashboard: ${dashboardUrl}\nAdmin token: ${adminToken}  (paste it into the dashboard's sign-in; a new one on every start)\n\n`,
    )

    const queue = world.genesys.addQueue({ name: 'Sales Support' })
    const alice = world.genesys.addAgent({ name: 'Alice Example' })
    const bob = world.genesys.addAgent({ name: 'Bob Example' })
    agentNames.set(alice.userId, alice.name).set(bob.userId, bob.name)
    // Alice's iPhone is locked in her pocket (app in the background), her iPad's app was swiped
    // away; Bob's Android phone lies untouched (Doze) and he also has the web app open.
    const iphone = phones.iphone({ name: "Alice's iPhone", appState: 'background' })
    const ipad = phones.iphone({ name: "Alice's iPad", voip: false, appState: 'killed' })
    const tablet = phones.android({ name: "Alice's Android tablet", appState: 'background' })
    const bobPhone = phones.android({ name: "Bob's Android phone", appState: 'killed', doze: true })
    const bobBrowser = phones.browser({ name: "Bob's browser", applicationServerKey: world.vapid.publicKey })
    const owned: Array<[typeof alice, DemoPhone]> = [
      [alice, { phone: iphone, registrations: () => iphone.registrations() }],
      [alice, { phone: ipad, registrations: () => ipad.registrations() }],
      [alice, { phone: tablet, registrations: () => tablet.registrations() }],
      [bob, { phone: bobPhone, registrations: () => bobPhone.registrations() }],
      [bob, { phone: bobBrowser, registrations: () => bobBrowser.registrations() }],
    ]
    for (const [agent, demo] of owned) {
      await register(api, agent.accessToken, demo)
      reporters.push(new ReceiptReporter(demo.phone, { gateway: api, accessToken: agent.accessToken }))
      for (const token of demo.phone.tokens()) deviceNames.set(token, demo.phone.name)
      view.line(
        'agent',
        `${agent.name} registered ${demo.phone.name} (${demo.phone.tokens().length} token${demo.phone.tokens().length > 1 ? 's' : ''}) with POST /api/v1/devices`,
      )
    }
    const showPhones = () => view.phones(phones.phones(), phones.violations().length)
    // The source subscribes new agents' topics as they register; give the subscription a moment.
    await sleep(300)

    const g = world.genesys
    const change = (cid: string, action: 'ring' | 'cancel_ring', text: string, act: () => void) => {
      const at = performance.now()
      view.genesysChange(cid, action, text, at)
      act()
    }
    for (let round = 1; round <= loops && !stopping; round++) {
      view.line('demo', colour.bold(`round ${round}`))
      // 1. A call to Alice, answered on the desk phone after two seconds.
      let at = performance.now()
      const call = g.offer({ userId: alice.userId, mediaType: 'voice', queueId: queue.id, ani: 'tel:+15550199888' })
      view.genesysChange(
        call.conversationId,
        'ring',
        `voice call from +15550199888 offered to ${alice.name} (Sales Support)`,
        at,
      )
      await sleep(2_000)
      showPhones()
      change(call.conversationId, 'cancel_ring', `${alice.name} answered the call at her desk`, () =>
        g.answer(call.conversationId),
      )
      await sleep(1_500)
      showPhones()
      g.end(call.conversationId)
      await sleep(800)

      // 2. A chat to Bob; the customer leaves before Bob answers.
      at = performance.now()
      const chat = g.offer({ userId: bob.userId, mediaType: 'chat', queueId: queue.id, ani: 'Jane Customer' })
      view.genesysChange(chat.conversationId, 'ring', `chat from Jane Customer offered to ${bob.name}`, at)
      await sleep(1_500)
      showPhones()
      change(chat.conversationId, 'cancel_ring', 'the customer left the chat (abandoned)', () =>
        g.abandon(chat.conversationId),
      )
      await sleep(800)
      showPhones()

      // 3. A callback to Alice that nobody takes: Genesys times the alert out.
      at = performance.now()
      const callback = g.offer({
        userId: alice.userId,
        mediaType: 'callback',
        queueId: queue.id,
        ani: 'tel:+15550142424',
      })
      view.genesysChange(callback.conversationId, 'ring', `callback request offered to ${alice.name}`, at)
      await sleep(2_500)
      showPhones()
      change(callback.conversationId, 'cancel_ring', `${alice.name} did not answer (alerting timed out)`, () =>
        g.noAnswer(callback.conversationId),
      )
      await sleep(1_200)
      showPhones()
      view.line('demo', colour.dim(view.summary()))
    }
  }
  await scenario().catch((err: unknown) => {
    if (!stopping) throw err
  })
  if (!stopping) await stop(0)
  // The stop under way exits the process.
  await new Promise(() => {})
}
