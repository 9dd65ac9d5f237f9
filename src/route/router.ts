// The router over one config (Istio VirtualService semantics as Envoy applies them): first matching
// route wins, weighted destinations drawn with an injected random, redirects and direct responses,
// rewrites, TCP routes and the rate limits that apply. Pure; tables are built once in createRouter.
import type { MeshConfig, Service, ServicePort } from '../config/model';
import type { HttpRoute, LocalRateLimit, Redirect } from '../config/traffic';
import { ServiceDestinations } from './destinations';
import { pathEnd } from './match';
import { RouteTables, forwardTable, pick, selectLimits, tcpTable, type CompiledRoute, type CompiledTcpRoute } from './table';
import { firstMatch, type ConnView } from './l4';
import type { RequestView, ResolvedDestination, RouteDecision, Router } from './types';

export { applyHeaderEdits, headerEdits, mergeHeaderOps } from './headerops';
export { mergePolicy, clusterName } from './destinations';

const NO_ROUTE: RouteDecision = Object.freeze({ kind: 'no-route' });

export function createRouter(config: MeshConfig): Router & { readonly regexErrors: readonly string[] } {
  return new MeshRouter(new RouteTables(config));
}

class MeshRouter implements Router {
  constructor(private readonly t: RouteTables) {}

  get regexErrors(): readonly string[] {
    return this.t.regexErrors;
  }

  route(service: Service, port: ServicePort, req: RequestView, random: () => number): RouteDecision {
    const cs = this.t.services.get(service.key);
    if (cs === undefined) return this.unknownService(service, port);
    const routes = cs.http;
    if (routes === undefined) return cs.passthrough.get(port.number) ?? this.passthrough(cs.dests, port);
    const end = pathEnd(req.path);
    const portNumber = port.number;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      const matches = r.matches;
      if (matches.length === 0) return this.decide(r, 1, port, req, random, end);
      for (let j = 0; j < matches.length; j++) {
        if (matches[j].test(req, portNumber, end)) return this.decide(r, matches[j].rewriteCut, port, req, random, end);
      }
    }
    return NO_ROUTE;
  }

  private decide(r: CompiledRoute, cut: number, port: ServicePort, req: RequestView, random: () => number, end: number): RouteDecision {
    if (r.kind === 'direct') return r.direct!;
    const route = r.route;
    if (r.kind === 'redirect') {
      return { kind: 'redirect', route, status: route.redirect!.status, location: redirectLocation(route.redirect!, req, end), headers: r.edits };
    }
    const table = r.forward.get(port.number) ?? forwardTable(route, port.number, (k) => this.dests(k));
    const d = pick(table, random);
    if (d === undefined) return NO_ROUTE; // a forward route always has a destination once validated
    if (!r.rewritesPath || d.kind !== 'forward') return d;
    const path = rewritePath(route, cut === -1 ? undefined : req.path.slice(0, cut), req.path);
    const authority = route.rewrite?.authority;
    return { ...d, rewrite: authority === undefined ? { path } : { path, authority } };
  }

  routeTcp(service: Service, port: ServicePort, random: () => number, conn: ConnView = NO_CONN): ResolvedDestination | undefined {
    const cs = this.t.services.get(service.key);
    if (cs === undefined) return new ServiceDestinations(service, this.t.rules.get(service.key)).get(port, undefined);
    // tls routes by SNI first, then tcp routes, then the service itself (Istio's filter chain order).
    const r = (conn.sni !== undefined ? firstRoute(cs.tls, conn, port.number) : undefined) ?? firstRoute(cs.tcp, conn, port.number);
    if (r !== undefined) return pick(r.byPort.get(port.number) ?? tcpTable(r.route, port.number, (k) => this.dests(k)), random);
    return cs.dests.get(port, undefined);
  }

  hasTlsRoutes(service: Service): boolean {
    return this.t.services.get(service.key)?.tls !== undefined;
  }

  destination(service: Service, port: ServicePort, subset: undefined): ResolvedDestination;
  destination(service: Service, port: ServicePort, subset: string | undefined): ResolvedDestination | undefined;
  destination(service: Service, port: ServicePort, subset: string | undefined): ResolvedDestination | undefined {
    const d = this.dests(service.key) ?? new ServiceDestinations(service, this.t.rules.get(service.key));
    return d.get(port, subset);
  }

  rateLimits(service: Service, port: number, route: HttpRoute | undefined): readonly LocalRateLimit[] {
    const cs = this.t.services.get(service.key);
    if (cs === undefined || cs.limits.length === 0) return EMPTY;
    const hit = cs.limitsByPort.get(port)?.get(route === undefined ? '' : route.name);
    return hit ?? selectLimits(cs.limits, port, route?.name);
  }

  hasHttpRoutes(service: Service): boolean {
    return this.t.services.get(service.key)?.http !== undefined;
  }

  private dests(key: string): ServiceDestinations | undefined {
    return this.t.services.get(key)?.dests;
  }

  private passthrough(d: ServiceDestinations, port: ServicePort): RouteDecision {
    return { kind: 'forward', route: undefined, to: d.get(port, undefined)!, weighted: undefined, headers: undefined, mirrors: EMPTY };
  }

  /** A service the config does not know (callers should not get here): forwarded as is. */
  private unknownService(service: Service, port: ServicePort): RouteDecision {
    return this.passthrough(new ServiceDestinations(service, this.t.rules.get(service.key)), port);
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

/** A connection the caller described no further: subnet and source conditions never hold for it. */
const NO_CONN: ConnView = Object.freeze({ sni: undefined, dst: '', sourceLabels: Object.freeze({}), sourceNamespace: '' });

function firstRoute(routes: readonly CompiledTcpRoute[] | undefined, conn: ConnView, port: number): CompiledTcpRoute | undefined {
  return routes === undefined ? undefined : firstMatch(routes, conn, port);
}

/**
 * The path after ROUTE's rewrite.uri (Istio/Envoy prefix_rewrite): MATCHED_PREFIX (the uri.prefix the
 * request matched, or "/" for an entry without a uri condition) is replaced; undefined (exact or regex
 * match) replaces the whole path. The query string is kept either way.
 */
export function rewritePath(route: HttpRoute, matchedPrefix: string | undefined, path: string): string {
  const uri = route.rewrite?.uri;
  if (uri === undefined) return path;
  if (matchedPrefix === undefined) return uri + path.slice(pathEnd(path));
  if (!path.startsWith(matchedPrefix) && path.slice(0, matchedPrefix.length).toLowerCase() !== matchedPrefix.toLowerCase()) return path;
  return uri + path.slice(matchedPrefix.length);
}

/**
 * Location of a redirect (Envoy RedirectAction): scheme (the redirect's, else the request's), authority
 * (the redirect's, else the request's) with redirect.port replacing its port, and the path: redirect.uri
 * keeping the request's query unless it has its own, else the request path as sent.
 */
export function redirectLocation(r: Redirect, req: RequestView, end = pathEnd(req.path)): string {
  const scheme = r.scheme ?? (req.scheme || 'http');
  let authority = r.authority ?? req.authority;
  if (r.port !== undefined) authority = `${stripPort(authority)}:${r.port}`;
  const path = r.uri === undefined ? req.path : r.uri.includes('?') ? r.uri : r.uri + req.path.slice(end);
  return `${scheme}://${authority}${path}`;
}

/** AUTHORITY without its port; IPv6 literals keep their brackets. */
function stripPort(authority: string): string {
  const colon = authority.lastIndexOf(':');
  return colon > authority.lastIndexOf(']') ? authority.slice(0, colon) : authority;
}
