// Agents' display names for the CLI's tables, asked from Genesys with the gateway's client
// credentials. Best effort and bounded: without credentials, or when Genesys does not answer in
// time, the table shows ids only rather than waiting.
import type { Config } from '../config.js'
import { ClientCredentialsAuth, GenesysRest, createDispatcher } from '../genesys/index.js'
import { silentLogger } from '../observability/logger.js'

export async function agentNames(config: Config, userIds: string[], timeoutMs = 3_000): Promise<Map<string, string>> {
  const names = new Map<string, string>()
  const { clientId, clientSecret } = config.genesys
  if (!clientId || !clientSecret || userIds.length === 0) return names
  const dispatcher = createDispatcher()
  const logger = silentLogger()
  const auth = new ClientCredentialsAuth({
    loginUrl: config.genesys.loginUrl,
    clientId,
    clientSecret,
    dispatcher,
    logger,
  })
  const rest = new GenesysRest({ apiUrl: config.genesys.apiUrl, auth, dispatcher, logger, maxRetries: 0 })
  let timer: NodeJS.Timeout | undefined
  const lookups = Promise.allSettled(userIds.map(async (id) => names.set(id, (await rest.getUser(id)).name)))
  await Promise.race([lookups, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
  clearTimeout(timer)
  await dispatcher.close().catch(() => undefined)
  return new Map(names)
}
