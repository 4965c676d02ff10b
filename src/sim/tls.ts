// A throwaway PKI for the test world: one CA and one server certificate for localhost, made at
// test time so no key ever lives in the repository. Clients trust the CA explicitly (`ca` option,
// or NODE_EXTRA_CA_CERTS for a child process): certificate checks are never switched off.
import 'reflect-metadata'
import { webcrypto } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'

export interface TestPki {
  /** PEM of the CA certificate to trust. */
  caCert: string
  /** PEM (PKCS#8) key and certificate for a server on localhost / 127.0.0.1 / ::1. */
  key: string
  cert: string
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const crypto = webcrypto

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

export async function createTestPki(hosts: string[] = ['localhost', '127.0.0.1', '::1']): Promise<TestPki> {
  // @peculiar/x509 types its provider with the DOM's Crypto; Node's webcrypto is that same API.
  x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])
  const now = Date.now()
  const notBefore = new Date(now - 60_000)
  const notAfter = new Date(now + 24 * 3600_000)

  const caKeys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=genesys-push-gateway test CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  })

  const serverKeys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((h) =>
          /^[\d.]+$|:/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h },
        ),
      ),
    ],
  })

  const keyDer = await crypto.subtle.exportKey('pkcs8', serverKeys.privateKey)
  return { caCert: ca.toString('pem') + '\n', cert: server.toString('pem') + '\n', key: pem('PRIVATE KEY', keyDer) }
}

/** Writes the CA to a temporary file, for NODE_EXTRA_CA_CERTS in child processes. */
export function writeCaFile(pki: TestPki): string {
  const dir = mkdtempSync(join(tmpdir(), 'push-gw-ca-'))
  const file = join(dir, 'ca.pem')
  writeFileSync(file, pki.caCert)
  return file
}
