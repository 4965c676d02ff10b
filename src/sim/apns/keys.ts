// Key material shaped like what Apple hands out for token-based APNs auth: an ES256 (P-256)
// signing key as a PKCS#8 .p8 file, a 10-character Key ID and a 10-character Team ID.
// Source: Apple, "Establishing a token-based connection to APNs".
import { generateKeyPair, randomInt } from 'node:crypto'
import { promisify } from 'node:util'

const generateKeyPairAsync = promisify(generateKeyPair)
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

export interface ApnsKeyMaterial {
  keyId: string
  teamId: string
  /** PKCS#8 PEM, the content of an AuthKey_<keyId>.p8 file. */
  privateKeyPem: string
  /** SPKI PEM: what the sandbox verifies provider tokens with. */
  publicKeyPem: string
}

function appleId(): string {
  let id = ''
  for (let i = 0; i < 10; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)]
  return id
}

export async function generateApnsKey(options: { keyId?: string; teamId?: string } = {}): Promise<ApnsKeyMaterial> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })
  return {
    keyId: options.keyId ?? appleId(),
    teamId: options.teamId ?? appleId(),
    privateKeyPem: privateKey,
    publicKeyPem: publicKey,
  }
}
