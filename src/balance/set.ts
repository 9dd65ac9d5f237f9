// Balancers per (service, port), sharing one passive-health table keyed by endpoint address:port, and
// cluster balancers per ResolvedDestination (subset, DestinationRule policy: algorithm, outlier
// detection, connection-pool breaker). A balancer rebuilds its targets only when the upstream list
// actually changes (reload), keeping its cursor, so round-robin stays fair across reloads and targets
// keep their identity (metric caches).
import type { Addr } from '../capture/types';
import type { Service, ServicePort } from '../config/model';
import type { ResolvedDestination } from '../route/types';
import { Breakers } from './breaker';
import { ClusterBalancer, NO_PICK, sameLabels, type BalancerPick, type ClusterShared, type EjectionEvent } from './cluster';
import { HealthTable, type HealthOptions } from './health';
import { DEFAULT_EWMA, type EwmaOptions } from './load';
import { pickRoundRobin } from './picker';
import { buildTargets, type Target } from './target';

export { buildTargets, type BalancerPick, type Target };

const NONE = NO_PICK;

export interface BalancerSetOptions {
  readonly health?: Partial<HealthOptions>;
  /** Clock in ms; injectable for tests. */
  readonly now?: () => number;
  /** [0, 1); injectable for tests. */
  readonly random?: () => number;
  /** Peak-EWMA tuning. */
  readonly ewma?: Partial<EwmaOptions>;
  /** Called on each outlier ejection (the caller counts nodemesh_outlier_ejections_total). */
  readonly onEject?: (e: EjectionEvent) => void;
}

export class Balancer {
  private cursor = 0;
  private targets: readonly Target[] = [];
  /** The non-panic pick of each target, made once per refresh. */
  private picks: readonly BalancerPick[] = [];
  private source: readonly Addr[] | undefined;
  private service: Service | undefined;

  constructor(private readonly set: BalancerSet) {}

  pick(service: Service, port: ServicePort, upstreams: readonly Addr[]): BalancerPick {
    if (upstreams !== this.source || service !== this.service) this.refresh(service, port, upstreams);
    const targets = this.targets;
    const health = this.set.health;
    const n = targets.length;
    if (health.empty && n > 0) {
      // Per-request fast path: every endpoint healthy, plain round robin without allocating.
      const i = this.cursor % n;
      this.cursor = (i + 1) % n;
      return this.picks[i]!;
    }
    let r;
    if (health.empty) r = pickRoundRobin(n, this.cursor);
    else {
      const now = this.set.now();
      r = pickRoundRobin(targets.length, this.cursor, (i) => health.isHealthy(targets[i]!.key, now));
    }
    if (r.kind === 'none') return NONE;
    this.cursor = r.next;
    return { kind: 'pick', target: targets[r.index]!, panic: r.panic };
  }

  /** Current targets (after the last pick's refresh); for stats and tests. */
  list(): readonly Target[] {
    return this.targets;
  }

  private refresh(service: Service, port: ServicePort, upstreams: readonly Addr[]): void {
    const same =
      service === this.service &&
      upstreams.length === this.targets.length &&
      upstreams.every((a, i) => a.address === this.targets[i]!.addr.address && a.port === this.targets[i]!.addr.port);
    this.source = upstreams;
    if (same) return;
    this.service = service;
    this.targets = buildTargets(service, port, upstreams);
    this.picks = this.targets.map((target) => Object.freeze({ kind: 'pick', target, panic: false }));
  }
}

export class BalancerSet {
  readonly health: HealthTable;
  readonly now: () => number;
  readonly random: () => number;
  readonly breakers = new Breakers();
  private readonly balancers = new Map<string, Balancer>();
  private readonly clusters = new Map<string, ClusterBalancer>();
  private readonly shared: ClusterShared;

  constructor(opts: BalancerSetOptions = {}) {
    this.health = new HealthTable(opts.health);
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.shared = {
      health: this.health,
      now: this.now,
      random: this.random,
      ewma: { ...DEFAULT_EWMA, ...opts.ewma },
      onEject: opts.onEject,
    };
  }

  /** The balancer for a service port (no subset, no DestinationRule); reuse it for a connection. */
  for(service: Service, port: ServicePort): Balancer;
  /**
   * The balancer of a routed destination's cluster; call per request (cheap: one map lookup). A new
   * policy object (reload) builds a new one that takes over the old one's endpoint state.
   */
  for(dest: ResolvedDestination): ClusterBalancer;
  for(a: Service | ResolvedDestination, port?: ServicePort): Balancer | ClusterBalancer {
    if (port === undefined) return this.cluster(a as ResolvedDestination);
    const service = a as Service;
    const key = `${service.key}:${port.number}`;
    let b = this.balancers.get(key);
    if (b === undefined) {
      b = new Balancer(this);
      this.balancers.set(key, b);
    }
    return b;
  }

  private cluster(dest: ResolvedDestination): ClusterBalancer {
    const prev = this.clusters.get(dest.cluster);
    if (prev !== undefined) {
      const d = prev.dest;
      if (d.policy === dest.policy && d.service === dest.service && d.port === dest.port && sameLabels(d.subsetLabels, dest.subsetLabels)) return prev;
    }
    const breaker = this.breakers.breakerFor(dest.cluster, dest.policy.connectionPool);
    const cb = new ClusterBalancer(dest, breaker, this.shared, prev);
    this.clusters.set(dest.cluster, cb);
    return cb;
  }

  pick(service: Service, port: ServicePort, upstreams: readonly Addr[]): BalancerPick {
    return this.for(service, port).pick(service, port, upstreams);
  }

  /** A connect failure (refused, unreachable, connect timeout). True when it ejected the endpoint. */
  reportFailure(target: Target): boolean {
    return this.health.markFailure(target.key, this.now());
  }

  reportSuccess(target: Target): void {
    if (!this.health.empty) this.health.markSuccess(target.key);
  }

  isHealthy(target: Target): boolean {
    return this.health.isHealthy(target.key, this.now());
  }

  /**
   * Drops state no longer configured (call after a reload): balancers of service ports that are gone,
   * and cluster balancers and breakers whose service port is gone or, when `clusters` is given (the
   * live cluster names: the router's destination(...).cluster for each service port and subset), whose
   * name is not in it.
   */
  retain(services: readonly Service[], clusters?: Iterable<string>): void {
    const live = new Set<string>();
    for (const s of services) for (const p of s.ports) live.add(`${s.key}:${p.number}`);
    for (const key of this.balancers.keys()) if (!live.has(key)) this.balancers.delete(key);
    const names = clusters === undefined ? undefined : new Set(clusters);
    const keep = new Set<string>();
    for (const [name, cb] of this.clusters) {
      const alive = live.has(`${cb.dest.service.key}:${cb.dest.port.number}`) && (names === undefined || names.has(name));
      if (alive) keep.add(name);
      else this.clusters.delete(name);
    }
    // Breakers exist only with a cluster balancer, so they follow the same verdict.
    this.breakers.retain((name) => keep.has(name));
  }

  /** The cluster balancer last built for a cluster name (stats and tests). */
  clusterBalancer(cluster: string): ClusterBalancer | undefined {
    return this.clusters.get(cluster);
  }
}
