// VirtualService (mesh routing only): how requests to a service are matched, split, redirected,
// answered, retried, delayed or aborted, and mirrored. Hosts and destinations are resolved to services
// by config/traffic-build.ts; here one document is read, and every Istio field nodemesh does not
// implement is refused by name rather than ignored.
import { Fields, PORT_RANGE, type Item } from '../fields';
import { checkNamespace } from '../formats';
import type { IssueSink } from '../issues';
import type { Destination, DirectResponse, HttpMatch, HttpRoute, MirrorPolicy, Redirect, Rewrite, TcpRoute, WeightedDestination } from '../traffic';
import { readMetadata } from './metadata';
import { bool, durationMs, percent, readDestination, readHeaderRules, readMatchMap, readStringMatch, strip, type MatchKind } from './trafficfields';
import { checkUnreachable } from './vsroutes';
import { readFault, readRetries } from './vspolicies';
import { readHosts } from './serviceentry';
import type { Origin, ParsedVirtualService } from './types';

const SPEC_FIELDS = ['hosts', 'gateways', 'http', 'tcp', 'exportTo'];
const UNSUPPORTED_SPEC_FIELDS = ['tls'];
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
  const hosts = readHosts(spec);
  checkGateways(spec);
  // Visibility scoping: every VirtualService applies mesh-wide in this version, so exportTo is read and ignored.
  spec.stringList('exportTo');
  const dests: Dests = new Map();
  const name = meta?.name ?? '';
  const http = (spec.list('http') ?? []).map((item, i) => readHttpRoute(spec.sink, item, `${name}.${i}`, dests));
  const tcp = (spec.list('tcp') ?? []).map((item) => readTcpRoute(spec.sink, item, dests));
  if (!spec.has('http') && !spec.has('tcp')) spec.sink.report(spec.path, 'must set http or tcp routes');
  checkRouteNames(spec, http);
  const complete = doc.sink.issues.length === before;
  if (complete) checkUnreachable(spec, http, tcp);
  if (meta === undefined) return undefined;
  return { kind: 'VirtualService', origin, name: meta.name, namespace: meta.namespace, hosts, http, tcp, destinations: dests, complete };
}

/** nodemesh routes mesh traffic only: `gateways` may be left out or name the reserved gateway "mesh". */
function checkGateways(f: Fields): void {
  const gateways = f.stringList('gateways');
  if (gateways !== undefined && gateways.some((g) => g !== 'mesh')) {
    f.report('gateways', 'gateways are not supported by nodemesh (it routes mesh traffic only): leave gateways out or set [mesh]');
  }
}

function readHttpRoute(sink: IssueSink, item: Item, fallbackName: string, dests: Dests): HttpRoute {
  const r = Fields.open(sink, item.path, item.value, HTTP_FIELDS, UNSUPPORTED_HTTP_FIELDS);
  if (r === undefined) return { name: fallbackName, match: [], mirrors: [] };
  const name = r.string('name', { check: (s) => (s === '' ? 'must not be empty' : undefined) }) ?? fallbackName;
  const match = (r.list('match') ?? []).map((m) => readMatch(sink, m)).filter((m): m is HttpMatch => m !== undefined);

  const actions = ['route', 'redirect', 'directResponse'].filter((k) => r.has(k));
  if (actions.length === 0 && !r.has('delegate')) sink.report(item.path, 'must set one of route, redirect, directResponse');
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
  const headers = readHeaderRules(r, 'headers');
  return strip({ name, match, route, redirect, directResponse, rewrite, timeoutMs: timeout, retries, fault, mirrors, headers });
}

function readMatch(sink: IssueSink, item: Item): HttpMatch | undefined {
  const m = Fields.open(sink, item.path, item.value, MATCH_FIELDS, UNSUPPORTED_MATCH_FIELDS);
  if (m === undefined) return undefined;
  checkGateways(m);
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

/**
 * `route` of an http or tcp route: weighted destinations. One destination takes all traffic (weight
 * left out, or 100); several must have weights summing to 100 (a missing weight counts as 0).
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
    const weight = w.int('weight', { min: 0, max: 100 });
    if (weight === undefined && w.has('weight')) badWeight = true;
    const headers = fields.includes('headers') ? readHeaderRules(w, 'headers') : undefined;
    if (destination !== undefined) dests.set(destination, w.at('destination'));
    if (items.length === 1 && weight !== undefined && weight !== 100 && weight !== 0) {
      w.report('weight', `a single destination takes all traffic: weight must be 100 or left out, got ${weight}`);
      badWeight = true;
    }
    weights.push(weight ?? (items.length === 1 ? 100 : 0));
    if (destination !== undefined) out.push(strip({ destination, weight: weight ?? (items.length === 1 ? 100 : 0), headers }));
  }
  if (!badWeight && weights.length === items.length) {
    const sum = weights.reduce((a, b) => a + b, 0);
    if (sum === 0) r.report(key, 'all weights are 0: no destination would receive traffic');
    else if (sum !== 100) r.report(key, `weights must sum to 100, got ${sum} (${weights.join(' + ')})`);
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
  if (!['uri', 'authority', 'scheme', 'port', 'derivePort'].some((k) => d.has(k))) {
    d.sink.report(d.path, 'must set at least one of uri, authority, scheme, port');
  }
  return strip({ uri, authority, scheme, port, status: code ?? 301 });
}

function readDirectResponse(r: Fields): DirectResponse | undefined {
  const d = r.object('directResponse', ['status', 'body']);
  if (d === undefined) return undefined;
  const status = d.int('status', { min: 200, max: 599 }, true);
  const b = d.object('body', ['string', 'bytes']);
  let body: string | undefined;
  if (b !== undefined) {
    if (b.has('string') === b.has('bytes')) b.sink.report(b.path, 'must set exactly one of string, bytes');
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
  if (!w.has('uri') && !w.has('authority') && !w.has('uriRegexRewrite')) w.sink.report(w.path, 'must set uri or authority');
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

function readTcpRoute(sink: IssueSink, item: Item, dests: Dests): TcpRoute {
  const r = Fields.open(sink, item.path, item.value, ['match', 'route']);
  if (r === undefined) return { match: [], route: [] };
  const match = (r.list('match') ?? []).flatMap((m) => {
    const f = Fields.open(sink, m.path, m.value, ['port', 'gateways'], ['destinationSubnets', 'sourceLabels', 'sourceNamespace']);
    if (f === undefined) return [];
    checkGateways(f);
    const port = f.int('port', PORT_RANGE);
    return [port !== undefined ? { port } : {}];
  });
  const route = readWeighted(r, 'route', ['destination', 'weight'], dests) ?? [];
  return { match, route };
}

/** Rate limits refer to http routes by name, so names must be unique within a VirtualService. */
function checkRouteNames(spec: Fields, http: readonly HttpRoute[]): void {
  const seen = new Set<string>();
  http.forEach((route, i) => {
    if (seen.has(route.name)) spec.sink.report(`${spec.at('http')}[${i}].name`, `duplicate route name "${route.name}"`);
    seen.add(route.name);
  });
}
