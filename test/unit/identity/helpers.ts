// CSRs that createCsr refuses to make (no SAN, several SANs, a DNS SAN only), for the refusal tests.
import '../../../src/identity/certs'; // sets up reflect-metadata and the WebCrypto provider first
import * as x509 from '@peculiar/x509';
import type { KeyPair } from '../../../src/identity/certs';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export async function csrWithSans(key: KeyPair, sans: { uris?: string[]; dns?: string[] }): Promise<string> {
  const names: x509.JsonGeneralName[] = [
    ...(sans.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(sans.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=test',
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: ALG,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString('pem');
}

/** A CSR with one byte of its signature flipped: well-formed, but proof of possession fails. */
export function tamper(csrPem: string): string {
  const body = csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const der = Buffer.from(body, 'base64');
  der[der.length - 3] = (der[der.length - 3] as number) ^ 0x01;
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`;
}
