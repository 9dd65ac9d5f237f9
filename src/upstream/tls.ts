// TLS origination (DestinationRule tls mode SIMPLE or MUTUAL): the client sends plaintext to the
// captured service and the agent speaks TLS to the endpoint. This module turns a destination's
// settings into node:tls connect options: the certificate files are read when first needed and again
// when they change on disk (checked at most once a second per file), the server certificate is
// verified against caCertificates (else the system roots) and its SANs against subjectAltNames (else
// the SNI name), and a file that has gone missing since the config was loaded fails the connection
// with a clear error instead of using stale bytes. With credentialName the certificates come from a
// Secret that Kubernetes discovery keeps in credentials.ts, taken afresh for each new connection.
// dial.ts is the one place that applies it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { ClientTls } from '../config/traffic';
import type { ResolvedDestination } from '../route/types';
import { credentials } from './credentials';

/** What a connection to one destination originates: the settings, the SNI name and a pool key part. */
export interface UpstreamTls {
  readonly settings: ClientTls;
  /** SNI: `sni`, else the service's first DNS host; undefined for none (IP-only services). */
  readonly servername: string | undefined;
  /** Distinguishes pooled connections with other TLS settings (and from plaintext ones). */
  readonly id: string;
}

/** Code of the errors this module raises (files, SAN mismatch); handshake errors keep OpenSSL's codes. */
export const TLS_FILES_CODE = 'NM_TLS_FILES';
export const SAN_MISMATCH_CODE = 'ERR_TLS_CERT_ALTNAME_INVALID';

const cache = new WeakMap<ResolvedDestination, UpstreamTls | null>();

/** The TLS DEST originates, or undefined (no tls, DISABLE, ISTIO_MUTUAL). Cached per destination. */
export function tlsFor(dest: ResolvedDestination): UpstreamTls | undefined {
  const hit = cache.get(dest);
  if (hit !== undefined) return hit ?? undefined;
  const t = dest.policy.tls;
  const made = t !== undefined && (t.mode === 'SIMPLE' || t.mode === 'MUTUAL') ? makeUpstreamTls(t, dest.service.hosts) : undefined;
  cache.set(dest, made ?? null);
  return made;
}

export function makeUpstreamTls(settings: ClientTls, hosts: readonly string[]): UpstreamTls {
  const servername = settings.sni ?? defaultServername(hosts);
  const id = createHash('sha256').update(JSON.stringify([settings, servername ?? ''])).digest('base64url').slice(0, 16);
  return { settings, servername, id };
}

/** The SNI name when `sni` is not set: the first host that is a DNS name (no wildcard, no IP). Pure. */
export function defaultServername(hosts: readonly string[]): string | undefined {
  return hosts.find((h) => !h.startsWith('*') && net.isIP(h) === 0)?.toLowerCase();
}

/**
 * Whether the server certificate's SANs (node's `subjectaltname` string: "DNS:a, IP Address:1.2.3.4,
 * URI:spiffe://…") include one of WANTED, as Envoy's exact SAN matchers do: DNS names compare without
 * case, and a certificate's `*.x` covers one label in front of x. Pure.
 */
export function sanMatches(subjectaltname: string | undefined, wanted: readonly string[]): boolean {
  const sans = parseSans(subjectaltname);
  return wanted.some((w) => {
    const want = w.toLowerCase();
    return sans.some((s) => {
      if (s.type !== 'DNS') return s.value === w;
      const san = s.value.toLowerCase();
      if (san === want) return true;
      if (!san.startsWith('*.')) return false;
      const dot = want.indexOf('.');
      return dot > 0 && want.slice(dot) === san.slice(1);
    });
  });
}

export function parseSans(subjectaltname: string | undefined): { type: string; value: string }[] {
  if (subjectaltname === undefined || subjectaltname === '') return [];
  return subjectaltname.split(', ').map((part) => {
    const colon = part.indexOf(':');
    const type = part.slice(0, colon);
    let value = part.slice(colon + 1);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        // kept as written
      }
    }
    return { type: type === 'IP Address' ? 'IP' : type, value };
  });
}

// ---- files ---------------------------------------------------------------------------------------

interface CachedFile {
  readonly path: string;
  bytes: Buffer | undefined;
  error: string | undefined;
  /** Identity of what was read: a new inode (a rename into place), size or mtime means read again. */
  stamp: string;
  checkedAt: number;
}

/** How often a file in use is looked at for a change. */
const RECHECK_MS = 1_000;
const files = new Map<string, CachedFile>();

