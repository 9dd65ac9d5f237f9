// Which path an HTTP/1 request takes once its head is parsed. The raw fast path (exchange.ts) serves
// every forward decision it can do byte-for-byte: any match, weighted split, subset, load-balancing
// algorithm (hash keys included), outlier detection and route timeout. Anything that rewrites or
// replays the request (header ops, rewrites, retries, faults, mirrors), local answers, rate limits and
// connection-pool limits go to the protocol-neutral L7 engine instead.
import type { ClusterBalancer } from '../../balance/cluster';
import type { BalancerSet } from '../../balance/set';
import type { ConnContext, ServiceLookup } from '../../conn/context';
import type { ResolvedDestination, RouteDecision } from '../../route/types';
import { queryParam } from '../../proxy/hashkey';
import type { Head } from '../../codec/h1head';
import { H1RequestView } from './view';

export interface FastPlan {
  readonly kind: 'fast';
  readonly dest: ResolvedDestination;
  readonly balancer: ClusterBalancer;
  readonly hashKey: string | undefined;
  /** The route's timeout (0 = none); undefined = the listener's default request timeout. */
  readonly timeoutMs: number | undefined;
}

export interface EnginePlan {
  readonly kind: 'engine';
  readonly decision: RouteDecision;
  readonly view: H1RequestView;
}

export type H1Plan = FastPlan | EnginePlan;

export function planH1(index: ServiceLookup, balancers: BalancerSet, ctx: ConnContext, head: Head, random: () => number): H1Plan {
  const router = index.router;
  // Re-resolves the connection's service after a reload before routing on it.
  ctx.upstreams(index);
  const view = new H1RequestView(head, ctx);
  const decision = router.route(ctx.service, ctx.port, view, random);
  if (decision.kind !== 'forward') return { kind: 'engine', decision, view };
  const route = decision.route;
  const dest = decision.to;
  const policy = dest.policy;
  const lb = policy.loadBalancer;
  if (
    (route !== undefined &&
      (route.retries !== undefined || route.fault !== undefined || decision.mirrors.length > 0 || decision.headers !== undefined || decision.rewrite !== undefined)) ||
    policy.connectionPool !== undefined ||
    (lb !== undefined && 'consistentHash' in lb && 'cookie' in lb.consistentHash.key) ||
    router.rateLimits(ctx.service, ctx.port.number, route).length > 0
  ) {
    return { kind: 'engine', decision, view };
  }
  let hashKey: string | undefined;
  if (lb !== undefined && 'consistentHash' in lb) {
    const key = lb.consistentHash.key;
    hashKey = 'header' in key ? view.header(key.header) : 'sourceIp' in key ? ctx.peer.address : 'queryParameter' in key ? queryParam(view.path, key.queryParameter) : undefined;
  }
  return { kind: 'fast', dest, balancer: balancers.for(dest), hashKey, timeoutMs: route?.timeoutMs };
}
