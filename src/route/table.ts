// Route tables compiled once per config: per service, its VirtualService routes with their matchers,
// and per (route, request port) the weighted decisions as shared frozen objects, so routing a request
// allocates nothing unless the route rewrites the path or redirects.
import type { MeshConfig, Service } from '../config/model';
import type { DestinationRule, HttpRoute, LocalRateLimit, TcpRoute, TlsRoute, VirtualService, WeightedDestination } from '../config/traffic';
import { compileL4Matches, type L4Test } from './l4';
import { ServiceDestinations } from './destinations';
import { headerEdits } from './headerops';
import { compileHttpMatch, type CompiledMatch } from './match';
import { compileRegex, type Regex } from './regex';
import type { ResolvedDestination, ResolvedMirror, RouteDecision, RouteHeaderEdits } from './types';

/** Weighted choice among precomputed items: cumulative weights and their total. */
export interface Weighted<T> {
  readonly total: number;
  readonly cum: readonly number[];
  readonly items: readonly T[];
}

export interface CompiledRoute {
  readonly route: HttpRoute;
  readonly matches: readonly CompiledMatch[];
  readonly kind: 'forward' | 'redirect' | 'direct';
  /** The direct-response decision (kind 'direct'). */
  readonly direct: RouteDecision | undefined;
  /** Route-level edits (redirects and direct responses have no destination to merge with). */
  readonly edits: RouteHeaderEdits | undefined;
  /** Forward decisions by request port number (kind 'forward'). */
  readonly forward: ReadonlyMap<number, Weighted<RouteDecision>>;
  readonly rewritesPath: boolean;
}

export interface CompiledTcpRoute {
  /** undefined = every port. */
  readonly ports: readonly number[] | undefined;
  readonly byPort: ReadonlyMap<number, Weighted<ResolvedDestination | undefined>>;
  readonly route: TcpRoute | TlsRoute;
  /** The match entries (l4.ts); the route applies when one of them holds. */
  readonly tests: readonly L4Test[];
}

export interface CompiledService {
  readonly service: Service;
  readonly dests: ServiceDestinations;
  /** undefined: no VirtualService routes this service's HTTP traffic. */
  readonly http: readonly CompiledRoute[] | undefined;
  readonly tcp: readonly CompiledTcpRoute[] | undefined;
  /** undefined: no VirtualService routes this service's TLS by SNI. */
  readonly tls: readonly CompiledTcpRoute[] | undefined;
  /** Decision for traffic without a VirtualService, by port number. */
  readonly passthrough: ReadonlyMap<number, RouteDecision>;
  readonly limits: readonly LocalRateLimit[];
  /** Rate limits by port number, then by route name ('' = not routed by a VirtualService). */
  readonly limitsByPort: ReadonlyMap<number, ReadonlyMap<string, readonly LocalRateLimit[]>>;
}

const NONE: readonly never[] = Object.freeze([]);

export class RouteTables {
  readonly services = new Map<string, CompiledService>();
  readonly rules = new Map<string, DestinationRule>();
  /** Regexes of this build by source; null = did not compile. Bounded by the config's size. */
  private readonly regexes = new Map<string, Regex | null>();
  readonly regexErrors: string[] = [];

  constructor(config: MeshConfig) {
    const traffic = config.traffic;
    // Istio applies the oldest of several rules for one host; the config order stands in for age.
    for (const dr of traffic?.destinationRules ?? []) if (!this.rules.has(dr.service)) this.rules.set(dr.service, dr);
    const dests = new Map<string, ServiceDestinations>();
    for (const s of config.services) dests.set(s.key, new ServiceDestinations(s, this.rules.get(s.key)));
    const lookup = (key: string): ServiceDestinations | undefined => dests.get(key);
    const httpVs = new Map<string, VirtualService>();
    const tcpVs = new Map<string, VirtualService>();
    const tlsVs = new Map<string, VirtualService>();
    for (const vs of traffic?.virtualServices ?? []) {
      for (const key of vs.services) {
        if (vs.http.length > 0 && !httpVs.has(key)) httpVs.set(key, vs);
        if (vs.tcp.length > 0 && !tcpVs.has(key)) tcpVs.set(key, vs);
        if ((vs.tls?.length ?? 0) > 0 && !tlsVs.has(key)) tlsVs.set(key, vs);
      }
    }
    const regex = (src: string): Regex | undefined => this.regex(src);
    for (const s of config.services) {
      const own = dests.get(s.key)!;
      const portNumbers = [...new Set(s.ports.map((p) => p.number))];
      const vs = httpVs.get(s.key);
      const http = vs?.http.map((r) => compileRoute(r, portNumbers, lookup, regex));
      const tcpVsOf = tcpVs.get(s.key);
      const tcp = tcpVsOf?.tcp.map((r) => compileTcp(r, portNumbers, lookup));
      const tls = tlsVs.get(s.key)?.tls?.map((r) => compileTcp(r, portNumbers, lookup));
      const passthrough = new Map<number, RouteDecision>();
      for (const p of s.ports) {
        if (passthrough.has(p.number)) continue;
        passthrough.set(p.number, Object.freeze({ kind: 'forward', route: undefined, to: own.get(p, undefined)!, weighted: undefined, headers: undefined, mirrors: NONE }));
      }
      const limits = (traffic?.rateLimits ?? []).filter((l) => l.service === s.key);
      const routeNames = vs?.http.map((r) => r.name) ?? [];
      const limitsByPort = new Map<number, Map<string, readonly LocalRateLimit[]>>();
      for (const n of portNumbers) {
        const byRoute = new Map<string, readonly LocalRateLimit[]>();
        for (const name of ['', ...routeNames]) byRoute.set(name, selectLimits(limits, n, name === '' ? undefined : name));
        limitsByPort.set(n, byRoute);
      }
      this.services.set(s.key, { service: s, dests: own, http, tcp, tls, passthrough, limits, limitsByPort });
    }
  }