function stampOf(st: fs.Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** The current bytes of PATH (read again when it changed), or why it cannot be used. */
function fileBytes(path: string, now: number): { bytes: Buffer } | { error: string } {
  let f = files.get(path);
  if (f === undefined || now - f.checkedAt >= RECHECK_MS) {
    f ??= { path, bytes: undefined, error: undefined, stamp: '', checkedAt: 0 };
    files.set(path, f);
    f.checkedAt = now;
    try {
      const st = fs.statSync(path);
      const stamp = stampOf(st);
      if (stamp !== f.stamp || f.bytes === undefined) {
        f.bytes = fs.readFileSync(path);
        f.stamp = stamp;
        f.error = undefined;
      }
    } catch (e) {
      f.bytes = undefined;
      f.stamp = '';
      f.error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
  }
  return f.bytes !== undefined ? { bytes: f.bytes } : { error: f.error ?? 'unreadable' };
}

// ---- connect options -----------------------------------------------------------------------------

interface Built {
  readonly stamps: string;
  readonly context: tls.SecureContext;
}

/** Secure contexts by settings id, rebuilt when a file's bytes change. */
const contexts = new Map<string, Built>();

function tlsError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * node:tls connect options for U with ALPN protocols (undefined: no ALPN, as for opaque TCP), or the
 * error the connection fails with (a file that cannot be read or parsed any more).
 */
export function connectOptions(u: UpstreamTls, alpn: readonly string[] | undefined, now = Date.now()): tls.ConnectionOptions | Error {
  const s = u.settings;
  const context = s.credential !== undefined ? credentialContext(u.id, s.mode, s.credential) : fileContext(u, now);
  if (context instanceof Error) return context;
  const skip = s.insecureSkipVerify === true;
  const sans = s.subjectAltNames;
  return {
    secureContext: context,
    ...(u.servername !== undefined ? { servername: u.servername } : {}),
    ...(alpn !== undefined ? { ALPNProtocols: [...alpn] } : {}),
    rejectUnauthorized: !skip,
    checkServerIdentity: skip ? () => undefined : sans !== undefined ? (_host, cert) => checkSans(cert, sans) : tls.checkServerIdentity,
  };
}

/** The secure context of the Secret a rule names (credentialName), rebuilt when the Secret changes. */
function credentialContext(id: string, mode: ClientTls['mode'], c: { readonly namespace: string; readonly name: string }): tls.SecureContext | Error {
  const state = credentials.get(c.namespace, c.name);
  if ('error' in state) return tlsError(`DestinationRule tls.credentialName: ${state.error}`, TLS_FILES_CODE);
  const m = state.material;
  if (mode === 'MUTUAL' && m.cert === undefined) {
    return tlsError(`DestinationRule tls.credentialName: Secret ${c.namespace}/${c.name} has no client certificate (tls.crt and tls.key, or cert and key), which mode MUTUAL needs`, TLS_FILES_CODE);
  }
  const key = `${id}|secret=${m.version}`;
  return cachedContext(id, key, () => ({ ...(m.ca ? { ca: m.ca } : {}), ...(m.cert ? { cert: m.cert } : {}), ...(m.key ? { key: m.key } : {}) }), `Secret ${c.namespace}/${c.name}`);
}

function cachedContext(id: string, key: string, options: () => tls.SecureContextOptions, what: string): tls.SecureContext | Error {
  const built = contexts.get(id);
  if (built !== undefined && built.stamps === key) return built.context;
  try {
    const context = tls.createSecureContext(options());
    if (contexts.size >= 1_000 && !contexts.has(id)) contexts.clear();
    contexts.set(id, { stamps: key, context });
    return context;
  } catch (e) {
    return tlsError(`DestinationRule tls ${what} cannot be used (${(e as Error).message})`, TLS_FILES_CODE);
  }
}

/** The secure context of a rule's certificate files, rebuilt when a file's bytes change. */
function fileContext(u: UpstreamTls, now: number): tls.SecureContext | Error {
  const s = u.settings;
  const parts: Buffer[] = [];
  const stamps: string[] = [];
  for (const field of ['caCertificates', 'clientCertificate', 'privateKey'] as const) {
    const path = s[field];
    if (path === undefined) continue;
    const r = fileBytes(path, now);
    if ('error' in r) return tlsError(`DestinationRule tls.${field} ${JSON.stringify(path)} cannot be read (${r.error})`, TLS_FILES_CODE);
    parts.push(r.bytes);
    stamps.push(`${field}=${files.get(path)!.stamp}`);
  }
  const key = `${u.id}|${stamps.join(',')}`;
  return cachedContext(u.id, key, () => {
    const ca = s.caCertificates !== undefined ? files.get(s.caCertificates)!.bytes : undefined;
    const cert = s.clientCertificate !== undefined ? files.get(s.clientCertificate)!.bytes : undefined;
    const privateKey = s.privateKey !== undefined ? files.get(s.privateKey)!.bytes : undefined;
    return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(privateKey ? { key: privateKey } : {}) };
  }, 'files');
}

function checkSans(cert: tls.PeerCertificate, wanted: readonly string[]): Error | undefined {
  if (sanMatches(cert.subjectaltname, wanted)) return undefined;
  return tlsError(`server certificate SANs [${cert.subjectaltname ?? 'none'}] match none of subjectAltNames [${wanted.join(', ')}]`, SAN_MISMATCH_CODE);
}
