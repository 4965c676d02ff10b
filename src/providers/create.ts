// The push services the configuration names, one provider each. The gateway (app.ts), send-test
// and doctor all build them here, so a test ring from the command line reaches a phone exactly as
// a real ring does: same environment, same transport settings, same Web Push endpoint checks.
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Logger } from '../observability/logger.js'
import { createApnsProvider } from './apns.js'
import { createFcmProvider } from './fcm.js'
import type { ApnsMessage, FcmSend, PushProvider, WebPushSend } from './provider.js'
import { WebPushEndpointPolicy } from './webpush-endpoints.js'
import { createWebPushProvider } from './webpush.js'

/** One provider per configured push service, each typed by the messages it sends. */
export interface PushProviders {
  apns?: PushProvider<ApnsMessage>
  fcm?: PushProvider<FcmSend>
  webpush?: PushProvider<WebPushSend>
}

export interface CreateProvidersOptions {
  clock: Clock
  /** Each provider logs through a child of it named for its component (apns, fcm, webpush). */
  logger: Logger
  /** An extra CA to trust (the tests' sandboxes); the public roots stay trusted. */
  ca?: string
  /**
   * Which Web Push endpoints may be contacted; by default the configured allow-list plus
   * `webPushSandboxHosts`. The gateway passes the policy its API checks registrations with.
   */
  webPushEndpoints?: WebPushEndpointPolicy
  /** `host:port` of the project's Web Push sandbox on loopback (tests, the demo); never from the environment. */
  webPushSandboxHosts?: readonly string[]
  /** Per request, waiting for a connection included (the providers' default otherwise). */
  requestTimeoutMs?: number
}

/** The providers for the push services `settings` configure; none for a service left out. */
export function createProviders(
  { apns, fcm, webpush, pushTransport }: Pick<Config, 'apns' | 'fcm' | 'webpush' | 'pushTransport'>,
  { clock, logger, ca, webPushEndpoints, webPushSandboxHosts, requestTimeoutMs }: CreateProvidersOptions,
): PushProviders {
  const shared = { clock, ...(ca ? { ca } : {}), ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}) }
  const providers: PushProviders = {}
  if (apns)
    providers.apns = createApnsProvider({
      ...shared,
      key: { keyId: apns.keyId, teamId: apns.teamId, privateKeyPem: apns.keyPem },
      environment: apns.environment,
      ...(apns.url ? { url: apns.url } : {}),
      transport: pushTransport,
      logger: logger.child({ component: 'apns' }),
    })
  if (fcm)
    providers.fcm = createFcmProvider({
      ...shared,
      serviceAccount: fcm.serviceAccount,
      url: fcm.url,
      transport: pushTransport,
      logger: logger.child({ component: 'fcm' }),
    })
  if (webpush)
    providers.webpush = createWebPushProvider({
      ...shared,
      vapid: webpush,
      endpoints:
        webPushEndpoints ??
        new WebPushEndpointPolicy({ allowedHosts: webpush.allowedHosts, sandboxHosts: webPushSandboxHosts ?? [] }),
      logger: logger.child({ component: 'webpush' }),
    })
  return providers
}

/** The providers of `providers`, for warming up and closing them together. */
export function providerList(providers: PushProviders): PushProvider[] {
  return [providers.apns, providers.fcm, providers.webpush].filter((p): p is PushProvider => p !== undefined)
}
