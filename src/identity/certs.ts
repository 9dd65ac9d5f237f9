// X.509 for the mesh: the root CA, workload CSRs, leaf SVIDs and the CA's own serving certificate.
// ECDSA P-256 everywhere (what ztunnel and Istio's agent generate, and what every TLS stack takes).
// @peculiar/x509 builds and parses the ASN.1 on top of node's WebCrypto; keys leave this module as
// PKCS#8 PEM, the form node's `tls` accepts directly.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { MeshError } from '../errors';
import { checkTrustDomain, svidIdentity } from './spiffe';

// Reading certificates needs no @peculiar/x509 (pem.ts); re-exported for the callers of this module.
export { certInfo, isIssuedBy, keyMatchesCert, splitPem, type CertInfo } from './pem';

// WebCrypto types differ between lib.dom (what the library declares) and @types/node; same object.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type Key = webcrypto.CryptoKey;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;

/** Leaves start a little in the past so a peer whose clock runs slightly behind still accepts them. */
export const BACKDATE_MS = 60_000;
/** A CSR is a few hundred bytes; anything far larger is refused before the ASN.1 parser sees it. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

export interface KeyPair {
  readonly privateKey: Key;
  readonly publicKey: Key;
  /** PKCS#8 PEM of the private key (node `tls` `key`). */
  readonly keyPem: string;
}

export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ParsedCsr {
  readonly uriSans: string[];
  readonly publicKey: KeyObject;
}


export async function generateKeyPair(): Promise<KeyPair> {
  const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey);
  return { privateKey: keys.privateKey, publicKey: keys.publicKey, keyPem: nl(x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')) };
}

/** Imports a PKCS#8 (or SEC1 "EC PRIVATE KEY") P-256 key PEM; the public half is derived from it. */
export async function importKeyPem(keyPem: string): Promise<KeyPair> {
  let spki: Buffer;
  let pkcs8: Buffer;
  try {
    const pub = createPublicKey(keyPem);
    if (pub.asymmetricKeyType !== 'ec' || pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not an ECDSA P-256 key');
    spki = pub.export({ type: 'spki', format: 'der' });
    pkcs8 = Buffer.from(x509.PemConverter.decodeFirst(normalizePkcs8(keyPem)));
  } catch (e) {
    throw new MeshError('BAD_CERT', `private key: ${(e as Error).message}`, {}, { cause: e });
  }
  const privateKey = await subtle.importKey('pkcs8', pkcs8, ALG, true, ['sign']);
  const publicKey = await subtle.importKey('spki', spki, ALG, true, ['verify']);
  return { privateKey, publicKey, keyPem: nl(x509.PemConverter.encode(new Uint8Array(pkcs8).buffer, 'PRIVATE KEY')) };
}

/** SEC1 PEMs (openssl ecparam -genkey) are re-encoded as PKCS#8, which WebCrypto requires. */
function normalizePkcs8(keyPem: string): string {
  if (keyPem.includes('BEGIN PRIVATE KEY')) return keyPem;
  return createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** PEM text always ends with a newline, so comparisons and concatenations of chains are stable. */
function nl(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** Short positive serial: 8 random bytes, top bit clear (DER integers are signed), never zero-led. */
function newSerial(): string {
  const b = randomBytes(8);
  b[0] = ((b[0] as number) & 0x7f) | 0x01;
  return b.toString('hex');
}

/** Self-signed root for a trust domain (subject `O=<td>` as Istio's self-signed root uses). */
export async function createRootCa(trustDomain: string, ttlDays = 3650): Promise<CaMaterial> {
  const problem = checkTrustDomain(trustDomain);
  if (problem !== undefined) throw new MeshError('BAD_SPIFFE_ID', problem);
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=nodemesh root CA, O=${trustDomain}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ttlDays * 86_400_000),
    signingAlgorithm: ALG,
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: nl(cert.toString('pem')), keyPem: keys.keyPem };
}

/** A CSR whose only content is the SPIFFE id as URI SAN; the subject stays empty as in Istio's SVIDs. */
export async function createCsr(spiffeId: string, key: KeyPair): Promise<string> {
  svidIdentity([spiffeId]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: '',
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: ALG,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true)],
  });
  return nl(csr.toString('pem'));
}

function uriSansOf(extensions: readonly x509.Extension[]): string[] {
  const uris: string[] = [];
  for (const ext of extensions) {
    if (!(ext instanceof x509.SubjectAlternativeNameExtension)) continue;
    for (const n of ext.names.items) if (n.type === 'url') uris.push(n.value);
  }
  return uris;
}

