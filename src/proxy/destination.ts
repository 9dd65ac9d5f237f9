// The engine on the destination side of the mesh tunnel. A tunnel stream names one local pod and carries
// the caller's verified identity; each request on it (HTTP/1 or h2, from the same adapters the source
// side uses) is admitted by authorization alone, then delivered to exactly that pod through the
// engine's transports and recorded by the engine's one record path with reporter="destination" labels.
// No routing, rate limits, faults or breakers here: the source agent applied them already.
import type { Addr } from '../capture/types';
import { Breaker } from '../balance/breaker';
import { ClusterBalancer, type BalancerPick, type ClusterShared } from '../balance/cluster';
import { HealthTable } from '../balance/health';
import { DEFAULT_EWMA } from '../balance/load';
import type { Target } from '../balance/target';
import type { Endpoint, Service, ServicePort } from '../config/model';
import { ConnContext, type ServiceLookup } from '../conn/context';
import { logger } from '../log';
import type { JwtRule } from '../config/model';
import type { AuthzDecision, AuthzRequest } from '../policy/authz';
import { decideAtDestination, remoteAddress, type Caller } from '../policy/destination';
import { authenticate, type AuthnOutcome, type KeysFor } from '../policy/jwt';
import type { RequestAuth } from '../policy/match';
import { securityMetrics } from '../telemetry/security';
import { CATALOG } from '../errors';
import type { HeaderList } from './types';
import { RetryBudget } from '../route/retry';
import type { ResolvedDestination, Router } from '../route/types';
import type { SourceInfo } from '../telemetry/labels';
import type { HttpStats } from '../telemetry/metrics';
import { defaultHost } from '../codec/headers';
import { BodyReader } from './body';
import type { Call } from './call';
import type { Forward } from './forward';
import type { Admission } from './engine';
import { applyTraceEdits } from '../telemetry/tracecontext';
import { currentTracing } from '../telemetry/tracing';

const log = logger('l7');

/** No policy of a DestinationRule applies on this side (the source side's cluster had it). */
const NO_POLICY = Object.freeze({});

/** Pinned balancers keep no health and no load: what they share is never consulted. */
const PINNED_SHARED: ClusterShared = { health: new HealthTable(), now: () => performance.now(), random: Math.random, ewma: DEFAULT_EWMA, onEject: undefined };

/**
 * The only pick of a destination stream: the pod it names. Call (call.ts) tries through a cluster
 * balancer; this one never balances and judges no health (a pod refusing is answered 503 UF, and the
 * source side's balancer is the one that learns from it).
 */
class PinnedBalancer extends ClusterBalancer {
  private readonly only: BalancerPick;

  constructor(dest: ResolvedDestination, target: Target) {
    super(dest, new Breaker(dest.cluster, undefined), PINNED_SHARED);
    this.only = Object.freeze({ kind: 'pick', target, panic: false });
  }

  override pick(): BalancerPick {
    return this.only;
  }

  override report(): boolean {
    return false;
  }
}

/** Where a destination stream's requests go: Envoy's inbound cluster for the pod port, and the pod. */
export interface PinnedRoute {
  readonly dest: ResolvedDestination;
  readonly target: Target;
  readonly balancer: ClusterBalancer;
}

/** The route to the pod at ADDR, serving SERVICE's PORT as ENDPOINT. */
export function pinRoute(service: Service, port: ServicePort, endpoint: Endpoint | undefined, addr: Addr): PinnedRoute {
  const dest: ResolvedDestination = { service, port, subset: undefined, policy: NO_POLICY, subsetLabels: undefined, cluster: `inbound|${addr.port}||` };
  const target: Target = { addr, key: `${addr.address}:${addr.port}`, endpoint, service, port };
  return { dest, target, balancer: new PinnedBalancer(dest, target) };
}

const notRouting = (): never => {
  throw new Error('the destination side does not route');
};

/**
 * The destination engine looks nothing up: no VIP is resolved and the pinned balancer ignores endpoint
 * lists. Its router is never asked (the destination admission does not route; a call would be a bug).
 */
export const DESTINATION_LOOKUP: ServiceLookup = Object.freeze({
  byVip: () => undefined,
  upstreams: () => [],
  router: Object.freeze<Router>({ route: notRouting, routeTcp: notRouting, destination: notRouting, rateLimits: notRouting, hasHttpRoutes: notRouting }),
});

export interface DestinationStream {
  /** The pod the stream names (Envoy's downstream local address on this side). */
  readonly target: Addr;
  /** The client: its workload's address and port when believed, else the peer agent's. */
  readonly peer: Addr;
  readonly source: SourceInfo;
  readonly caller: Caller;
  readonly route: PinnedRoute;
  /** The destination workload's policies decide (Istio order); re-read per request so reloads apply. */
  authorize(req: AuthzRequest): AuthzDecision;
  /** The reporter="destination" stats handle of a request (gRPC or HTTP), cached by the listener. */
  stats(grpc: boolean): HttpStats;
  /** Request authentication and the client address; absent = no JWT rules, no trusted proxies. */
  readonly security?: StreamSecurity;
}

/** What the destination needs for RequestAuthentication and remoteIpBlocks. */
export interface StreamSecurity {
  /** The destination workload's JWT rules (its RequestAuthentications), re-read per request. */
  jwtRules(): readonly JwtRule[];
  readonly keysFor: KeysFor;
  /** Fetches RULE's jwksUri again (no keys yet, or a token's kid is not in them). */
  refresh(rule: JwtRule): Promise<void>;
  /** Proxies in front of the clients (--trusted-proxies): how far from the right X-Forwarded-For is read. */
  readonly trustedProxies: number;
}

