// Value formats shared by the security.istio.io kinds, and by the policy deciders that compile the same
// values: both must read a principal, a CIDR or a port the same way, so there is one definition.
import { Fields, joinKey } from '../fields';
import { checkLabelKey, checkLabelValue, isIPv4 } from '../formats';

/**
 * Istio string matching (exact, `prefix*`, `*suffix`, `*` = any non-empty value). Istio reads any other
 * `*` literally, which is almost always a mistake in a policy, so only these forms are accepted.
 */
export function checkStringMatch(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (s === '*' || !s.includes('*')) return undefined;
  const stars = s.split('*').length - 1;
  if (stars === 1 && (s.startsWith('*') || s.endsWith('*'))) return undefined;
  return `"${s}": "*" may only be the whole value, or its first or last character`;
}

/**
 * Principals: any string, matched with Istio string matching against the peer's SPIFFE id without the
 * `spiffe://` scheme (`<trust domain>/ns/<namespace>/sa/<service account>` for mesh workloads). One of
 * another shape is accepted, as Istio does, and matches only a peer whose id has that form. A value
 * written with the scheme could never match, so it is refused with the form to use.
 */
export function checkPrincipal(s: string): string | undefined {
  const problem = checkStringMatch(s);
  if (problem !== undefined || s === '*') return problem;
  if (s.startsWith('spiffe://')) return `"${s}": write principals without the spiffe:// scheme (<trust domain>/ns/<namespace>/sa/<name>)`;
  return undefined;
}

/** Namespaces in sources and `source.namespace`: a namespace, or a prefix/suffix pattern of one. */
export function checkNamespacePattern(s: string): string | undefined {
  const problem = checkStringMatch(s);
  if (problem !== undefined || s === '*') return problem;
  return /^[a-z0-9-]+$/.test(s.replace('*', '')) ? undefined : `"${s}" is not a namespace (lowercase letters, digits and '-'; "*" at either end)`;
}

export interface Ipv4Block {
  readonly network: number;
  readonly mask: number;
}

/** Dotted quad to an unsigned 32-bit integer; the caller has checked it with isIPv4. */
export function ipv4ToInt(ip: string): number {
  let n = 0;
  for (const part of ip.split('.')) n = n * 256 + Number(part);
  return n >>> 0;
}

/**
 * An IPv4 address or CIDR. Host bits under the mask are allowed and ignored, as Istio (Go's
 * netip.ParsePrefix) does. nodemesh is IPv4-only, so IPv6 blocks are refused rather than never matching.
 */
export function parseIpBlock(s: string): Ipv4Block | undefined {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  if (!isIPv4(ip)) return undefined;
  let bits = 32;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^(0|[1-9][0-9]?)$/.test(b) || Number(b) > 32) return undefined;
    bits = Number(b);
  }
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { network: (ipv4ToInt(ip) & mask) >>> 0, mask };
}

export function checkIpBlock(s: string): string | undefined {
  return parseIpBlock(s) === undefined ? `"${s}" is not an IPv4 address or CIDR (like 10.0.0.0/8)` : undefined;
}

