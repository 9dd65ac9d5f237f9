// The request attributes authorization policies look at, read once per request, and the value tests
// compiled once per config (string patterns, CIDRs, ports). Pure: no I/O, no clock.
import { isIPv4 } from '../config/formats';
import { ipv4ToInt, parseIpBlock, parsePortString, pathTemplateRegex } from '../config/kinds/security';

/** What the node agent knows about one connection or request to a workload. */
export interface AuthzRequest {
  readonly source: {
    /** Peer identity from its mTLS certificate, `<td>/ns/<ns>/sa/<sa>`; absent for plaintext. */
    readonly principal?: string;
    /** Peer namespace, used when there is no principal to read it from. Set it only from authenticated identity. */
    readonly namespace?: string;
    readonly ip: string;
  };
  readonly destination: { readonly ip: string; readonly port: number };
  /** Present for HTTP requests; absent means the connection is authorized as TCP. */
  readonly http?: { readonly method: string; readonly path: string; readonly host: string; readonly headers: Readonly<Record<string, string>> };
  readonly sni?: string;
  /** The request's verified JWT (RequestAuthentication); absent when it carried none. */
  readonly auth?: RequestAuth;
  /** The client address X-Forwarded-For gives with the trusted proxies counted off; default: source.ip. */
  readonly remoteIp?: string;
}

