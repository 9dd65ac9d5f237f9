// Pure HBONE wire helpers: the `forwarded` header (RFC 7239), the CONNECT `:authority`, the SNI that
// names which local workload certificate the server should present, and the SPIFFE id of a TLS peer.
// Everything here decides who is talking to whom, so parsing is strict and returns undefined (never a
// best guess) on anything unexpected.
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { Addr } from '../capture/types';
import { formatSpiffeId, tryParseSpiffeId } from '../identity/spiffe';

// ---- forwarded -------------------------------------------------------------------------------

/**
 * `for="1.2.3.4:5678"` / `for="[::1]:5678"`: quoted, because ':' and '[' are not token characters. Port 0
 * (the client's port is not known, e.g. a relay shared by a pod's connections) is left out: RFC 7239
 * makes the port optional, and 0 is no port a peer would accept.
 */
export function formatForwarded(client: Addr): string {
  const host = isIPv6(client.address) ? `[${client.address}]` : client.address;
  return client.port === 0 ? `for="${host}"` : `for="${host}:${client.port}"`;
}

/** One `key=value` pair list of a forwarded-element, values unquoted; undefined when malformed. */
function parsePairs(element: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  // A quoted-string may contain ';' or ',', so scan instead of splitting.
  let i = 0;
  const s = element;
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) return undefined;
    const key = s.slice(i, eq).trim().toLowerCase();
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) return undefined;
    i = eq + 1;
    let value = '';
    if (s[i] === '"') {
      i++;
      for (; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === '\\') i++;
        if (i < s.length) value += s[i];
      }
      if (s[i] !== '"') return undefined;
      i++;
    } else {
      const end = s.indexOf(';', i);
      value = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
      i = end < 0 ? s.length : end;
    }
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (i < s.length) {
      if (s[i] !== ';') return undefined;
      i++;
    }
    // RFC 7239 §4: a parameter occurs at most once per element; two `for`s are ambiguous.
    if (out.has(key)) return undefined;
    out.set(key, value);
  }
  return out;
}

/** Splits a forwarded header into elements at commas outside quoted strings. */
function splitElements(header: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(header.slice(start, i));
      start = i + 1;
    }
  }
  out.push(header.slice(start));
  return out;
}

/**
 * A `for=` node as an address: `1.2.3.4`, `1.2.3.4:5678`, `[v6]`, `[v6]:5678`. A node without a port
 * gets port 0 (RFC 7239 makes the port optional). Obfuscated identifiers and `unknown` are undefined.
 */
export function parseForwardedNode(node: string): Addr | undefined {
  let host: string;
  let portText: string | undefined;
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    if (close < 0) return undefined;
    host = node.slice(1, close);
    const rest = node.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest === '' ? undefined : rest.slice(1);
    if (!isIPv6(host)) return undefined;
  } else {
    const colon = node.indexOf(':');
    host = colon < 0 ? node : node.slice(0, colon);
    portText = colon < 0 ? undefined : node.slice(colon + 1);
    if (!isIPv4(host)) return undefined;
  }
  if (portText === undefined) return { address: host, port: 0 };
  const port = parsePort(portText);
  return port === undefined ? undefined : { address: host, port };
}

/**
 * The client address of the first forwarded-element (the one closest to the original client, which
 * is the one ztunnel writes); undefined when there is none or it is not an IP address.
 */
export function parseForwarded(header: string | undefined): Addr | undefined {
  if (header === undefined) return undefined;
  const first = splitElements(header)[0];
  if (first === undefined || first.trim() === '') return undefined;
  const pairs = parsePairs(first);
  const node = pairs?.get('for');
  return node === undefined ? undefined : parseForwardedNode(node);
}

// ---- :authority --------------------------------------------------------------------------------