/** Istio writes ports in policies as strings ("8080"); 0 is refused since no connection has it. */
export function parsePortString(s: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

export function checkPortString(s: string): string | undefined {
  return parsePortString(s) === undefined ? `"${s}" is not a port (a number from 1 to 65535, written as a string)` : undefined;
}

/** HTTP methods: case-sensitive tokens (GET, POST...), exact or with a leading or trailing `*` as in Istio. */
export function checkMethod(s: string): string | undefined {
  const problem = checkStringMatch(s);
  if (problem !== undefined || s === '*') return problem;
  if (/^[!#$%&'+.^_`|~0-9A-Za-z-]+$/.test(s.replace('*', ''))) return undefined;
  return `"${s}" is not an HTTP method (a token like GET or POST, "*" at either end)`;
}

/** `{*}` (one path segment) and `{**}` (the rest of the path, across segments): Istio path templates. */
const TEMPLATE_OPERATOR = /\{\*\*?\}/g;

/**
 * Paths: exact, `/prefix/*`, `*.suffix`, `*`, or a template with `{*}` / `{**}` operators (`{**}` only as
 * the last operator, and no other `*`). A fixed path not starting with "/" could never match.
 */
export function checkPath(s: string): string | undefined {
  if (s.includes('{')) {
    const rest = s.replace(TEMPLATE_OPERATOR, '');
    const ops = s.match(TEMPLATE_OPERATOR) ?? [];
    if (!s.startsWith('/')) return `"${s}": a path template must start with "/"`;
    if (ops.length === 0 || /[{}*]/.test(rest)) return `"${s}": path template operators are {*} (one segment) and {**} (the rest of the path); no other "*", "{" or "}"`;
    if (ops.slice(0, -1).includes('{**}')) return `"${s}": {**} must be the last operator of a path template`;
    return undefined;
  }
  const problem = checkStringMatch(s);
  if (problem !== undefined) return problem.includes('"*"') ? `${problem} (or use a path template: {*} for one segment, {**} for the rest)` : problem;
  return s.startsWith('/') || s.startsWith('*') ? undefined : `"${s}" must start with "/" (or "*")`;
}

/** The regular expression of a path template (checked with checkPath); undefined for other paths. */
export function pathTemplateRegex(s: string): RegExp | undefined {
  if (!s.includes('{')) return undefined;
  const parts = s.split(/(\{\*\*?\})/);
  const body = parts.map((p) => (p === '{*}' ? '[^/]+' : p === '{**}' ? '.+' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

/** serviceAccounts: `<namespace>/<name>`, or `<name>` in the policy's namespace; no wildcards. */
export function checkServiceAccount(s: string): string | undefined {
  if (/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s)) return undefined;
  return `"${s}" is not a service account (<namespace>/<name>, or <name> for the policy's namespace; no wildcards)`;
}

/** Trust domains (the first segment of a principal): exact, or with a leading or trailing `*`. */
export function checkTrustDomain(s: string): string | undefined {
  const problem = checkStringMatch(s);
  if (problem !== undefined || s === '*') return problem;
  return /^[A-Za-z0-9._-]+$/.test(s.replace('*', '')) ? undefined : `"${s}" is not a trust domain (like cluster.local)`;
}

/** `when` keys nodemesh evaluates; request.headers[<name>] is the one family of keys. */
export const WHEN_KEYS = ['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port', 'request.headers[<name>]', 'connection.sni', 'remote.ip', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter', 'request.auth.claims[<name>]'];
const HEADER_KEY = /^request\.headers\[(.*)\]$/;
/** `request.auth.claims[a]` or nested `request.auth.claims[a][b]`: the claim path. */
const CLAIM_KEY = /^request\.auth\.claims((?:\[[^\[\]]+\])+)$/;
const ISTIO_KEYS: readonly string[] = [];
const ISTIO_KEY_PREFIXES = ['experimental.envoy.filters.'];

/** The claim path of a `request.auth.claims[a][b]` key; undefined for other keys. */
export function claimOfKey(key: string): string[] | undefined {
  const m = CLAIM_KEY.exec(key);
  return m?.[1] === undefined ? undefined : m[1].slice(1, -1).split('][');
}

/** The header name of a `request.headers[<name>]` key, lower-cased (HTTP header names are case-insensitive). */
export function headerOfKey(key: string): string | undefined {
  const m = HEADER_KEY.exec(key);
  return m?.[1] !== undefined && m[1] !== '' ? m[1].toLowerCase() : undefined;
}

export function checkWhenKey(key: string): string | undefined {
  const supported = `(supported: ${WHEN_KEYS.join(', ')})`;
  if (HEADER_KEY.test(key)) {
    const name = HEADER_KEY.exec(key)?.[1] ?? '';
    // HTTP/2 pseudo-headers (`:authority`, `:method`, `:path`, `:scheme`) are readable as in Envoy.
    return /^:?[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) ? undefined : `"${name}" is not a valid header name in ${key}`;
  }
  if (WHEN_KEYS.includes(key) || claimOfKey(key) !== undefined) return undefined;
  if (key.startsWith('request.auth.claims[')) return `"${key}" is not a claim key (request.auth.claims[name], nested request.auth.claims[a][b])`;
  if (ISTIO_KEYS.includes(key) || ISTIO_KEY_PREFIXES.some((p) => key.startsWith(p))) {
    return `attribute ${key} is not supported yet by this nodemesh version ${supported}`;
  }
  return `unknown attribute "${key}" ${supported}`;
}

/** Checks one value of a `when` condition whose KEY is valid. */
export function checkWhenValue(key: string, value: string): string | undefined {
  switch (key) {
    case 'source.ip':
    case 'destination.ip':
    case 'remote.ip':
      return checkIpBlock(value);
    case 'destination.port':
      return checkPortString(value);
    case 'source.principal':
      return checkPrincipal(value);
    case 'source.namespace':
      return checkNamespacePattern(value);
    default:
      return checkStringMatch(value);
  }
}

/**
 * spec.selector.matchLabels of a policy; undefined for no selector or an empty one (both mean the whole
 * namespace in Istio). Empty keys and wildcards are refused, as Istio's validation does.
 */
export function readPolicySelector(spec: Fields): Readonly<Record<string, string>> | undefined {
  const sel = spec.object('selector', ['matchLabels']);
  const labels = sel?.stringMap('matchLabels');
  if (sel === undefined || labels === undefined) return undefined;
  for (const [k, v] of Object.entries(labels)) {
    const at = joinKey(sel.at('matchLabels'), k);
    if (k === '') sel.sink.report(at, 'empty label key');
    else if (k.includes('*') || v.includes('*')) sel.sink.report(at, 'wildcards are not supported in selectors');
    else {
      const problem = checkLabelKey(k) ?? checkLabelValue(v);
      if (problem !== undefined) sel.sink.report(at, problem);
    }
  }
  return Object.keys(labels).length > 0 ? labels : undefined;
}

/** Labels of a workload include every selector label (an absent selector selects everything). */
export function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}
