// The browser's side of Web Push encryption, so the sandbox can check what it receives:
// a P-256 key pair and a 16-byte auth secret per subscription (what PushManager.subscribe()
// makes), and RFC 8291 aes128gcm decryption (RFC 8188 content coding) with them.
import { createCipheriv, createDecipheriv, createECDH, createHmac, randomBytes, type ECDH } from 'node:crypto'

export interface SubscriptionKeys {
  ecdh: ECDH
  /** Uncompressed P-256 public key, 65 bytes (the subscription's `p256dh`). */
  publicKey: Buffer
  /** 16 random bytes (the subscription's `auth`). */
  authSecret: Buffer
}

export function newSubscriptionKeys(): SubscriptionKeys {
  const ecdh = createECDH('prime256v1')
  const publicKey = ecdh.generateKeys()
  return { ecdh, publicKey, authSecret: randomBytes(16) }
}

const hmac = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest()

export class DecryptError extends Error {}

/**
 * Decrypts an aes128gcm body (RFC 8188 §2: salt(16) | rs(4) | idlen(1) | keyid, then records) with
 * the keys derived as RFC 8291 §3.4 says. Returns the plaintext of all records.
 */
export function decryptAes128gcm(body: Buffer, keys: SubscriptionKeys): Buffer {
  if (body.length < 21) throw new DecryptError('body shorter than the aes128gcm header')
  const salt = body.subarray(0, 16)
  const rs = body.readUInt32BE(16)
  const idlen = body[20] ?? 0
  if (rs < 18) throw new DecryptError(`record size ${rs} is below the minimum of 18`)
  // RFC 8291 §4: the keyid is the application server's ephemeral public key, 65 bytes.
  if (idlen !== 65) throw new DecryptError(`keyid length ${idlen}, expected the 65-byte sender public key`)
  const asPublic = body.subarray(21, 21 + idlen)
  let ecdhSecret: Buffer
  try {
    ecdhSecret = keys.ecdh.computeSecret(asPublic)
  } catch {
    throw new DecryptError('keyid is not a P-256 public key')
  }
  const prkKey = hmac(keys.authSecret, ecdhSecret)
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), keys.publicKey, asPublic, Buffer.from([1])])
  const ikm = hmac(prkKey, keyInfo)
  const prk = hmac(salt, ikm)
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16)
  const baseNonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12)

  const records = body.subarray(21 + idlen)
  if (records.length === 0) throw new DecryptError('no records')
  const out: Buffer[] = []
  for (let seq = 0, at = 0; at < records.length; seq++, at += rs) {
    const record = records.subarray(at, at + rs)
    if (record.length < 17) throw new DecryptError('record shorter than its tag')
    const nonce = Buffer.from(baseNonce)
    // RFC 8188 §2.3: the record sequence number is XORed into the nonce (low bytes suffice here).
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8)
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce)
    decipher.setAuthTag(record.subarray(record.length - 16))
    let plain: Buffer
    try {
      plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()])
    } catch {
      throw new DecryptError('authentication tag mismatch: not encrypted for this subscription')
    }
    // Padding: the data, one delimiter (2 in the last record, 1 otherwise), then zeros.
    let end = plain.length - 1
    while (end >= 0 && plain[end] === 0) end--
    const last = at + rs >= records.length
    if (end < 0 || plain[end] !== (last ? 2 : 1)) throw new DecryptError('bad padding delimiter')
    out.push(plain.subarray(0, end))
  }
  return Buffer.concat(out)
}

/** The sender's side, for the sandbox's own tests (the gateway uses the web-push library). */
export function encryptAes128gcm(plaintext: Buffer, uaPublic: Buffer, authSecret: Buffer): Buffer {
  const sender = createECDH('prime256v1')
  const asPublic = sender.generateKeys()
  const salt = randomBytes(16)
  const prkKey = hmac(authSecret, sender.computeSecret(uaPublic))
  const ikm = hmac(prkKey, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic, Buffer.from([1])]))
  const prk = hmac(salt, ikm)
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16)
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12)
  const cipher = createCipheriv('aes-128-gcm', cek, nonce)
  const sealed = Buffer.concat([
    cipher.update(Buffer.concat([plaintext, Buffer.from([2])])),
    cipher.final(),
    cipher.getAuthTag(),
  ])
  const header = Buffer.alloc(21)
  salt.copy(header)
  header.writeUInt32BE(4096, 16)
  header[20] = 65
  return Buffer.concat([header, asPublic, sealed])
}
