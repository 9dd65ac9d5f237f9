// Traffic management as validated config: Istio VirtualService and DestinationRule, and nodemesh's
// LocalRateLimit. Everything here is plain frozen data, resolved against the services at load time
// (hosts → service keys, subsets → label selectors), so the deciders never look a name up per request.
// Durations are milliseconds; percentages are 0..100 (fractions allowed).

/** Istio StringMatch: exactly one of exact / prefix / regex (RE2 syntax, matched in linear time). */
export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly regex: string };

/** One entry of http[].match; every given condition must hold (an empty match matches everything). */
export interface HttpMatch {
  readonly name?: string;
  /** Matched against the path without the query string. */
  readonly uri?: StringMatch;
  readonly scheme?: StringMatch;
  readonly method?: StringMatch;
  /** :authority / Host, as sent (port included when the client sent one). */
  readonly authority?: StringMatch;
  /** Lower-cased header names. `{}` as the match (Istio: present with any value) is `{ regex: '.*' }`. */
  readonly headers?: Readonly<Record<string, StringMatch>>;
  readonly queryParams?: Readonly<Record<string, StringMatch>>;
  /** The request matches only when none of these headers match (absent headers do not match). */
  readonly withoutHeaders?: Readonly<Record<string, StringMatch>>;
  /** The service port the client connected to. */
  readonly port?: number;
  /** uri exact/prefix compare case-insensitively. */
  readonly ignoreUriCase?: boolean;
  /** Istio sourceLabels: labels of the client workload. */
  readonly sourceLabels?: Readonly<Record<string, string>>;
  /** Istio sourceNamespace. */
  readonly sourceNamespace?: string;
}

/** Header manipulation (Istio Headers.HeaderOperations); names lower-cased. */
export interface HeaderOps {
  readonly set?: Readonly<Record<string, string>>;
  readonly add?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

export interface HeaderRules {
  readonly request?: HeaderOps;
  readonly response?: HeaderOps;
}

/** A route destination resolved to a configured service. */
export interface Destination {
  /** The host as written (for logs and the access log's upstream_cluster). */
  readonly host: string;
  /** Service.key of the service the host resolved to. */
  readonly service: string;
  readonly subset?: string;
  /** Service port number; undefined = the port the client connected to. */
  readonly port?: number;
}

export interface WeightedDestination {
  readonly destination: Destination;
  /** Relative weight (Istio normalises: 60 and 30 are 2/3 and 1/3); one destination alone: 100. */
  readonly weight: number;
  readonly headers?: HeaderRules;
}

/** Istio retryOn conditions nodemesh implements (Envoy names plus gRPC status names). */
export type RetryOn =
  | '5xx'
  | 'gateway-error'
  | 'reset'
  | 'connect-failure'
  | 'refused-stream'
  | 'retriable-4xx'
  | 'retriable-status-codes'
  | 'cancelled'
  | 'deadline-exceeded'
  | 'internal'
  | 'resource-exhausted'
  | 'unavailable';

export interface RetryPolicy {
  /** Retries after the first try (Istio `attempts`); 0 disables retries. */
  readonly attempts: number;
  /** Per try; undefined = the route timeout bounds all tries together. */
  readonly perTryTimeoutMs?: number;
  readonly retryOn: readonly RetryOn[];
  /** Status codes for `retriable-status-codes` (Istio accepts them as bare numbers in retryOn). */
  readonly retriableStatusCodes: readonly number[];
  /** Envoy's default backoff: base 25 ms, max 10× base, full jitter. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface FaultPolicy {
  readonly delay?: { readonly fixedDelayMs: number; readonly percent: number };
  /** httpStatus, or a gRPC status code (0..16) for gRPC requests (answered as a trailers-only response). */
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly percent: number };
}

export interface MirrorPolicy {
  readonly destination: Destination;
  /** Share of requests mirrored; Istio's default is 100. */
  readonly percent: number;
}

export interface Redirect {
  readonly uri?: string;
  readonly authority?: string;
  readonly scheme?: string;
  readonly port?: number;
  /** 301 by default, as in Istio. */
  readonly status: number;
}

export interface DirectResponse {
  readonly status: number;
  readonly body?: string;
}

export interface Rewrite {
  /** Replaces the matched uri prefix (or the whole path for exact/regex matches). */
  readonly uri?: string;
  readonly authority?: string;
}

