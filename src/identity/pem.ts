// Reading certificates with node's own X.509 parser: what a certificate says (its SPIFFE id, validity,
// serial), chains split into blocks, issuer and key checks. Apart from certs.ts, which builds
// certificates and CSRs with @peculiar/x509, so that reading one does not load that library.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { MeshError } from '../errors';
import { svidIdentity } from './spiffe';

export interface CertInfo {
  /** The single URI SAN when there is exactly one (an SVID); undefined for a root or anything else. */
  readonly spiffeId: string | undefined;
  readonly uriSans: string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Lowercase hex. */
  readonly serial: string;
}

/**
 * The URI entries of node's `subjectAltName` text: `TYPE:value` entries joined by ", ", where a value
 * holding a comma, quote, backslash or control character is written as a JSON string. Pure.
 */
export function uriSansOfText(text: string | undefined): string[] {
  const out: string[] = [];
  if (text === undefined) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      // A JSON string: find its closing quote (one not escaped by a backslash).
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      next = j + 1;
    } else {
      const end = text.indexOf(', ', colon + 1);
      next = end < 0 ? text.length : end;
      value = text.slice(colon + 1, next);
    }
    if (type === 'URI') out.push(value);
    i = text.startsWith(', ', next) ? next + 2 : next + 1;
  }
  return out;
}

/** Parses a certificate PEM (the first block); throws NM_E_BAD_CERT when it is not one. */
export function certInfo(pem: string): CertInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    throw new MeshError('BAD_CERT', (e as Error).message, {}, { cause: e });
  }
  const uriSans = uriSansOfText(cert.subjectAltName);
  let spiffeId: string | undefined;
  try {
    spiffeId = svidIdentity(uriSans);
  } catch {
    spiffeId = undefined;
  }
  return { spiffeId, uriSans, notBefore: cert.validFromDate, notAfter: cert.validToDate, serial: cert.serialNumber.toLowerCase() };
}

/** Splits concatenated PEM certificates (a chain file or a TLS `cert` string) into blocks. */
export function splitPem(text: string): string[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => `${b}\n`);
}

/** True when `issuerPem` issued `certPem` (names match and the signature verifies). */
export function isIssuedBy(certPem: string, issuerPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const issuer = new X509Certificate(issuerPem);
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** True when the private key PEM belongs to the certificate. */
export function keyMatchesCert(keyPem: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
