// Users, queues, presence and routing status of the simulated organisation.
import { randomUUID } from 'node:crypto'
import type { Clock } from '../../clock.js'
import { HttpError, iso } from './http.js'

export type RoutingStatusValue = 'OFF_QUEUE' | 'IDLE' | 'INTERACTING' | 'NOT_RESPONDING' | 'COMMUNICATING'

// System presences of Genesys Cloud. The REST API spells them as shown here ("On Queue");
// the presence topic uses the upper-case form ("ON_QUEUE"); clients must normalise (docs/PLATFORMS.md).
const SYSTEM_PRESENCES = [
  'Available',
  'Away',
  'Busy',
  'Offline',
  'Idle',
  'On Queue',
  'Meal',
  'Training',
  'Meeting',
  'Break',
] as const
export type SystemPresence = (typeof SYSTEM_PRESENCES)[number]

export function normaliseSystemPresence(value: string): SystemPresence {
  const key = value.replace(/[\s_]/g, '').toLowerCase()
  const found = SYSTEM_PRESENCES.find((p) => p.replace(/\s/g, '').toLowerCase() === key)
  if (!found) throw new HttpError(400, 'bad.request', `Unknown system presence: ${value}`)
  return found
}

export const topicPresenceName = (p: SystemPresence): string => p.toUpperCase().replace(/\s/g, '_')

export interface SimUser {
  id: string
  name: string
  email: string
  version: number
  presence: SystemPresence
  presenceModified: number
  routingStatus: RoutingStatusValue
  routingStatusStart: number
}

/** The Organization model (OrganizationApi GET /api/v2/organizations/me). */
export interface SimOrganization {
  id: string
  name: string
}

export function organizationBody(org: SimOrganization): Record<string, unknown> {
  return {
    id: org.id,
    name: org.name,
    defaultLanguage: 'en',
    defaultCountryCode: 'US',
    // Globally unique short name in Genesys; derived from the id here.
    thirdPartyOrgName: `sim-${org.id.slice(0, 8)}`,
    domain: `sim-${org.id.slice(0, 8)}`,
    version: 1,
    state: 'active',
    voicemailEnabled: true,
    productPlatform: 'PureCloud',
    features: {},
    selfUri: `/api/v2/organizations/${org.id}`,
  }
}

export function newSimUser(
  options: { name?: string; userId?: string; email?: string },
  now: number,
  ordinal: number,
): SimUser {
  const name = options.name ?? `Agent ${ordinal}`
  // Agents start On Queue / IDLE so an offer can reach them without extra set-up.
  return {
    id: options.userId ?? randomUUID(),
    name,
    email: options.email ?? `${name.toLowerCase().replace(/[^a-z0-9]+/g, '.')}@example.com`,
    version: 1,
    presence: 'On Queue',
    presenceModified: now,
    routingStatus: 'IDLE',
    routingStatusStart: now,
  }
}

export interface SimQueue {
  id: string
  name: string
  dateCreated: number
}

export type DirectoryListener = { kind: 'presence'; user: SimUser } | { kind: 'routingStatus'; user: SimUser }

export class Directory {
  readonly users = new Map<string, SimUser>()
  readonly queues = new Map<string, SimQueue>()
  // Presence definition ids are per organisation in Genesys; stable per simulator instance here.
  private readonly presenceIds = new Map<SystemPresence, string>(SYSTEM_PRESENCES.map((p) => [p, randomUUID()]))

  constructor(
    private readonly clock: Clock,
    private readonly onChange: (change: DirectoryListener) => void,
  ) {}

  addUser(options: { name?: string; userId?: string; email?: string }): SimUser {
    const user = newSimUser(options, this.clock.now(), this.users.size + 1)
    this.users.set(user.id, user)
    return user
  }

  user(id: string): SimUser {
    const u = this.users.get(id)
    if (!u) throw new HttpError(404, 'not.found', `User not found: ${id}`)
    return u
  }

  addQueue(options: { name: string; id?: string }): SimQueue {
    const q = { id: options.id ?? randomUUID(), name: options.name, dateCreated: this.clock.now() }
    this.queues.set(q.id, q)
    return q
  }

