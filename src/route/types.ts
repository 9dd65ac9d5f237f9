// The request view the deciders read, and what the router decides. HTTP/1 (on the parsed head), HTTP/2 and
// gRPC all present a request as a RequestView, so routing, rate limiting and hashing are written once.
import type { Service, ServicePort } from '../config/model';
import type { HttpRoute, LocalRateLimit, TrafficPolicy, WeightedDestination } from '../config/traffic';
import type { ConnView } from './l4';

export interface RequestView {
  readonly method: string;
  /** Request target as sent: path plus query (origin form). */
  readonly path: string;
  /** Host / :authority as sent; '' when absent. */
  readonly authority: string;
  /** 'http' (nodemesh sees plaintext only). */
  readonly scheme: string;
  /** First value of a header; NAME is lower-case. */
  header(name: string): string | undefined;
  /** Client address (for consistentHash useSourceIp). */
  readonly sourceIp: string;
  /** Client workload: labels and namespace (match.sourceLabels / sourceNamespace), principal (rate limit keys). */
  readonly sourceLabels: Readonly<Record<string, string>>;
  readonly sourceNamespace: string;
  readonly sourcePrincipal: string;
}

/** A destination resolved for this request: the service and port to balance over, and the policy to apply. */
export interface ResolvedDestination {
  readonly service: Service;
  readonly port: ServicePort;
  readonly subset: string | undefined;
  /** Merged DestinationRule policy for (service, subset, port); {} when none applies. */
  readonly policy: TrafficPolicy;
  /** Endpoint label selector of the subset; undefined = all endpoints. */
  readonly subsetLabels: Readonly<Record<string, string>> | undefined;
  /** Access log / metrics cluster name: outbound|PORT|SUBSET|HOST. */
  readonly cluster: string;
}

/**
 * Header edits for one direction, precomputed per (route, destination): route-level ops merged with the
 * destination's (the destination wins on `set`). Apply in this order, as Envoy does: remove, then set
 * (replace every value), then add (append). Names are lower-case.
 */
export interface HeaderEdits {
  readonly remove: readonly string[];
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
}

/** Request and response edits; a direction is undefined when it has nothing to do. */
export interface RouteHeaderEdits {
  readonly request: HeaderEdits | undefined;
  readonly response: HeaderEdits | undefined;
}

/** A mirror target resolved for the request's port; the executor draws PERCENT itself. */
export interface ResolvedMirror {
  readonly to: ResolvedDestination;
  readonly percent: number;
}

/** The path and authority to send upstream, when the route rewrites them (absent field = unchanged). */
export interface Rewritten {
  /** Rewritten path, query string kept. */
  readonly path?: string;
  readonly authority?: string;
}

/**
 * What to do with one HTTP request. `route` is undefined when no VirtualService covers the service.
 * Decisions are shared, frozen objects (except forward decisions of routes that rewrite the path): never
 * mutate one.
 */
export type RouteDecision =
  | {
      readonly kind: 'forward';
      readonly route: HttpRoute | undefined;
      readonly to: ResolvedDestination;
      readonly weighted: WeightedDestination | undefined;
      readonly rewrite?: Rewritten;
      readonly headers: RouteHeaderEdits | undefined;
      /** Mirrors of the route whose destination resolved; empty when none. */
      readonly mirrors: readonly ResolvedMirror[];
    }
  | { readonly kind: 'redirect'; readonly route: HttpRoute; readonly status: number; readonly location: string; readonly headers: RouteHeaderEdits | undefined }
  /**
   * A direct response; also the answer (503, no body) when the chosen destination does not resolve to a
   * port of a configured service or to a defined subset (Envoy: 503, flag NC).
   */
  | {
      readonly kind: 'direct';
      readonly route: HttpRoute;
      readonly status: number;
      readonly body: string | undefined;
      readonly headers: RouteHeaderEdits | undefined;
      /** Set on the 503 for a destination that does not resolve (access log flag NC). */
      readonly noCluster?: true;
    }
  /** A VirtualService covers the service but no route matched: Envoy answers 404 with flag NR. */
  | { readonly kind: 'no-route' };

/** Router over one config: built once per reload, consulted per request (pure; randomness injected). */
export interface Router {
  /** HTTP routing for a request that arrived at SERVICE:PORT. `random` returns [0, 1). */
  route(service: Service, port: ServicePort, req: RequestView, random: () => number): RouteDecision;
  /**
   * Connection routing: VirtualService tls routes by CONN's SNI, then tcp routes, else the service's
   * own port. Without CONN only port conditions can hold.
   */
  routeTcp(service: Service, port: ServicePort, random: () => number, conn?: ConnView): ResolvedDestination | undefined;
  /** True when a VirtualService routes SERVICE's TLS by SNI (the listener then reads the ClientHello). */
  hasTlsRoutes?(service: Service): boolean;
  /**
   * Merged policy for (service, subset, port) (also for traffic without a VirtualService). Undefined only
   * for a subset the service's DestinationRule does not define (Istio: no such cluster).
   */
  destination(service: Service, port: ServicePort, subset: undefined): ResolvedDestination;
  destination(service: Service, port: ServicePort, subset: string | undefined): ResolvedDestination | undefined;
  /** Rate limits that apply to a request routed to SERVICE:PORT by ROUTE (route undefined = no VirtualService). */
  rateLimits(service: Service, port: number, route: HttpRoute | undefined): readonly LocalRateLimit[];
  /** True when a VirtualService routes SERVICE's HTTP traffic (else the router is a pass-through). */
  hasHttpRoutes(service: Service): boolean;
}
