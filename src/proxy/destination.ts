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
import type { AuthzDecision, AuthzRequest } from '../policy/authz';
import { decideAtDestination, type Caller } from '../policy/destination';
import { RetryBudget } from '../route/retry';
import type { ResolvedDestination, Router } from '../route/types';
import type { SourceInfo } from '../telemetry/labels';
import type { HttpStats } from '../telemetry/metrics';
import { defaultHost } from '../codec/headers';
import { BodyReader } from './body';
import type { Call } from './call';
import type { Forward } from './forward';
import type { Admission } from './engine';

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
}

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
    const v = decideAtDestination((r) => s.authorize(r), s.caller, s.target, req);
    if (v.kind === 'deny') {
      log.debug({ principal: s.caller.principal, target: s.target, path: req.path, policy: v.decision.policy, reason: v.decision.reason }, 'request denied');
      return call.local(v.status, v.body, v.flag);
    }
    this.forward(call, s);
  }

  private forward(call: Call, s: DestinationStream): void {
    const req = call.req;
    const { dest, balancer } = s.route;
    // Headers pass as received (the source agent added its fields already); a request without a host
    // gets the pod's address, as an HTTP client addressing it would send.
    const authority = req.authority !== '' ? req.authority : defaultHost(undefined, s.target.port, s.target.address);
    const fwd: Forward = {
      dest,
      cb: balancer,
      route: undefined,
      head: { method: req.method, path: req.path, authority, headers: req.headers() },
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
