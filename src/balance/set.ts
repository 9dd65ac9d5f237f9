// Cluster balancers per ResolvedDestination (service port, subset, DestinationRule policy: algorithm,
// outlier detection, connection-pool breaker), sharing one passive-health table keyed by endpoint
// address:port. A reload builds a new balancer that takes over the old one's endpoint state, so
// round robin stays fair across reloads and targets keep their identity (metric caches).
import type { Service } from '../config/model';
import type { ResolvedDestination } from '../route/types';
import { Breakers } from './breaker';
import { ClusterBalancer, sameLabels, type BalancerPick, type ClusterShared, type EjectionEvent } from './cluster';
import { HealthTable, type HealthOptions } from './health';
import { DEFAULT_EWMA, type EwmaOptions } from './load';
import { formatLocality, type SelfLocality } from './locality';
import { buildTargets, type Target } from './target';

export { buildTargets, type BalancerPick, type Target };

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
  /** The agent's locality (--locality, or its node's labels once discovery knows them). */
  readonly self?: SelfLocality;
  /** Called on each passive-health ejection (a connect failure), to share it with other workers. */
  readonly onHealthEject?: (key: string, remainingMs: number, streak: number) => void;
}

/** An ejection as one worker tells the others (remaining time, not a deadline: clocks are per thread). */
export interface SharedEjection {
  /** The cluster of an outlier ejection; undefined for passive health (a connect failure). */
  readonly cluster: string | undefined;
  /** The endpoint, address:port. */
  readonly key: string;
  readonly remainingMs: number;
  /** The outlier multiplier or the passive-health streak. */
  readonly count: number;
}

export class BalancerSet {
  readonly health: HealthTable;
  readonly now: () => number;
  readonly random: () => number;
  readonly breakers = new Breakers();
  private readonly clusters = new Map<string, ClusterBalancer>();
  private readonly shared: ClusterShared;
  private readonly place: { self: SelfLocality | undefined; version: number };

  constructor(opts: BalancerSetOptions = {}) {
    this.health = new HealthTable(opts.health);
    this.health.onEject = opts.onHealthEject;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.place = { self: opts.self, version: 0 };
    this.shared = {
      health: this.health,
      now: this.now,
      random: this.random,
      ewma: { ...DEFAULT_EWMA, ...opts.ewma },
      onEject: opts.onEject,
      place: this.place,
    };
  }

  /** The agent's locality changed (its Node's labels): every cluster re-plans on its next pick. */
  setSelf(self: SelfLocality | undefined): void {
    const prev = this.place.self;
    const key = (s: SelfLocality | undefined): string => (s === undefined ? '' : `${s.locality ? formatLocality(s.locality) : ''} ${JSON.stringify(s.labels)}`);
    if (key(prev) === key(self)) return;
    this.place.self = self;
    this.place.version++;
  }

  get self(): SelfLocality | undefined {
    return this.place.self;
  }

  /**
   * The balancer of a routed destination's cluster; call per request (cheap: one map lookup). A new
   * policy object (reload) builds a new one that takes over the old one's endpoint state.
   */
  for(dest: ResolvedDestination): ClusterBalancer {
    return this.cluster(dest);
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

  /**
   * Drops state no longer configured (call after a reload): cluster balancers and breakers whose
   * service port is gone or, when `clusters` is given (the
   * live cluster names: the router's destination(...).cluster for each service port and subset), whose
   * name is not in it.
   */
  retain(services: readonly Service[], clusters?: Iterable<string>): void {
    const live = new Set<string>();
    for (const s of services) for (const p of s.ports) live.add(`${s.key}:${p.number}`);
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

  /**
   * Applies an ejection another worker decided: an outlier ejection of CLUSTER's endpoint KEY, or
   * (cluster undefined) a passive-health one, shared by every cluster as the table is. A cluster this
   * worker has not balanced yet has no outlier state to apply it to.
   */
  adopt(e: SharedEjection): void {
    if (e.cluster === undefined) this.health.adopt(e.key, e.remainingMs, e.count, this.now());
    else this.clusters.get(e.cluster)?.adoptEjection(e.key, e.remainingMs, e.count);
  }

  /** The cluster balancer last built for a cluster name (stats and tests). */
  clusterBalancer(cluster: string): ClusterBalancer | undefined {
    return this.clusters.get(cluster);
  }
}