  queue(id: string): SimQueue {
    const q = this.queues.get(id)
    if (!q) throw new HttpError(404, 'not.found', `Queue not found: ${id}`)
    return q
  }

  setPresence(userId: string, systemPresence: string): void {
    const user = this.user(userId)
    user.presence = normaliseSystemPresence(systemPresence)
    user.presenceModified = this.clock.now()
    this.onChange({ kind: 'presence', user })
    // Going on or off queue moves the ACD routing status with it, as in Genesys.
    if (user.presence === 'On Queue' && user.routingStatus === 'OFF_QUEUE') this.setRoutingStatus(userId, 'IDLE')
    else if (user.presence !== 'On Queue' && user.routingStatus !== 'OFF_QUEUE')
      this.setRoutingStatus(userId, 'OFF_QUEUE')
  }

  setRoutingStatus(userId: string, status: RoutingStatusValue): void {
    const user = this.users.get(userId)
    if (!user || user.routingStatus === status) return
    user.routingStatus = status
    user.routingStatusStart = this.clock.now()
    this.onChange({ kind: 'routingStatus', user })
  }

  presenceDefinition(p: SystemPresence, base: string): { id: string; systemPresence: string; selfUri: string } {
    const id = this.presenceIds.get(p) ?? ''
    return { id, systemPresence: p, selfUri: `${base}/api/v2/presencedefinitions/${id}` }
  }

  presenceBody(user: SimUser): {
    id: string
    name: string
    source: string
    sourceId: string
    primary: boolean
    presenceDefinition: { id: string; systemPresence: string; selfUri: string }
    message: string
    modifiedDate: string
    selfUri: string
  } {
    return {
      id: user.id,
      name: user.name,
      source: 'PURECLOUD',
      sourceId: 'PURECLOUD',
      primary: true,
      presenceDefinition: this.presenceDefinition(user.presence, ''),
      message: '',
      modifiedDate: iso(user.presenceModified),
      selfUri: `/api/v2/users/${user.id}/presences/purecloud`,
    }
  }

  /** The User model (purecloud-platform-client-v2 User / UserMe). */
  userBody(user: SimUser, orgId: string): Record<string, unknown> {
    return {
      id: user.id,
      name: user.name,
      division: { id: orgId, name: 'Home', selfUri: `/api/v2/authorization/divisions/${orgId}` },
      email: user.email,
      primaryContactInfo: [{ address: user.email, mediaType: 'EMAIL', type: 'PRIMARY' }],
      addresses: [],
      state: 'active',
      username: user.email,
      version: user.version,
      acdAutoAnswer: false,
      selfUri: `/api/v2/users/${user.id}`,
    }
  }

  routingStatusBody(user: SimUser): { userId: string; status: RoutingStatusValue; startTime: string } {
    return { userId: user.id, status: user.routingStatus, startTime: iso(user.routingStatusStart) }
  }

  queueBody(q: SimQueue, orgId: string): Record<string, unknown> {
    return {
      id: q.id,
      name: q.name,
      division: { id: orgId, name: 'Home', selfUri: `/api/v2/authorization/divisions/${orgId}` },
      dateCreated: iso(q.dateCreated),
      memberCount: [...this.users.values()].length,
      mediaSettings: {
        call: { alertingTimeoutSeconds: 8, serviceLevel: { percentage: 0.8, durationMs: 20000 } },
        callback: { alertingTimeoutSeconds: 30, serviceLevel: { percentage: 0.8, durationMs: 20000 } },
        chat: { alertingTimeoutSeconds: 30, serviceLevel: { percentage: 0.8, durationMs: 20000 } },
        email: { alertingTimeoutSeconds: 300, serviceLevel: { percentage: 0.8, durationMs: 86400000 } },
        message: { alertingTimeoutSeconds: 30, serviceLevel: { percentage: 0.8, durationMs: 20000 } },
      },
      acwSettings: { wrapupPrompt: 'OPTIONAL' },
      skillEvaluationMethod: 'BEST',
      selfUri: `/api/v2/routing/queues/${q.id}`,
    }
  }
}