/** Decimal 1..65535 without sign, spaces or leading zeros. */
function parsePort(s: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/** Dotted-quad with no leading zeros (so "010.0.0.1" can never be read as octal or as 10.0.0.1). */
function isStrictIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** The CONNECT target: strictly `a.b.c.d:port`; names, IPv6 and odd spellings are refused. */
export function parseAuthority(authority: string | undefined): Addr | undefined {
  if (authority === undefined) return undefined;
  const colon = authority.lastIndexOf(':');
  if (colon < 0) return undefined;
  const host = authority.slice(0, colon);
  const port = parsePort(authority.slice(colon + 1));
  if (port === undefined || !isStrictIPv4(host)) return undefined;
  return { address: host, port };
}

export function formatAuthority(target: Addr): string {
  return isIPv6(target.address) ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`;
}

// ---- SNI ---------------------------------------------------------------------------------------
//
// The server listens on the node address, so (unlike ztunnel, which listens inside each pod's network
// namespace) the destination IP does not say which workload's certificate to present. The client
// therefore names the expected identity in SNI as
//
//     <service-account>.<namespace>.<td-hash>.hbone.nodemesh
//
// where <td-hash> is the first 8 hex digits of sha256(trust domain). Namespaces are DNS labels and
// service accounts DNS subdomains, so both are valid SNI as they are, and parsing from the right is
// unambiguous (the namespace has no dots, the service account may). The trust domain is hashed
// because it may contain '_' and is long; the server knows its own trust domain, so it compares the
// hash instead of reversing it. An identity whose name would exceed 253 characters is sent without
// SNI, and the server falls back to its default certificate.

export const SNI_SUFFIX = '.hbone.nodemesh';

export function trustDomainHash(trustDomain: string): string {
  return createHash('sha256').update(trustDomain).digest('hex').slice(0, 8);
}

/** The SNI for a SPIFFE id; undefined if it is not one or the name would be too long for DNS. */
export function encodeSni(spiffeId: string): string | undefined {
  const id = tryParseSpiffeId(spiffeId);
  if (id === undefined) return undefined;
  const sni = `${id.serviceAccount}.${id.namespace}.${trustDomainHash(id.trustDomain)}${SNI_SUFFIX}`;
  return sni.length <= 253 ? sni : undefined;
}

/** The SPIFFE id an SNI names in `trustDomain`; undefined for any other name (or another domain). */
export function decodeSni(sni: string | undefined, trustDomain: string): string | undefined {
  if (sni === undefined) return undefined;
  const name = sni.toLowerCase();
  if (!name.endsWith(SNI_SUFFIX)) return undefined;
  const labels = name.slice(0, -SNI_SUFFIX.length).split('.');
  if (labels.length < 3) return undefined;
  const hash = labels.pop() as string;
  const namespace = labels.pop() as string;
  if (hash !== trustDomainHash(trustDomain)) return undefined;
  const id = `spiffe://${trustDomain}/ns/${namespace}/sa/${labels.join('.')}`;
  // Re-parse so that the result is canonical and a valid SPIFFE id, whatever the SNI contained.
  const parsed = tryParseSpiffeId(id);
  return parsed === undefined ? undefined : formatSpiffeId(parsed);
}

// ---- peer identity -----------------------------------------------------------------------------

/**
 * Splits node's `subjectAltName` string (`DNS:a, URI:spiffe://x, ...`) into [type, value] pairs.
 * Node quotes a value as a JSON string when it contains ',', '"' or other characters that would make
 * the list ambiguous (CVE-2021-44532), so a value is either up to the next ", " or a JSON string.
 */
export function parseSubjectAltName(san: string): Array<[string, string]> | undefined {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon < 0) return undefined;
    const type = san.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      let k = j + 1;
      for (; k < san.length && san[k] !== '"'; k++) if (san[k] === '\\') k++;
      if (k >= san.length) return undefined;
      try {
        value = JSON.parse(san.slice(j, k + 1)) as string;
      } catch {
        return undefined;
      }
      j = k + 1;
    } else {
      const end = san.indexOf(', ', j);
      value = end < 0 ? san.slice(j) : san.slice(j, end);
      j = end < 0 ? san.length : end;
    }
    out.push([type, value]);
    if (j < san.length) {
      if (!san.startsWith(', ', j)) return undefined;
      j += 2;
    }
    i = j;
  }
  return out;
}

/**
 * The SPIFFE id of an X.509 SVID given its `subjectAltName` string: exactly one URI SAN, which must
 * be a valid SPIFFE id. Several URIs would make "who is this" ambiguous, so they are refused.
 */
export function spiffeIdFromSan(san: string | undefined): string | undefined {
  if (san === undefined) return undefined;
  const entries = parseSubjectAltName(san);
  if (entries === undefined) return undefined;
  const uris = entries.filter(([t]) => t === 'URI').map(([, v]) => v);
  if (uris.length !== 1) return undefined;
  const id = tryParseSpiffeId(uris[0] as string);
  // Only the canonical spelling counts, so that an id compares equal to what policies name.
  return id !== undefined && formatSpiffeId(id) === uris[0] ? uris[0] : undefined;
}

/** The peer's SPIFFE id on a TLS socket (undefined without a certificate or without a valid SVID). */
export function peerSpiffeId(socket: { getPeerX509Certificate(): { subjectAltName: string | undefined } | undefined }): string | undefined {
  const cert = socket.getPeerX509Certificate();
  return cert === undefined ? undefined : spiffeIdFromSan(cert.subjectAltName);
}

export function inTrustDomain(spiffeId: string, trustDomain: string): boolean {
  return tryParseSpiffeId(spiffeId)?.trustDomain === trustDomain;
}