/** What a verified JWT tells authorization (Istio's request.auth.* attributes). */
export interface RequestAuth {
  /** `<iss>/<sub>`. */
  readonly principal: string;
  readonly audiences: readonly string[];
  /** The `azp` claim. */
  readonly presenter: string | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Request attributes in the form the compiled tests use; built once per decision. */
export interface RequestView {
  readonly tcp: boolean;
  readonly principal: string | undefined;
  readonly namespace: string | undefined;
  readonly srcIp: number | undefined;
  readonly dstIp: number | undefined;
  readonly dstPort: number;
  readonly sni: string | undefined;
  readonly auth: RequestAuth | undefined;
  readonly remoteIp: number | undefined;
  readonly method: string | undefined;
  /** Without query string and fragment: Istio's path rules match the path only. */
  readonly path: string | undefined;
  /** Lower-cased: host rules are case-insensitive. */
  readonly host: string | undefined;
  /** By lower-case name. */
  header(name: string): string | undefined;
}

const SPIFFE = 'spiffe://';

export function viewOf(req: AuthzRequest): RequestView {
  // Principals are compared without the scheme, as policies write them; accept either from the caller.
  const raw = req.source.principal;
  const principal = raw === undefined || raw === '' ? undefined : raw.startsWith(SPIFFE) ? raw.slice(SPIFFE.length) : raw;
  const http = req.http;
  let lowered: Map<string, string> | undefined;
  return {
    tcp: http === undefined,
    principal,
    // The certificate's namespace when there is one, as Istio reads it; the caller's otherwise.
    namespace: namespaceOf(principal) ?? (req.source.namespace || undefined),
    srcIp: ipOf(req.source.ip),
    dstIp: ipOf(req.destination.ip),
    dstPort: req.destination.port,
    sni: req.sni || undefined,
    auth: req.auth,
    remoteIp: ipOf(req.remoteIp ?? req.source.ip),
    method: http?.method,
    path: http === undefined ? undefined : pathOnly(http.path),
    host: http?.host.toLowerCase(),
    header(name: string): string | undefined {
      if (http === undefined) return undefined;
      // Pseudo-headers, as Envoy exposes them to header matching on HTTP/1 and HTTP/2 alike.
      if (name === ':authority') return http.host;
      if (name === ':method') return http.method;
      if (name === ':path') return http.path;
      const direct = http.headers[name];
      if (direct !== undefined && Object.hasOwn(http.headers, name)) return direct;
      // Callers usually pass Node's already lower-cased headers; other spellings are indexed once.
      lowered ??= new Map(Object.entries(http.headers).map(([k, v]) => [k.toLowerCase(), v]));
      return lowered.get(name);
    },
  };
}

/** The namespace segment of `<td>/ns/<ns>/sa/<sa>`. */
export function namespaceOf(principal: string | undefined): string | undefined {
  if (principal === undefined) return undefined;
  const m = /^[^/]+\/ns\/([^/]+)\/sa\/[^/]+$/.exec(principal);
  return m?.[1];
}

function ipOf(s: string): number | undefined {
  return isIPv4(s) ? ipv4ToInt(s) : undefined;
}

function pathOnly(path: string): string {
  const cut = path.search(/[?#]/);
  return cut < 0 ? path : path.slice(0, cut);
}

/** A test of one attribute against one policy value; a missing attribute never matches. */
export type Test = (r: RequestView) => boolean;

/**
 * Istio string matching: `*` = present and non-empty, `x*` prefix, `*x` suffix, else exact. With
 * IGNORE_CASE only the pattern is lower-cased: the view already holds those attributes (hosts) lower-cased.
 */
export function stringTest(pattern: string, get: (r: RequestView) => string | undefined, ignoreCase = false): Test {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  if (p === '*') return (r) => (get(r) ?? '') !== '';
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (r) => get(r)?.endsWith(suffix) ?? false;
  }
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (r) => get(r)?.startsWith(prefix) ?? false;
  }
  return (r) => get(r) === p;
}

/** Paths: Istio string matching, or a `{*}` / `{**}` path template. */
export function pathTest(pattern: string, get: (r: RequestView) => string | undefined): Test {
  const re = pathTemplateRegex(pattern);
  if (re === undefined) return stringTest(pattern, get);
  return (r) => {
    const p = get(r);
    return p !== undefined && re.test(p);
  };
}

/** serviceAccounts: `<namespace>/<name>` against the namespace and account of the peer principal. */
export function serviceAccountTest(account: string): Test {
  return (r) => r.principal !== undefined && accountOf(r.principal) === account;
}

/** trustDomains: Istio string matching against the first segment of the peer principal. */
export function trustDomainTest(pattern: string): Test {
  return stringTest(pattern, (r) => (r.principal !== undefined && r.principal.includes('/') ? r.principal.slice(0, r.principal.indexOf('/')) : undefined));
}

function accountOf(principal: string): string | undefined {
  const m = /^[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principal);
  return m === null ? undefined : `${m[1]}/${m[2]}`;
}

/** Header values: as strings, except that `*` only asks for the header to be present (Envoy present_match). */
export function headerTest(pattern: string, name: string): Test {
  if (pattern === '*') return (r) => r.header(name) !== undefined;
  return stringTest(pattern, (r) => r.header(name));
}

/** An IPv4 address or CIDR (validated when the config was loaded; a bad one never matches). */
export function ipTest(block: string, get: (r: RequestView) => number | undefined): Test {
  const b = parseIpBlock(block);
  if (b === undefined) return () => false;
  return (r) => {
    const ip = get(r);
    return ip !== undefined && ((ip & b.mask) >>> 0) === b.network;
  };
}

/** Destination ports; `when` values arrive as strings, operation ports as numbers. */
export function portTest(port: number | string): Test {
  const n = typeof port === 'number' ? port : parsePortString(port);
  return (r) => r.dstPort === n;
}

/** A value matches when one of the attribute's values does (audiences, list claims). */
export function anyValueTest(pattern: string, get: (r: RequestView) => readonly string[] | undefined): Test {
  // One compiled string test, fed each value in turn through a closure variable.
  let value: string | undefined;
  const test = stringTest(pattern, () => value);
  return (r) => {
    const values = get(r);
    if (values === undefined) return false;
    for (const v of values) {
      value = v;
      if (test(r)) return true;
    }
    return false;
  };
}

/**
 * The values of claim PATH (`[a][b]` nests into objects): a string is one value, a list of strings its
 * elements; numbers and booleans as text; anything else has no value.
 */
export function claimValues(claims: Readonly<Record<string, unknown>> | undefined, path: readonly string[]): string[] | undefined {
  let v: unknown = claims;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v)) return v.filter((x): x is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof x)).map(String);
  return undefined;
}
