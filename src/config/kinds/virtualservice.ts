// VirtualService (mesh routing only): how requests to a service are matched, split, redirected,
// answered, retried, delayed or aborted, and mirrored. Hosts and destinations are resolved to services
// by config/traffic-build.ts; here one document is read, and every Istio field nodemesh does not
// implement is refused by name rather than ignored.
import { Fields, PORT_RANGE, isRecord, type Item } from '../fields';
import { checkHost, checkNamespace } from '../formats';
import type { IssueSink } from '../issues';
import type { Destination, DirectResponse, HttpMatch, HttpRoute, MirrorPolicy, Redirect, Rewrite, WeightedDestination } from '../traffic';
import { readMetadata } from './metadata';
import { bool, durationMs, percent, readDestination, readHeaderRules, readMatchMap, readStringMatch, strip, type MatchKind } from './trafficfields';
import { checkUnreachable } from './vsroutes';
import { readTcpRoute, readTlsRoute, servesMesh } from './vsl4';
import { readFault, readRetries } from './vspolicies';
import { readHosts } from './serviceentry';
import { takeAuthority } from './headervalue';
import type { Origin, ParsedVirtualService } from './types';

const SPEC_FIELDS = ['hosts', 'gateways', 'http', 'tcp', 'tls', 'exportTo'];
const UNSUPPORTED_SPEC_FIELDS: string[] = [];
const HTTP_FIELDS = ['name', 'match', 'route', 'redirect', 'directResponse', 'rewrite', 'timeout', 'retries', 'fault', 'mirror', 'mirrorPercentage', 'mirrors', 'headers'];
const UNSUPPORTED_HTTP_FIELDS = ['delegate', 'corsPolicy', 'mirrorPercent', 'mirror_percent'];
const MATCH_FIELDS = ['name', 'uri', 'scheme', 'method', 'authority', 'headers', 'queryParams', 'withoutHeaders', 'port', 'ignoreUriCase', 'sourceLabels', 'sourceNamespace', 'gateways'];
const UNSUPPORTED_MATCH_FIELDS = ['statPrefix'];
const REDIRECT_CODES = [301, 302, 303, 307, 308];
const ALL_MATCHES: readonly MatchKind[] = ['exact', 'prefix', 'regex'];
/** Everything but `route` only makes sense for requests that are forwarded somewhere. */
const FORWARDING_ONLY = ['rewrite', 'timeout', 'retries', 'fault', 'mirror', 'mirrorPercentage', 'mirrors'];

type Dests = Map<Destination, string>;

export function readVirtualService(doc: Fields, origin: Origin): ParsedVirtualService | undefined {
  const before = doc.sink.issues.length;
  const meta = readMetadata(doc, []);
  const spec = doc.object('spec', SPEC_FIELDS, { required: true, unsupported: UNSUPPORTED_SPEC_FIELDS });
  if (spec === undefined) return undefined;
  const gateways = readGateways(spec);
  // A VirtualService bound to other gateways only is checked but not served: `*` is a valid host there.
  const hosts = gateways.mesh ? readHosts(spec) : readGatewayHosts(spec);
  if (gateways.mesh) {
    checkOverlappingHosts(spec, hosts);
    checkMatchGateways(spec);
  }
  // Visibility scoping: every VirtualService applies mesh-wide in this version, so exportTo is read and ignored.
  spec.stringList('exportTo');
  const dests: Dests = new Map();
  const name = meta?.name ?? '';
  const http = (spec.list('http') ?? []).map((item, i) => readHttpRoute(spec.sink, item, `${name}.${i}`, dests));
  const weighted = (r: Fields, key: string, fields: readonly string[]): WeightedDestination[] | undefined => readWeighted(r, key, fields, dests);
  const mesh = servesMesh(spec);
  const tcp = (spec.list('tcp') ?? []).map((item) => readTcpRoute(spec.sink, item, weighted, mesh));
  const vsHosts = hosts.map((h) => h.value);
  const tls = (spec.list('tls') ?? []).map((item) => readTlsRoute(spec.sink, item, vsHosts, meta?.namespace ?? 'default', weighted, mesh));
  spec.oneOf(['http', 'tcp', 'tls'], 'must set http, tcp or tls routes');
  checkRouteNames(spec, http);
  const complete = doc.sink.issues.length === before;
  const unreachable = complete ? checkUnreachable(spec, http, tcp, tls) : [];
  if (meta === undefined) return undefined;
  const bound = gateways.others.length > 0 ? { gateways } : {};
  return { kind: 'VirtualService', origin, name: meta.name, namespace: meta.namespace, hosts, http, tcp, ...(tls.length > 0 ? { tls } : {}), destinations: dests, complete, ...bound, ...(unreachable.length > 0 ? { unreachable } : {}) };
}

