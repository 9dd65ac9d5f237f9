// @peculiar/x509 set up for the test PKIs (tunnel-pki.ts, tls-pki.ts): webcrypto as its provider (its
// tsyringe resolution needs the Reflect metadata polyfill), ECDSA P-256 keys signed with SHA-256.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const DAY = 24 * 3600 * 1000;
export { webcrypto, x509 };

/** A self-signed CA (ECDSA P-256) valid from a day ago for 30 days: its PEM, certificate and keys. */
export async function selfSignedCa(subject: string): Promise<{ pem: string; cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: subject,
    keys,
    signingAlgorithm: SIGN,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { pem: cert.toString('pem'), cert, keys };
}
