// DestinationRule `tls` (Istio ClientTLSSettings), at the top level, per subset and per port. The mode
// decides which fields make sense: SIMPLE and MUTUAL originate TLS to the endpoints, with certificate
// files on the agent's node (checked here, so a path that cannot be used is a config error naming its
// field), or with `credentialName`, a Secret of the rule's namespace that Kubernetes discovery reads
// (no discovery: a config error); ISTIO_MUTUAL is the mesh's own mutual TLS between agents; DISABLE
// originates nothing.
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

/** Where the rule is read: its namespace (credentialName's Secret lives there), and whether Secrets can be read. */
export interface TlsContext {
  readonly namespace: string;
  readonly secrets: boolean;
}

/** Reads a file's bytes; the agent's filesystem by default (tests pass their own). */
export type ReadFile = (path: string) => Buffer;

/**
 * Why the combination of MODE and the fields present is refused, per field, or none. Pure: the mode
 * table of Istio's validation (validateTLS) plus nodemesh's refusals of fields a mode would ignore.
 */
export function tlsFieldProblems(mode: ClientTls['mode'], present: ReadonlySet<string>, skipVerify: boolean, secrets = false): [string, string][] {
  const out: [string, string][] = [];
  const has = (k: string): boolean => present.has(k);
  if (mode === 'DISABLE') {
    for (const k of [...FILES, 'credentialName', 'sni', 'subjectAltNames', 'insecureSkipVerify']) if (has(k)) out.push([k, 'only applies with mode SIMPLE or MUTUAL (DISABLE originates no TLS)']);
    return out;
  }
  if (mode === 'ISTIO_MUTUAL') {
    for (const k of [...FILES, 'credentialName']) if (has(k)) out.push([k, "must be left out with ISTIO_MUTUAL (the mesh's workload certificates are used): set mode SIMPLE or MUTUAL to originate TLS with your own files"]);
    return out;
  }
  if (has('credentialName')) {
    if (!secrets) {
      out.push(['credentialName', 'needs Kubernetes discovery (the agent reads the named Secret from the API, and runs without it here): run the agent with discovery, or mount the Secret as files and set clientCertificate, privateKey and caCertificates instead']);
    }
    for (const k of FILES) if (has(k)) out.push([k, 'cannot be set together with credentialName (the Secret holds the certificates): set one or the other']);
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
export function readClientTls(parent: Fields, readFile: ReadFile = readFileSync, tc?: TlsContext): ClientTls | undefined {
  const f = parent.object('tls', TLS_FIELDS, { unsupported: UNSUPPORTED });
  if (f === undefined) return undefined;
  const raw = f.string('mode', { required: true });
  if (raw === undefined) return undefined;
  const mode = raw.toUpperCase() as ClientTls['mode'];
  if (!MODES.includes(mode)) {
    f.report('mode', `must be one of ${MODES.join(', ')}, got ${quoted(raw)}`);
    return undefined;
  }
  f.spelling('mode', raw, mode);
  const present = new Set(TLS_FIELDS.filter((k) => k !== 'mode' && f.has(k)));
  const skip = bool(f, 'insecureSkipVerify');
  const problems = tlsFieldProblems(mode, present, skip === true, tc?.secrets === true);
  for (const [k, m] of problems) f.report(k, m);
  const file = (k: string): string | undefined => f.string(k, { check: (s) => (s.trim() === '' ? 'must be a file path' : undefined) });
  const credentialName = f.string('credentialName', { check: checkSecretName });
  const sni = f.string('sni', { check: checkSni });
  const sans = f.stringList('subjectAltNames', { check: (s) => (s === '' ? 'must not be empty' : undefined) });
  const tls = strip({
    mode,
    clientCertificate: file('clientCertificate'),
    privateKey: file('privateKey'),
    caCertificates: file('caCertificates'),
    credential: credentialName !== undefined && tc !== undefined ? { namespace: tc.namespace, name: credentialName } : undefined,
    sni: sni?.toLowerCase(),
    subjectAltNames: sans !== undefined && sans.length > 0 ? sans : undefined,
    insecureSkipVerify: skip,
  });
  if (problems.length > 0) return undefined;
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && tls.credential === undefined) {
    if (!checkFiles(f, tls, readFile)) return undefined;
  }
  return tls;
}

/** A Secret's name: a DNS subdomain (RFC 1123), at most 253 characters. */
function checkSecretName(s: string): string | undefined {
  if (s.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s)) {
    return `${quoted(s)} is not a Secret name (lowercase letters, digits, '-' and '.', at most 253 characters)`;
  }
  return undefined;
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
