// Test PKI for the tunnel tests: an ECDSA P-256 root and SPIFFE leaves, built in-process with
// @peculiar/x509 (the CA's own library) so the tests need no openssl binary and can mint certificates
// that are already expired, name a foreign trust domain, or carry zero or two URI SANs.
import { DAY, EC, SIGN, webcrypto, x509, type CryptoKeyPair, selfSignedCa } from '../helpers/x509-setup';

export interface TestRoot {
  readonly pem: string;
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

export interface KeyCert {
  readonly key: string;
  /** Leaf PEM (a chain would append intermediates; the tests sign leaves with the root directly). */
  readonly cert: string;
}

async function keyPem(k: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', k);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function createRoot(name = 'nodemesh test root'): Promise<TestRoot> {
  return selfSignedCa(`CN=${name}, O=nodemesh`);
}

export interface LeafOptions {
  /** URI SANs; an SVID has exactly one, the tests also build broken ones. */
  readonly uris: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export async function createLeaf(root: TestRoot, opts: LeafOptions): Promise<KeyCert> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: '',
    issuer: root.cert.subject,
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    signingAlgorithm: SIGN,
    notBefore: opts.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(opts.uris.map((value) => ({ type: 'url' as const, value })), true),
      await x509.AuthorityKeyIdentifierExtension.create(root.keys.publicKey),
    ],
  });
  return { key: await keyPem(keys.privateKey), cert: cert.toString('pem') };
}

/** A valid leaf for `spiffe://<td>/ns/<ns>/sa/<sa>`. */
export function svid(root: TestRoot, id: string): Promise<KeyCert> {
  return createLeaf(root, { uris: [id] });
}

/** A leaf for `id` whose validity ended yesterday. */
export function expiredSvid(root: TestRoot, id: string): Promise<KeyCert> {
  return createLeaf(root, { uris: [id], notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
}