/**
 * spec.gateways: left out means the mesh only; otherwise the mesh applies when "mesh" is listed. Other
 * gateways (`[namespace/]name`) are accepted; the node agent serves none of them (the cross-document
 * pass reports that part as not served).
 */
function readGateways(f: Fields): { readonly mesh: boolean; readonly others: readonly string[] } {
  const gateways = f.stringList('gateways', { check: (g) => (/^([a-z0-9-]+\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(g) ? undefined : `"${g}" is not a gateway name ([namespace/]name, or mesh)`) });
  if (gateways === undefined || (gateways.length === 0 && !f.has('gateways'))) return { mesh: true, others: [] };
  if (gateways.length === 0) return { mesh: true, others: [] };
  return { mesh: gateways.includes('mesh'), others: gateways.filter((g) => g !== 'mesh') };
}

/** Hosts of a VirtualService bound to other gateways only: as readHosts, and `*` is allowed. */
function readGatewayHosts(spec: Fields): { value: string; path: string }[] {
  const out: { value: string; path: string }[] = [];
  for (const item of spec.list('hosts', { required: true }) ?? []) {
    if (item.value === '*') out.push({ value: '*', path: item.path });
    else if (typeof item.value !== 'string') spec.sink.report(item.path, 'must be a string');
    else {
      const problem = checkHost(item.value);
      if (problem !== undefined) spec.sink.report(item.path, problem);
      else out.push({ value: item.value.toLowerCase(), path: item.path });
    }
  }
  return out;
}

/** Two wildcard hosts of one VirtualService where one covers the other (`*.a.com` and `*.b.a.com`). */
function checkOverlappingHosts(spec: Fields, hosts: readonly { value: string; path: string }[]): void {
  hosts.forEach((h, i) => {
    const other = hosts.slice(0, i).find((o) => o.value.startsWith('*') && h.value.startsWith('*') && (h.value.endsWith(o.value.slice(1)) || o.value.endsWith(h.value.slice(1))));
    if (other !== undefined) spec.sink.report(h.path, `${h.value} overlaps ${other.value} (${other.path}): keep the wider one, or split them into separate VirtualServices`);
  });
}

/** Match entries for other gateways only, in a VirtualService that serves the mesh. */
function checkMatchGateways(spec: Fields): void {
  const http = spec.raw('http');
  if (!Array.isArray(http)) return;
  http.forEach((route: unknown, i) => {
    const match = isRecord(route) ? route.match : undefined;
    if (!Array.isArray(match)) return;
    match.forEach((m: unknown, j) => {
      const g = isRecord(m) ? m.gateways : undefined;
      if (Array.isArray(g) && g.length > 0 && !g.includes('mesh')) {
        spec.sink.report(`${spec.at('http')}[${i}].match[${j}].gateways`, 'match entries for other gateways are not supported yet in a VirtualService that serves the mesh: move them into a VirtualService bound to those gateways');
      }
    });
  });
}

function readHttpRoute(sink: IssueSink, item: Item, fallbackName: string, dests: Dests): HttpRoute {
  const r = Fields.open(sink, item.path, item.value, HTTP_FIELDS, UNSUPPORTED_HTTP_FIELDS);
  if (r === undefined) return { name: fallbackName, match: [], mirrors: [] };
  const name = r.string('name', { check: (s) => (s === '' ? 'must not be empty' : undefined) }) ?? fallbackName;
  const match = (r.list('match') ?? []).map((m) => readMatch(sink, m)).filter((m): m is HttpMatch => m !== undefined);

  const actions = ['route', 'redirect', 'directResponse'].filter((k) => r.has(k));
  if (!r.has('delegate')) r.oneOf(['route', 'redirect', 'directResponse'], 'must set one of route, redirect, directResponse');
  if (actions.length > 1) sink.report(item.path, `must set only one of route, redirect, directResponse, got ${actions.join(' and ')}`);
  const action = actions[0];
  if (action !== undefined && action !== 'route') {
    for (const key of FORWARDING_ONLY.filter((k) => r.has(k))) {
      r.report(key, `cannot be used with ${action} (it applies to forwarded requests only)`);
    }
  }
  const route = r.has('route') ? readWeighted(r, 'route', ['destination', 'weight', 'headers'], dests) : undefined;
  const redirect = readRedirect(r);
  const directResponse = readDirectResponse(r);
  const rewrite = readRewrite(r);
  const timeout = readTimeout(r);
  const retries = readRetries(r);
  const fault = readFault(r);
  const mirrors = readMirrors(r, dests);
  // `headers.request.set[":authority"]` rewrites the authority, as Istio translates it.
  const { rules: headers, authority } = takeAuthority(readHeaderRules(r, 'headers'));
  if (authority !== undefined && rewrite?.authority !== undefined) {
    r.report('headers', 'request.set[":authority"] cannot be used together with rewrite.authority (set the authority in one place)');
  }
  const rewritten = authority !== undefined && action === 'route' ? { ...rewrite, authority } : rewrite;
  return strip({ name, match, route, redirect, directResponse, rewrite: rewritten, timeoutMs: timeout, retries, fault, mirrors, headers });
}

function readMatch(sink: IssueSink, item: Item): HttpMatch | undefined {
  const m = Fields.open(sink, item.path, item.value, MATCH_FIELDS, UNSUPPORTED_MATCH_FIELDS);
  if (m === undefined) return undefined;
  m.stringList('gateways');
  const sm = (key: string): ReturnType<typeof readStringMatch> =>
    m.has(key) ? readStringMatch(sink, m.at(key), m.raw(key), ALL_MATCHES, false) : undefined;
  const nonEmpty = <T extends object>(o: T | undefined): T | undefined => (o !== undefined && Object.keys(o).length > 0 ? o : undefined);
  return strip({
    name: m.string('name'),
    uri: sm('uri'),
    scheme: sm('scheme'),
    method: sm('method'),
    authority: sm('authority'),
    headers: nonEmpty(readMatchMap(m, 'headers', { kinds: ALL_MATCHES, lowerCase: true })),
    // Istio matches query parameters by exact value or regex only.
    queryParams: nonEmpty(readMatchMap(m, 'queryParams', { kinds: ['exact', 'regex'], lowerCase: false })),
    withoutHeaders: nonEmpty(readMatchMap(m, 'withoutHeaders', { kinds: ALL_MATCHES, lowerCase: true })),
    port: m.int('port', PORT_RANGE),
    ignoreUriCase: bool(m, 'ignoreUriCase') === true ? true : undefined,
    sourceLabels: nonEmpty(m.labelMap('sourceLabels')),
    sourceNamespace: m.string('sourceNamespace', { check: checkNamespace }),
  });
}

/** Istio's weights are int32; only their ratio matters. */
const WEIGHT_RANGE = { min: 0, max: 2147483647 };

/**
 * `route` of an http or tcp route: weighted destinations. Weights are relative, as in Istio (which
 * normalises them): 60 and 30 send two thirds and one third. One destination alone takes all traffic
 * whatever its weight; with several, a missing weight counts as 0 and at least one must be above 0.
 */
function readWeighted(r: Fields, key: string, fields: readonly string[], dests: Dests): WeightedDestination[] | undefined {
  const items = r.list(key, { required: true });
  if (items === undefined) return undefined;
  const out: WeightedDestination[] = [];
  const weights: number[] = [];
  let badWeight = false;
  for (const item of items) {
    const w = Fields.open(r.sink, item.path, item.value, fields);
    if (w === undefined) continue;
    const destination = readDestination(w, 'destination');
    const weight = w.int('weight', WEIGHT_RANGE);
    if (weight === undefined && w.has('weight')) badWeight = true;
    const headers = fields.includes('headers') ? readHeaderRules(w, 'headers') : undefined;
    if (headers?.request?.set?.[':authority'] !== undefined) {
      w.report('headers', 'request.set[":authority"] is not supported per destination yet: set it for the whole route (http[].headers.request.set) or use rewrite.authority');
    }
    if (destination !== undefined) dests.set(destination, w.at('destination'));
    // A single destination takes all traffic, whatever its weight (Istio ignores it).
    const effective = items.length === 1 ? 100 : (weight ?? 0);
    weights.push(effective);
    if (destination !== undefined) out.push(strip({ destination, weight: effective, headers }));
  }
  if (!badWeight && weights.length === items.length && items.length > 1 && weights.every((x) => x === 0)) {
    r.report(key, 'all weights are 0: no destination would receive traffic (weights are relative: give each its share)');
  }
  return out;
}

function readRedirect(r: Fields): Redirect | undefined {
  const d = r.object('redirect', ['uri', 'authority', 'scheme', 'port', 'redirectCode'], { unsupported: ['derivePort'] });
  if (d === undefined) return undefined;
  const nonEmpty = (s: string): string | undefined => (s === '' ? 'must not be empty' : undefined);
  const uri = d.string('uri', { check: nonEmpty });
  const authority = d.string('authority', { check: nonEmpty });
  const scheme = d.string('scheme', { check: (s) => (/^[A-Za-z][A-Za-z0-9+.-]*$/.test(s) ? undefined : `"${s}" is not a URL scheme`) });
  const port = d.int('port', PORT_RANGE);
  const code = d.int('redirectCode', { min: 100, max: 599 });
  if (code !== undefined && !REDIRECT_CODES.includes(code)) d.report('redirectCode', `must be one of ${REDIRECT_CODES.join(', ')}, got ${code}`);
  d.oneOf(['uri', 'authority', 'scheme', 'port', 'derivePort'], 'must set at least one of uri, authority, scheme, port');
  return strip({ uri, authority, scheme, port, status: code ?? 301 });
}

function readDirectResponse(r: Fields): DirectResponse | undefined {
  const d = r.object('directResponse', ['status', 'body']);
  if (d === undefined) return undefined;
  const status = d.int('status', { min: 200, max: 599 }, true);
  const b = d.object('body', ['string', 'bytes']);
  let body: string | undefined;
  if (b !== undefined) {
    if (b.has('string') && b.has('bytes')) b.sink.report(b.path, 'must set exactly one of string, bytes');
    else b.oneOf(['string', 'bytes'], 'must set exactly one of string, bytes');
    body = b.has('string') ? b.string('string') : b.string('bytes', { check: checkBase64 });
    if (body !== undefined && b.has('bytes')) body = Buffer.from(body, 'base64').toString('utf8');
  }
  return status === undefined ? undefined : strip({ status, body });
}

/** Istio's body.bytes is base64; nodemesh answers text bodies, so the decoded bytes must be UTF-8. */
function checkBase64(s: string): string | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return 'is not valid base64';
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(s, 'base64'));
    return undefined;
  } catch {
    return 'decodes to bytes that are not UTF-8 text (binary bodies are not supported)';
  }
}