export interface HttpRoute {
  /** Route name (Istio http[].name), or `${vs name}.${index}` when unnamed; rate limits refer to it. */
  readonly name: string;
  /** Empty = matches every request. */
  readonly match: readonly HttpMatch[];
  /** Exactly one of route / redirect / directResponse is set. */
  readonly route?: readonly WeightedDestination[];
  readonly redirect?: Redirect;
  readonly directResponse?: DirectResponse;
  readonly rewrite?: Rewrite;
  readonly timeoutMs?: number;
  readonly retries?: RetryPolicy;
  readonly fault?: FaultPolicy;
  readonly mirrors: readonly MirrorPolicy[];
  readonly headers?: HeaderRules;
}

/** A tcp[].match entry (Istio L4MatchAttributes); every given condition must hold. */
export interface L4Match {
  /** The service port the client connected to. */
  readonly port?: number;
  /** IPv4 addresses or CIDRs, one of which must hold the address the client dialled (the service VIP). */
  readonly destinationSubnets?: readonly string[];
  readonly sourceLabels?: Readonly<Record<string, string>>;
  readonly sourceNamespace?: string;
}

/** A tls[].match entry (Istio TLSMatchAttributes): the ClientHello's SNI must match one of sniHosts. */
export interface TlsMatch extends L4Match {
  /** Lower-cased names; `*.example.com` matches any name below example.com, `*` every name. */
  readonly sniHosts: readonly string[];
}

export interface TcpRoute {
  /** Empty = every connection; else a connection matches when one entry matches. */
  readonly match: readonly L4Match[];
  readonly route: readonly WeightedDestination[];
}

/** TLS passed through unchanged, routed by the ClientHello's server name. */
export interface TlsRoute {
  /** At least one entry (Istio requires it). */
  readonly match: readonly TlsMatch[];
  readonly route: readonly WeightedDestination[];
}

export interface VirtualService {
  readonly name: string;
  readonly namespace: string;
  /** Keys of the services whose traffic this VirtualService routes (its hosts, resolved). */
  readonly services: readonly string[];
  readonly http: readonly HttpRoute[];
  readonly tcp: readonly TcpRoute[];
  /** TLS routes by SNI; absent = none. */
  readonly tls?: readonly TlsRoute[];
}

// ---- DestinationRule --------------------------------------------------------------------------

export type SimpleLb = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH' | 'PEAK_EWMA';

export type HashKey =
  | { readonly header: string }
  /** ttlMs: the cookie is issued (Set-Cookie) when the request has none; 0 = session cookie. */
  | { readonly cookie: { readonly name: string; readonly path?: string; readonly ttlMs: number } }
  | { readonly sourceIp: true }
  | { readonly queryParameter: string };

export interface ConsistentHash {
  readonly key: HashKey;
  readonly algorithm: 'RING_HASH' | 'MAGLEV';
  /** Ring entries (ring hash; Envoy default 1024) or table size (maglev; prime, default 65537). */
  readonly size: number;
}

/** PEAK_EWMA is nodemesh's extension, set by the annotation `nodemesh.io/load-balancer: PEAK_EWMA`. */
export type LoadBalancer = ({ readonly simple: SimpleLb } | { readonly consistentHash: ConsistentHash }) & {
  readonly locality?: LocalityLbSetting;
  /** Slow start of new endpoints (ROUND_ROBIN and LEAST_REQUEST only; balance/warmup.ts). */
  readonly warmup?: Warmup;
};

/** loadBalancer.warmup, or warmupDurationSecs with the defaults. */
export interface Warmup {
  readonly durationMs: number;
  /** Least share of its full weight a new endpoint gets, in percent (default 10). */
  readonly minimumPercent: number;
  /** 1 (default): linear ramp; higher: faster early on. */
  readonly aggression: number;
}

/**
 * loadBalancer.localityLbSetting (balance/locality.ts decides with it). Localities are
 * "region/zone/subzone"; `*` matches any value of a component, and a shorter pattern its prefix.
 */
export interface LocalityLbSetting {
  /** false turns locality balancing off for this policy; absent = on (Istio's mesh default). */
  readonly enabled?: boolean;
  /** From one region to another (regions only), when the agent is in FROM. */
  readonly failover: readonly { readonly from: string; readonly to: string }[];
  /** Label keys in order: endpoints sharing more leading labels with the agent come first. */
  readonly failoverPriority: readonly string[];
  /** From a locality pattern: percentages (summing to 100) by destination locality pattern. */
  readonly distribute: readonly { readonly from: string; readonly to: Readonly<Record<string, number>> }[];
}