type PassEdits = Extract<AuthnOutcome, { kind: 'pass' }>;

/**
 * The connection context of one tunnel stream: what the adapters and the engine read from any client
 * connection, plus the caller, the pinned route and the destination side's own request stats.
 */
export class DestinationContext extends ConnContext {
  constructor(readonly stream: DestinationStream) {
    super(stream.target, stream.peer, stream.source, DESTINATION_LOOKUP, { service: stream.route.dest.service, port: stream.route.dest.port });
    this.cluster = stream.route.dest.cluster;
  }

  /** Every request of the stream goes to its one pod: the labels do not depend on the service or target. */
  override requestStats(_metrics: unknown, grpc: boolean): HttpStats {
    return this.stream.stats(grpc);
  }
}

/** Authorize, then deliver to the stream's pod: the destination side's whole admission. */
export class DestinationAdmission implements Admission {
  // Never asked to allow a retry (no retry policy applies here); it only counts active requests.
  private readonly budget = new RetryBudget({});

  admit(call: Call): void {
    const { req, ctx } = call;
    if (!(ctx instanceof DestinationContext)) throw new Error('destination admission without a tunnel stream');
    const s = ctx.stream;
    call.requestId = req.header('x-request-id') ?? null;
    // The pod's workload decides its Telemetry (destination side); its span is the source span's child.
    call.trace = (call.p.tracing ?? currentTracing()).begin((n) => req.header(n), 'SERVER', s.route.target.endpoint);
    const rules = s.security?.jwtRules() ?? [];
    if (rules.length === 0) return this.authorize(call, s, undefined);
    // Authentication runs right before authorization; verifying awaits jose (and maybe a key fetch).
    this.authenticate(call, s, s.security!, rules).catch((err: unknown) => call.bug(err));
  }

  private async authenticate(call: Call, s: DestinationStream, sec: StreamSecurity, rules: readonly JwtRule[]): Promise<void> {
    const src = { header: (n: string) => call.req.header(n), path: call.req.path };
    const now = Date.now() / 1000;
    let out = await authenticate(rules, src, sec.keysFor, now);
    if (out.kind === 'refresh') {
      await Promise.all(out.rules.map((r) => sec.refresh(r)));
      out = await authenticate(rules, src, sec.keysFor, now, true);
    }
    if (call.finished) return;
    if (out.kind === 'refresh') throw new Error('request authentication asked for keys twice');
    if (out.kind === 'deny') {
      log.debug({ code: CATALOG.JWT_INVALID.code, principal: s.caller.principal, target: s.target, path: call.req.path, issuer: out.issuer, reason: out.body, cause: out.cause }, 'request authentication failed');
      return call.local(out.status, out.body, undefined, [['www-authenticate', 'Bearer realm="mesh", error="invalid_token"']]);
    }
    this.authorize(call, s, out);
  }

  private authorize(call: Call, s: DestinationStream, authn: PassEdits | undefined): void {
    const req = call.req;
    const auth: RequestAuth | undefined = authn?.auth;
    const remoteIp = remoteAddress(req.header('x-forwarded-for'), s.security?.trustedProxies ?? 0, s.caller.ip);
    const v = decideAtDestination((r) => s.authorize(r), s.caller, s.target, req, { auth, remoteIp });
    if (v.decision.dryRun !== undefined) {
      const m = securityMetrics(call.p.metrics.registry);
      for (const d of v.decision.dryRun) {
        m.dryRun.inc({ policy: d.policy, result: d.result });
        log.info({ policy: d.policy, action: d.action, matched: d.matched, result: d.result, principal: s.caller.principal, target: s.target, path: req.path }, 'dry-run policy evaluated');
      }
    }
    if (v.kind === 'deny') {
      log.debug({ principal: s.caller.principal, target: s.target, path: req.path, policy: v.decision.policy, reason: v.decision.reason }, 'request denied');
      return call.local(v.status, v.body, v.flag);
    }
    this.forward(call, s, authn);
  }

  private forward(call: Call, s: DestinationStream, authn?: PassEdits): void {
    const req = call.req;
    const { dest, balancer } = s.route;
    // Headers pass as received (the source agent added its fields already); a request without a host
    // gets the pod's address, as an HTTP client addressing it would send.
    const authority = req.authority !== '' ? req.authority : defaultHost(undefined, s.target.port, s.target.address);
    const fwd: Forward = {
      dest,
      cb: balancer,
      route: undefined,
      head: { method: req.method, path: req.path, authority, headers: applyTraceEdits(authn === undefined ? req.headers() : edited(req.headers(), authn), call.trace?.edits), upgrade: req.upgrade },
      // The source agent chose the protocol the tunnel carries: the pod gets the request in it.
      h2: req.protocol === 'HTTP/2',
      responseEdits: undefined,
      hashKey: undefined,
      setCookie: undefined,
      budget: this.budget,
    };
    fwd.budget.requestStarted();
    // An HTTP/2 request that ended with its headers has nothing to read (as on the source side).
    const empty = req.bodyless && req.protocol === 'HTTP/2';
    const body = new BodyReader(req, () => req.trailers(), 0, call, empty);
    // No route timeout and no grpc-timeout deadline of this side's own: the source side keeps them.
    call.forward(fwd, body, 0, undefined);
  }
}

/** The forwarded fields after authentication: token headers dropped (unless forwarded), outputs set. */
function edited(headers: HeaderList, authn: PassEdits): HeaderList {
  if (authn.remove.length === 0 && authn.set.length === 0) return headers;
  const drop = new Set([...authn.remove, ...authn.set.map(([k]) => k)]);
  return [...headers.filter(([k]) => !drop.has(k)), ...authn.set];
}