function readRewrite(r: Fields): Rewrite | undefined {
  const w = r.object('rewrite', ['uri', 'authority'], { unsupported: ['uriRegexRewrite'] });
  if (w === undefined) return undefined;
  const uri = w.string('uri');
  const authority = w.string('authority', { check: (s) => (s === '' ? 'must not be empty' : undefined) });
  w.oneOf(['uri', 'authority', 'uriRegexRewrite'], 'must set uri or authority');
  return strip({ uri, authority });
}

/** Istio's `timeout: 0s` means "no timeout" (kept as 0); leaving it out keeps the agent's default. */
function readTimeout(r: Fields): number | undefined {
  if (!r.has('timeout')) return undefined;
  return durationMs(r, 'timeout', { allowZero: true });
}

/** `mirror` + `mirrorPercentage` (one mirror, 100 % by default) or `mirrors[]`; never both. */
function readMirrors(r: Fields, dests: Dests): MirrorPolicy[] {
  const out: MirrorPolicy[] = [];
  if (r.has('mirror') && r.has('mirrors')) r.report('mirrors', 'cannot be used together with mirror (list every mirror under mirrors)');
  if (r.has('mirrorPercentage') && !r.has('mirror')) r.report('mirrorPercentage', 'has no effect without mirror');
  const mirror = readDestination(r, 'mirror', false);
  const pct = percent(r, 'mirrorPercentage');
  if (mirror !== undefined) {
    dests.set(mirror, r.at('mirror'));
    out.push({ destination: mirror, percent: pct ?? 100 });
  }
  for (const item of r.list('mirrors') ?? []) {
    const m = Fields.open(r.sink, item.path, item.value, ['destination', 'percentage']);
    const destination = m && readDestination(m, 'destination');
    const p = m && percent(m, 'percentage');
    if (m === undefined || destination === undefined) continue;
    dests.set(destination, m.at('destination'));
    out.push({ destination, percent: p ?? 100 });
  }
  return out;
}

/** Rate limits refer to http routes by name, so names must be unique within a VirtualService. */
function checkRouteNames(spec: Fields, http: readonly HttpRoute[]): void {
  const seen = new Set<string>();
  http.forEach((route, i) => {
    if (seen.has(route.name)) spec.sink.report(`${spec.at('http')}[${i}].name`, `duplicate route name "${route.name}"`);
    seen.add(route.name);
  });
}
