// DestinationRule `tls` (Istio ClientTLSSettings), at the top level, per subset and per port. The mode
// decides which fields make sense: SIMPLE and MUTUAL originate TLS to the endpoints, with certificate
// files on the agent's node (checked here, so a path that cannot be used is a config error naming its
// field); ISTIO_MUTUAL is the mesh's own mutual TLS between agents; DISABLE originates nothing.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Fields } from '../fields';
import { checkHost, quoted } from '../formats';
import type { ClientTls } from '../traffic';
import { bool, strip } from './trafficfields';

export const TLS_FIELDS = ['mode', 'clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'sni', 'subjectAltNames', 'insecureSkipVerify'];
const UNSUPPORTED = ['caCrl'];
const MODES: readonly ClientTls['mode'][] = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'];
const FILES = ['clientCertificate', 'privateKey', 'caCertificates'] as const;

/** Reads a file's bytes; the agent's filesystem by default (tests pass their own). */
export type ReadFile = (path: string) => Buffer;

/**
 * Why the combination of MODE and the fields present is refused, per field, or none. Pure: the mode
 * table of Istio's validation (validateTLS) plus nodemesh's refusals of fields a mode would ignore.
 */
export function tlsFieldProblems(mode: ClientTls['mode'], present: ReadonlySet<string>, skipVerify: boolean): [string, string][] {
  const out: [string, string][] = [];
  const has = (k: string): boolean => present.has(k);
  if (has('credentialName')) {
    out.push(['credentialName', 'is not supported without Kubernetes Secret access (nodemesh does not read Secrets): mount the Secret as files and set clientCertificate, privateKey and caCertificates instead']);
  }
  if (mode === 'DISABLE') {
    for (const k of [...FILES, 'sni', 'subjectAltNames', 'insecureSkipVerify']) if (has(k)) out.push([k, 'only applies with mode SIMPLE or MUTUAL (DISABLE originates no TLS)']);
    return out;
  }
  if (mode === 'ISTIO_MUTUAL') {
    for (const k of FILES) if (has(k)) out.push([k, "must be left out with ISTIO_MUTUAL (the mesh's workload certificates are used): set mode SIMPLE or MUTUAL to originate TLS with your own files"]);
    return out;
  }
  if (mode === 'SIMPLE') {
    for (const k of ['clientCertificate', 'privateKey']) if (has(k)) out.push([k, 'only applies with mode MUTUAL (SIMPLE presents no client certificate)']);
  }
  if (mode === 'MUTUAL' && !has('credentialName')) {
    for (const k of ['clientCertificate', 'privateKey']) if (!has(k)) out.push([k, 'is required with mode MUTUAL (the client certificate and its key, as PEM files)']);
  }
  if (skipVerify) {
    for (const k of ['caCertificates', 'subjectAltNames']) if (has(k)) out.push([k, 'cannot be set together with insecureSkipVerify: true (nothing would be verified against it)']);
  }
  return out;
}

/** TLS settings of the policy F (its `tls` field), or undefined when absent or invalid. */
export function readClientTls(parent: Fields, readFile: ReadFile = readFileSync): ClientTls | undefined {
  const f = parent.object('tls', TLS_FIELDS, { unsupported: UNSUPPORTED });
  if (f === undefined) return undefined;
  const raw = f.string('mode', { required: true });
  if (raw === undefined) return undefined;
  const mode = raw.toUpperCase() as ClientTls['mode'];
  if (!MODES.includes(mode)) {
    f.report('mode', `must be one of ${MODES.join(', ')}, got ${quoted(raw)}`);
    return undefined;
  }
  const present = new Set(TLS_FIELDS.filter((k) => k !== 'mode' && f.has(k)));
  const skip = bool(f, 'insecureSkipVerify');
  const problems = tlsFieldProblems(mode, present, skip === true);
  for (const [k, m] of problems) f.report(k, m);
  const file = (k: string): string | undefined => f.string(k, { check: (s) => (s.trim() === '' ? 'must be a file path' : undefined) });
  const sni = f.string('sni', { check: checkSni });
  const sans = f.stringList('subjectAltNames', { check: (s) => (s === '' ? 'must not be empty' : undefined) });
  const tls = strip({
    mode,
    clientCertificate: file('clientCertificate'),
    privateKey: file('privateKey'),
    caCertificates: file('caCertificates'),
    sni: sni?.toLowerCase(),
    subjectAltNames: sans !== undefined && sans.length > 0 ? sans : undefined,
    insecureSkipVerify: skip,
  });
  if (problems.length > 0) return undefined;
  if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    if (!checkFiles(f, tls, readFile)) return undefined;
  }
  return tls;
}

/** SNI is one DNS name: no wildcard, no IP address (RFC 6066). */
function checkSni(s: string): string | undefined {
  if (isIP(s) !== 0) return `"${s}" is an IP address; SNI carries a DNS name only`;
  if (s.startsWith('*')) return `"${s}" is a wildcard; SNI names one server`;
  return checkHost(s);
}

/** Reads and parses each file TLS names, reporting the field of any that cannot be used. */
function checkFiles(f: Fields, tls: ClientTls, readFile: ReadFile): boolean {
  let ok = true;
  let cert: X509Certificate | undefined;
  let key: KeyObject | undefined;
  const fail = (k: string, m: string): void => {
    f.report(k, m);
    ok = false;
  };
  for (const k of FILES) {
    const path = tls[k];
    if (path === undefined) continue;
    let pem: Buffer;
    try {
      pem = readFile(path);
    } catch (e) {
      fail(k, `cannot read ${quoted(path, 200)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): the file must exist on every node and be readable by the agent`);
      continue;
    }
    const problem = parsePem(k, pem);
    if (typeof problem === 'string') fail(k, `${quoted(path, 200)}: ${problem}`);
    else if (k === 'clientCertificate') cert = problem as X509Certificate;
    else if (k === 'privateKey') key = problem as KeyObject;
  }
  if (cert !== undefined && key !== undefined && !cert.checkPrivateKey(key)) fail('privateKey', 'does not belong to clientCertificate (the public keys differ)');
  return ok;
}

/** The first certificate or the key of a PEM file, or why it is not one. */
export function parsePem(field: (typeof FILES)[number], pem: Buffer): X509Certificate | KeyObject | string {
  try {
    if (field === 'privateKey') return createPrivateKey(pem);
    const text = pem.toString('latin1');
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (blocks === null) return 'no PEM certificate in the file (expected -----BEGIN CERTIFICATE-----)';
    const certs = blocks.map((b) => new X509Certificate(b));
    return certs[0];
  } catch (e) {
    return `${field === 'privateKey' ? 'not a PEM private key' : 'not a valid PEM certificate'} (${(e as Error).message})`;
  }
}
