// How a device token named by an agent's request is matched to the registry: APNs tokens are
// registered lower-case (the hex is case-insensitive to Apple), so a hex token from the app is
// compared lower-cased; FCM tokens and Web Push endpoints are case-sensitive and kept as given.
export function normaliseDeviceToken(token: string): string {
  return /^[0-9a-fA-F]+$/.test(token) ? token.toLowerCase() : token
}

/** Conversation and participant ids in paths and bodies (Genesys ids are UUIDs; the simulator's too). */
export const GENESYS_ID_PATTERN = '^[A-Za-z0-9-]{1,128}$'