export interface ConnectionPool {
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  readonly http1MaxPendingRequests?: number;
  readonly http2MaxRequests?: number;
  readonly maxRequestsPerConnection?: number;
  readonly maxRetries?: number;
  /** http.useClientProtocol: true: the upstream speaks the client's protocol (h2UpgradePolicy has no effect). */
  readonly useClientProtocol?: true;
  /** http.h2UpgradePolicy UPGRADE: HTTP/1 clients go upstream as h2c; absent = DO_NOT_UPGRADE (and DEFAULT). */
  readonly h2Upgrade?: true;
}

export interface OutlierDetection {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  /** Envoy default 10 s. */
  readonly intervalMs: number;
  /** Envoy default 30 s; an endpoint ejected N times stays out N × this. */
  readonly baseEjectionTimeMs: number;
  /** Envoy default 10. */
  readonly maxEjectionPercent: number;
  /** Istio default 0: below this share of healthy endpoints, ejection is ignored (panic). */
  readonly minHealthPercent: number;
}

/**
 * DestinationRule `tls` (Istio ClientTLSSettings): how the agent connects to the endpoints. SIMPLE and
 * MUTUAL originate TLS (files are paths on the agent's node, read again when they change); DISABLE and
 * ISTIO_MUTUAL originate nothing (agents always use mutual TLS between nodes).
 */
export interface ClientTls {
  readonly mode: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  /** A Kubernetes Secret with the certificates instead of files (Kubernetes discovery reads it). */
  readonly credential?: { readonly namespace: string; readonly name: string };
  readonly sni?: string;
  /** The server certificate must carry one of these SANs; empty = its SANs must match the SNI name. */
  readonly subjectAltNames?: readonly string[];
  readonly insecureSkipVerify?: boolean;
}

/** A fully merged policy for one (service, subset, port): what the balancer and upstream apply. */
export interface TrafficPolicy {
  readonly loadBalancer?: LoadBalancer;
  readonly connectionPool?: ConnectionPool;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTls;
}

export interface PortTrafficPolicy extends TrafficPolicy {
  readonly port: number;
}

export interface Subset {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly trafficPolicy?: TrafficPolicy;
  readonly portLevel: readonly PortTrafficPolicy[];
}

export interface DestinationRule {
  readonly name: string;
  readonly namespace: string;
  readonly host: string;
  /** Key of the service the host resolved to. */
  readonly service: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly portLevel: readonly PortTrafficPolicy[];
  readonly subsets: readonly Subset[];
}

// ---- nodemesh.io/v1alpha1 LocalRateLimit ------------------------------------------------------

export interface LocalRateLimit {
  readonly name: string;
  readonly namespace: string;
  /** Key of the destination service. */
  readonly service: string;
  /** Only this service port; undefined = all. */
  readonly port?: number;
  /** Only requests routed by this VirtualService http route (HttpRoute.name); undefined = all. */
  readonly route?: string;
  /** Envoy's token bucket: starts full, adds tokensPerFill every fillIntervalMs up to maxTokens. */
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  /** One bucket per value of this key; undefined = one bucket for all requests. */
  readonly perKey?: { readonly sourcePrincipal: true } | { readonly header: string };
}

export interface TrafficConfig {
  readonly virtualServices: readonly VirtualService[];
  readonly destinationRules: readonly DestinationRule[];
  readonly rateLimits: readonly LocalRateLimit[];
  /** nodemesh.io/v1alpha1 HealthChecks, sorted by namespace/name; absent = none. */
  readonly healthChecks?: readonly HealthCheck[];
}

// ---- nodemesh.io/v1alpha1 HealthCheck --------------------------------------------------------

/** Active health checking of a service's endpoints (balance/probe.ts judges, upstream/prober.ts probes). */
export interface HealthCheck {
  readonly name: string;
  readonly namespace: string;
  /** Key of the service whose endpoints are probed. */
  readonly service: string;
  /** Only endpoints of this DestinationRule subset (its labels); undefined = all. */
  readonly subset?: string;
  readonly subsetLabels?: Readonly<Record<string, string>>;
  /** The service port whose endpoint port is probed; undefined = the service's first port. */
  readonly port?: number;
  /** An HTTP/1.1 GET of PATH, healthy when the status is in EXPECTED; or a TCP connect. */
  readonly check: { readonly http: { readonly path: string; readonly expectedStatuses: readonly number[] } } | { readonly tcp: true };
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

export const EMPTY_TRAFFIC: TrafficConfig = Object.freeze({ virtualServices: [], destinationRules: [], rateLimits: [] });