/**
 * Parses and checks a CSR: one PEM block, valid signature (proof that the requester holds the key),
 * ECDSA P-256 key. Throws NM_E_BAD_CSR naming the problem; the caller decides on the SANs.
 */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  if (typeof pem !== 'string' || pem.length === 0) throw new MeshError('BAD_CSR', 'empty');
  if (pem.length > MAX_CSR_PEM_BYTES) throw new MeshError('BAD_CSR', `larger than ${MAX_CSR_PEM_BYTES} bytes`);
  const blocks = pem.match(/-----BEGIN ([A-Z ]+)-----/g) ?? [];
  if (blocks.length !== 1 || !/CERTIFICATE REQUEST/.test(blocks[0] as string)) throw new MeshError('BAD_CSR', 'expected exactly one PEM "CERTIFICATE REQUEST" block');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (e) {
    throw new MeshError('BAD_CSR', `cannot parse: ${(e as Error).message}`, {}, { cause: e });
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (e) {
    throw new MeshError('BAD_CSR', `unreadable public key: ${(e as Error).message}`, {}, { cause: e });
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new MeshError('BAD_CSR', 'the key must be ECDSA P-256');
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new MeshError('BAD_CSR', 'the signature does not verify');
  let uriSans: string[];
  try {
    uriSans = uriSansOf(csr.extensions);
  } catch (e) {
    throw new MeshError('BAD_CSR', `unreadable extensions: ${(e as Error).message}`, {}, { cause: e });
  }
  return { uriSans, publicKey };
}

interface SigningCa {
  readonly cert: x509.X509Certificate;
  readonly key: Key;
  readonly publicKey: Key;
}

// Importing the CA key and parsing its certificate on every signature is wasted work; a CA process
// holds one root (two during a rotation), so a tiny cache keyed by the certificate is enough.
const caCache = new Map<string, { keyPem: string; ca: Promise<SigningCa> }>();

function signingCa(ca: CaMaterial): Promise<SigningCa> {
  const hit = caCache.get(ca.certPem);
  if (hit !== undefined && hit.keyPem === ca.keyPem) return hit.ca;
  const loaded = (async (): Promise<SigningCa> => {
    const cert = new x509.X509Certificate(ca.certPem);
    const pair = await importKeyPem(ca.keyPem);
    const certSpki = Buffer.from(cert.publicKey.rawData);
    const keySpki = Buffer.from(await subtle.exportKey('spki', pair.publicKey));
    if (!certSpki.equals(keySpki)) throw new MeshError('BAD_CERT', 'the CA key does not belong to the CA certificate');
    return { cert, key: pair.privateKey, publicKey: pair.publicKey };
  })();
  loaded.catch(() => caCache.delete(ca.certPem));
  if (caCache.size >= 4) caCache.clear();
  caCache.set(ca.certPem, { keyPem: ca.keyPem, ca: loaded });
  return loaded;
}

export interface SignLeafParams {
  readonly csrPem: string;
  readonly ca: CaMaterial;
  readonly ttlSeconds: number;
  /** The identity the caller was authorized for; the CSR must ask for exactly this one. */
  readonly spiffeId: string;
}

/** Signs a workload SVID: one URI SAN, not a CA, usable for both ends of mTLS; never outlives the CA. */
export async function signLeaf(p: SignLeafParams): Promise<string> {
  const csr = await parseCsr(p.csrPem);
  if (csr.uriSans.length !== 1 || csr.uriSans[0] !== p.spiffeId) {
    throw new MeshError('BAD_CSR', `the CSR must carry exactly one URI SAN equal to ${p.spiffeId}`, { uriSans: csr.uriSans });
  }
  if (!(p.ttlSeconds > 0)) throw new MeshError('BAD_CSR', `ttl must be positive, got ${p.ttlSeconds}`);
  const ca = await signingCa(p.ca);
  const now = Date.now();
  const notAfter = Math.min(now + p.ttlSeconds * 1000, ca.cert.notAfter.getTime());
  const spki = csr.publicKey.export({ type: 'spki', format: 'der' });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: '',
    issuer: ca.cert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: ALG,
    publicKey: new x509.PublicKey(new Uint8Array(spki).buffer),
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
      // Critical because the subject is empty (RFC 5280 §4.2.1.6).
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: p.spiffeId }], true),
    ],
  });
  return nl(cert.toString('pem'));
}

/** The CA's own TLS certificate for its gRPC port (fresh key each start; never written to disk). */
export async function signServing(ca: CaMaterial, names: { dns: readonly string[]; ips: readonly string[] }, ttlDays = 365): Promise<CaMaterial> {
  const keys = await generateKeyPair();
  const signer = await signingCa(ca);
  const now = Date.now();
  const sans: x509.JsonGeneralName[] = [
    ...names.dns.map((value) => ({ type: 'dns' as const, value })),
    ...names.ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: `CN=${names.dns[0] ?? 'nodemesh-ca'}`,
    issuer: signer.cert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(now + ttlDays * 86_400_000, signer.cert.notAfter.getTime())),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey),
      new x509.SubjectAlternativeNameExtension(sans),
    ],
  });
  return { certPem: nl(cert.toString('pem')), keyPem: keys.keyPem };
}
