// The gateway's own Genesys Cloud organisation. An agent token of ANOTHER organisation in the same
// region is a valid token: GET /api/v2/users/me answers for it. So the directory compares the
// agent's organisation with this one, learned once with the gateway's client-credentials token
// (GET /api/v2/organizations/me, Organization model {id, name, ...}) or taken from GENESYS_ORG_ID.
import type { Logger } from '../observability/logger.js'
import { GenesysApiError } from './errors.js'

export interface OrganizationInfo {
  id: string
  name?: string
}

/** Where the directory gets the id it compares agents' organisations with. */
export interface OwnOrganization {
  /** The gateway's organisation id; rejects with a transient GenesysApiError when it cannot be learned. */
  id(): Promise<string>
}

export class GatewayOrganization implements OwnOrganization {
  private learned: OrganizationInfo | undefined
  private pending: Promise<string> | undefined

  constructor(
    private readonly options:
      { fixedId: string; logger: Logger } | { lookup: () => Promise<OrganizationInfo>; logger: Logger },
  ) {
    if ('fixedId' in options) this.learned = { id: options.fixedId }
  }

  /** The organisation once known (for doctor, logs and tests). */
  get known(): OrganizationInfo | undefined {
    return this.learned
  }

  id(): Promise<string> {
    if (this.learned) return Promise.resolve(this.learned.id)
    // One lookup for a burst of registrations; a failure is not remembered, the next request asks again.
    this.pending ??= this.learn().finally(() => (this.pending = undefined))
    return this.pending
  }

  private async learn(): Promise<string> {
    if (!('lookup' in this.options)) throw new Error('unreachable: a fixed organisation is known from the start')
    try {
      const org = await this.options.lookup()
      this.learned = org
      this.options.logger.info(
        { orgId: org.id, orgName: org.name },
        'gateway organisation learned; agents of other organisations are refused',
      )
      return org.id
    } catch (err) {
      this.options.logger.warn(
        { err: { message: err instanceof Error ? err.message : String(err) } },
        'cannot learn the gateway organisation; agent registrations wait',
      )
      // Never accept an agent unchecked: whatever went wrong, the agent is told to retry (503).
      const status = err instanceof GenesysApiError && err.transient ? err.status : 503
      throw new GenesysApiError(
        status,
        `cannot learn the gateway's Genesys organisation: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
  }
}
