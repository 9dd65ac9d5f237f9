// Certificates for the TLS origination tests: a CA and leaves with DNS and IP SANs, made in-process with
// @peculiar/x509 (as tunnel-pki.ts does for SPIFFE leaves), and written to a temporary directory as the
// PEM files a DestinationRule names.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DAY, EC, SIGN, webcrypto, x509, type CryptoKeyPair, selfSignedCa } from './x509-setup';

export interface Ca {
  readonly pem: string;
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

export interface Leaf {
  readonly key: string;
  readonly cert: string;
}

async function keyPem(k: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', k), 'PRIVATE KEY');
}

export async function makeCa(name = 'nodemesh tls test ca'): Promise<Ca> {
  return selfSignedCa(`CN=${name}`);
}

/** A leaf signed by CA for server and client use, with DNS names DNS and IP addresses IPS as SANs. */
export async function makeLeaf(ca: Ca, opts: { readonly dns?: readonly string[]; readonly ips?: readonly string[]; readonly cn?: string }): Promise<Leaf> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names = [...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })), ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value }))];
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${opts.cn ?? opts.dns?.[0] ?? 'leaf'}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGN,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { key: await keyPem(keys.privateKey), cert: cert.toString('pem') };
}

/** A temporary directory with FILES (name → content); removed by the returned cleanup. */
export function writeFiles(files: Readonly<Record<string, string>>, dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-tls-'))): { dir: string; path: (name: string) => string; cleanup: () => void } {
  fs.chmodSync(dir, 0o755);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content, { mode: 0o644 });
  return { dir, path: (name) => path.join(dir, name), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
