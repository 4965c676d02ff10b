// A test world for APNs: a throwaway PKI, a freshly generated .p8 key, the sandbox on port 0,
// and providers aimed at it. Everything is closed by close().
import { FakeClock } from '../../../src/clock.js'
import { silentLogger } from '../../../src/observability/logger.js'
import { createApnsProvider, type ApnsProviderOptions } from '../../../src/providers/apns.js'
import type { ApnsMessage, PushProvider } from '../../../src/providers/provider.js'
import { createTestPki, type TestPki } from '../../../src/sim/tls.js'
import {
  generateApnsKey,
  startApnsSandbox,
  type ApnsKeyMaterial,
  type ApnsSandbox,
  type ApnsSandboxOptions,
} from '../../../src/sim/apns/index.js'

export const BUNDLE = 'com.example.agent'

export interface ApnsWorld {
  pki: TestPki
  key: ApnsKeyMaterial
  clock: FakeClock
  sandbox: ApnsSandbox
  provider(over?: Partial<ApnsProviderOptions>): PushProvider<ApnsMessage>
  close(): Promise<void>
}

let pkiOnce: Promise<TestPki> | undefined

export async function apnsWorld(sandboxOver: Partial<ApnsSandboxOptions> = {}): Promise<ApnsWorld> {
  pkiOnce ??= createTestPki()
  const pki = await pkiOnce
  const key = await generateApnsKey()
  const clock = new FakeClock()
  const sandbox = await startApnsSandbox({ tls: pki, keys: [key], topics: [BUNDLE], clock, ...sandboxOver })
  const providers: Array<PushProvider<ApnsMessage>> = []
  return {
    pki,
    key,
    clock,
    sandbox,
    provider(over = {}) {
      const p = createApnsProvider({ key, url: sandbox.url, ca: pki.caCert, clock, logger: silentLogger(), ...over })
      providers.push(p)
      return p
    },
    async close() {
      await Promise.all(providers.map((p) => p.close()))
      await sandbox.close()
    },
  }
}

let counter = 0
/** A distinct, well-formed 64-hex-digit device token. */
export function deviceToken(): string {
  counter++
  return counter.toString(16).padStart(8, '0').repeat(8)
}

export function alertMessage(over: Partial<ApnsMessage> = {}): ApnsMessage {
  return {
    provider: 'apns',
    token: deviceToken(),
    environment: 'production',
    topic: BUNDLE,
    pushType: 'alert',
    priority: 10,
    expiration: 0,
    payload: {
      aps: { alert: { title: 'Incoming chat', body: 'Queue Support' }, 'interruption-level': 'time-sensitive' },
      genesys_conversation_id: 'c-1',
    },
    ...over,
  }
}

export function voipMessage(over: Partial<ApnsMessage> = {}): ApnsMessage {
  return alertMessage({
    topic: `${BUNDLE}.voip`,
    pushType: 'voip',
    payload: { aps: {}, genesys_conversation_id: 'c-1', action: 'ring', media_type: 'voice' },
    ...over,
  })
}