  private regex(src: string): Regex | undefined {
    const hit = this.regexes.get(src);
    if (hit !== undefined) return hit ?? undefined;
    try {
      const re = compileRegex(src);
      this.regexes.set(src, re);
      return re;
    } catch (e) {
      this.regexes.set(src, null);
      this.regexErrors.push((e as Error).message);
      return undefined;
    }
  }
}

/** LIMITS that apply on PORT to a request routed by ROUTE_NAME (undefined = no VirtualService route). */
export function selectLimits(limits: readonly LocalRateLimit[], port: number, routeName: string | undefined): readonly LocalRateLimit[] {
  const out = limits.filter((l) => (l.port === undefined || l.port === port) && (l.route === undefined || l.route === routeName));
  return out.length === 0 ? NONE : Object.freeze(out);
}

type Lookup = (serviceKey: string) => ServiceDestinations | undefined;

function compileRoute(route: HttpRoute, ports: readonly number[], lookup: Lookup, regex: (s: string) => Regex | undefined): CompiledRoute {
  const matches = route.match.map((m) => compileHttpMatch(m, regex));
  const edits = headerEdits(route, undefined);
  const kind = route.redirect !== undefined ? 'redirect' : route.directResponse !== undefined ? 'direct' : 'forward';
  const direct =
    route.directResponse === undefined
      ? undefined
      : Object.freeze({ kind: 'direct' as const, route, status: route.directResponse.status, body: route.directResponse.body, headers: edits });
  const forward = new Map<number, Weighted<RouteDecision>>();
  if (kind === 'forward') for (const p of ports) forward.set(p, forwardTable(route, p, lookup));
  return { route, matches, kind, direct, edits, forward, rewritesPath: route.rewrite?.uri !== undefined };
}

/** The decisions ROUTE can make for a request on REQUEST_PORT, one per weighted destination. */
export function forwardTable(route: HttpRoute, requestPort: number, lookup: Lookup): Weighted<RouteDecision> {
  const mirrors: ResolvedMirror[] = [];
  for (const m of route.mirrors) {
    const to = lookup(m.destination.service)?.resolve(m.destination, requestPort);
    if (to !== undefined) mirrors.push(Object.freeze({ to, percent: m.percent }));
  }
  const frozenMirrors = mirrors.length === 0 ? NONE : Object.freeze(mirrors);
  const authority = route.rewrite?.authority;
  const rewrite = authority === undefined ? undefined : Object.freeze({ authority });
  return weighted(route.route ?? [], (wd: WeightedDestination): RouteDecision => {
    const to = lookup(wd.destination.service)?.resolve(wd.destination, requestPort);
    const headers = headerEdits(route, wd);
    if (to === undefined) return Object.freeze({ kind: 'direct', route, status: 503, body: undefined, headers: headerEdits(route, undefined), noCluster: true });
    return Object.freeze({ kind: 'forward', route, to, weighted: wd, headers, mirrors: frozenMirrors, ...(rewrite === undefined ? {} : { rewrite }) });
  });
}

function compileTcp(route: TcpRoute | TlsRoute, ports: readonly number[], lookup: Lookup): CompiledTcpRoute {
  const any = route.match.length === 0 || route.match.some((m) => m.port === undefined);
  const byPort = new Map<number, Weighted<ResolvedDestination | undefined>>();
  for (const p of ports) byPort.set(p, tcpTable(route, p, lookup));
  return { ports: any ? undefined : route.match.map((m) => m.port!), byPort, route, tests: compileL4Matches(route.match) };
}

export function tcpTable(route: TcpRoute | TlsRoute, requestPort: number, lookup: Lookup): Weighted<ResolvedDestination | undefined> {
  return weighted(route.route, (wd) => lookup(wd.destination.service)?.resolve(wd.destination, requestPort));
}

function weighted<T>(list: readonly WeightedDestination[], make: (wd: WeightedDestination) => T): Weighted<T> {
  const cum: number[] = [];
  const items: T[] = [];
  let total = 0;
  for (const wd of list) {
    total += Math.max(0, wd.weight);
    cum.push(total);
    items.push(make(wd));
  }
  return Object.freeze({ total, cum: Object.freeze(cum), items: Object.freeze(items) });
}

/** Draws one item: weight 0 is never chosen; a single item needs no draw. Undefined for an empty list. */
export function pick<T>(w: Weighted<T>, random: () => number): T | undefined {
  const n = w.items.length;
  if (n <= 1 || w.total <= 0) return w.items[0];
  const x = random() * w.total;
  for (let i = 0; i < n; i++) if (x < w.cum[i]) return w.items[i];
  // random() returned 1 or more: take the last item that has weight.
  for (let i = n - 1; i > 0; i--) if (w.cum[i] > w.cum[i - 1]) return w.items[i];
  return w.items[0];
}
