// The balancer of one cluster (service, subset, port) under its merged DestinationRule policy: the
// subset's endpoints, the configured algorithm, per-endpoint load, outlier detection (or the shared
// passive health when none is configured) and the connection-pool breaker. A reload builds a new one
// that takes over the old one's state, so ejections, load and the round-robin cursor survive.
import type { Addr } from '../capture/types';
import type { LoadBalancer } from '../config/traffic';
import type { ResolvedDestination } from '../route/types';
import { algorithmKind, LeastRequest, Passthrough, PeakEwma, RandomPick, RoundRobin, sameLoadBalancer, type Algorithm, type Healthy, type PickInput } from './algorithm';
import type { Breaker } from './breaker';
import type { HealthTable } from './health';
import { chooseGroup, planLocality, type LocalityPlan, type SelfLocality } from './locality';
import { Lease, type LeaseOwner } from './lease';
import { LoadState, observeLatency, type EwmaOptions } from './load';
import { Maglev } from './maglev';
import { OutlierDetector, type Ejection, type OutlierResult } from './outlier';
import { RingHash } from './ring';
import { buildTargets, matchesLabels, type Target } from './target';
import { slowStartAlgorithm } from './warmup';

export type BalancerPick =
  | { readonly kind: 'pick'; readonly target: Target; readonly panic: boolean }
  | { readonly kind: 'none' };

export const NO_PICK: BalancerPick = Object.freeze({ kind: 'none' });
const NO_INPUT: PickInput = Object.freeze({});

/** An outlier ejection, for the caller's nodemesh_outlier_ejections_total{service,endpoint,reason}. */
export interface EjectionEvent extends Ejection {
  readonly target: Target;
  readonly cluster: string;
}

/** What every cluster balancer of one set shares. */
export interface ClusterShared {
  readonly health: HealthTable;
  readonly now: () => number;
  readonly random: () => number;
  readonly ewma: EwmaOptions;
  readonly onEject: ((e: EjectionEvent) => void) | undefined;
  /** The agent's locality; VERSION changes with it, so cluster balancers re-plan. Absent: none. */
  readonly place?: { self: SelfLocality | undefined; version: number };
}

export function createAlgorithm(lb: LoadBalancer | undefined): Algorithm {
  const kind = algorithmKind(lb);
  if (lb?.warmup !== undefined && (kind === 'ROUND_ROBIN' || kind === 'LEAST_REQUEST')) return slowStartAlgorithm(lb.warmup, kind === 'LEAST_REQUEST');
  switch (kind) {
    case 'LEAST_REQUEST':
      return new LeastRequest();
    case 'RANDOM':
      return new RandomPick();
    case 'PASSTHROUGH':
      return new Passthrough();
    case 'PEAK_EWMA':
      return new PeakEwma();
    case 'RING_HASH':
      return new RingHash(lb !== undefined && 'consistentHash' in lb ? lb.consistentHash.size : undefined);
    case 'MAGLEV':
      return new Maglev(lb !== undefined && 'consistentHash' in lb ? lb.consistentHash.size : undefined);
    default:
      return new RoundRobin();
  }
}

export function sameLabels(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

export class ClusterBalancer implements LeaseOwner {
  readonly outlier: OutlierDetector | undefined;
  /** Picks made in panic (every endpoint ejected, or fewer healthy than minHealthPercent). */
  panicPicks = 0;
  private readonly algorithm: Algorithm;
  private readonly loadByKey: Map<string, LoadState>;
  private targets: readonly Target[] = [];
  /** The non-panic pick of each target, made once per refresh (the allocation-free path). */
  private picks: readonly BalancerPick[] = [];
  private loads: LoadState[] = [];
  private source: readonly Addr[] | undefined;
  /** Locality grouping of `targets` (undefined: none), made for planTargets at planVersion. */
  private plan: LocalityPlan | undefined;
  private planTargets: readonly Target[] | undefined;
  private planVersion = -1;
  private groupAlgorithms: Algorithm[] = [];
  private readonly env: { random: () => number; now: number; loads: readonly LoadState[]; ewma: EwmaOptions };

  constructor(
    readonly dest: ResolvedDestination,
    readonly breaker: Breaker,
    private readonly shared: ClusterShared,
    prev?: ClusterBalancer,
  ) {
    const od = dest.policy.outlierDetection;
    if (od !== undefined && prev?.outlier !== undefined) {
      prev.outlier.configure(od);
      this.outlier = prev.outlier;
    } else this.outlier = od === undefined ? undefined : new OutlierDetector(od);
    this.algorithm = prev !== undefined && sameLoadBalancer(prev.dest.policy.loadBalancer, dest.policy.loadBalancer) ? prev.algorithm : createAlgorithm(dest.policy.loadBalancer);
    this.loadByKey = prev?.loadByKey ?? new Map();
    this.panicPicks = prev?.panicPicks ?? 0;
    if (prev !== undefined && prev.dest.service === dest.service && prev.dest.port === dest.port && sameLabels(prev.dest.subsetLabels, dest.subsetLabels)) {
      // Same endpoints and subset: keep the targets (their identity keys metric caches).
      this.targets = prev.targets;
      this.picks = prev.picks;
      this.loads = prev.loads;
      this.source = prev.source;
      this.outlier?.setHosts(this.targets.map((t) => t.key));
    }
    this.env = { random: shared.random, now: 0, loads: this.loads, ewma: shared.ewma };
  }

  /**
   * Picks an endpoint of the cluster among `upstreams` (the service port's endpoint addresses; the
   * subset's label selector filters them). Unhealthy and already-tried (`input.exclude`) endpoints are
   * avoided while another one qualifies; with none healthy, panic picks among all.
   */
  pick(upstreams: readonly Addr[], input: PickInput = NO_INPUT, now?: number): BalancerPick {
    if (upstreams !== this.source) this.refresh(upstreams);
    const targets = this.targets;
    const n = targets.length;
    if (n === 0) return NO_PICK;
    const env = this.env;
    env.now = now ??= this.shared.now();
    const od = this.outlier;
    const health = this.shared.health;
    const exclude = input.exclude !== undefined && input.exclude.size > 0 ? input.exclude : undefined;
    const plan = this.localityPlan();
    const degraded = od !== undefined ? od.anyEjected(now) || health.anyDown : !health.empty;
    if (!degraded && exclude === undefined && plan === undefined) {
      const i = this.algorithm.pick(targets, undefined, input, env);
      return i < 0 ? NO_PICK : this.picks[i]!;
    }
    let ok: Healthy;
    let panic = false;
    if (degraded) {
      const t = now;
      ok = od !== undefined ? (i) => !od.isEjected(targets[i]!.key, t) && !health.isDown(targets[i]!.key) : (i) => health.isHealthy(targets[i]!.key, t);
      let healthy = 0;
      for (let i = 0; i < n; i++) if (ok(i)) healthy++;
      const min = od?.settings.minHealthPercent ?? 0;
      if (healthy === 0 || healthy * 100 < min * n) {
        ok = undefined;
        panic = true;
        this.panicPicks++;
      }
    }
    const healthy = ok;
    let algorithm = this.algorithm;
    if (plan !== undefined && !panic) {
      const g = this.chosenGroup(plan, ok);
      if (g >= 0) {
        const group = plan.group;
        const base = ok;
        ok = base === undefined ? (i) => group[i] === g : (i) => group[i] === g && base(i);
        // Each locality keeps its own algorithm state (a round-robin cursor per locality, as Envoy).
        algorithm = this.groupAlgorithms[g] ?? algorithm;
      }
    }
    if (exclude !== undefined) {
      // A retry goes to another endpoint of the chosen locality, else of another healthy one.
      for (const base of ok === healthy ? [ok] : [ok, healthy]) {
        const fresh = (i: number): boolean => (base === undefined || base(i)) && !exclude.has(targets[i]!.key);
        let found = false;
        for (let i = 0; i < n && !found; i++) found = fresh(i);
        if (found) {
          ok = fresh;
          break;
        }
      }
    }
    let i = algorithm.pick(targets, ok, input, env);
    if (i < 0) i = this.algorithm.pick(targets, undefined, input, env);
    if (i < 0) return NO_PICK;
    return panic ? { kind: 'pick', target: targets[i]!, panic: true } : this.picks[i]!;
  }

  /**
   * pick() as a handle that reports its own outcome: the endpoint's load starts now and ends, with its
   * judgement, when the caller settles or releases the lease. undefined when there is no endpoint.
   */
  lease(upstreams: readonly Addr[], input: PickInput = NO_INPUT, now?: number): Lease | undefined {
    const t = now ?? this.shared.now();
    const p = this.pick(upstreams, input, t);
    return p.kind === 'none' ? undefined : new Lease(this, p.target, p.panic, t);
  }

  /** A request to `target` started (least request, peak EWMA). */
  onStart(target: Target): void {
    const s = this.loadByKey.get(target.key);
    if (s !== undefined) s.active++;
  }

  /** The request ended after `latencyMs` (time to response headers, or the whole exchange). */
  onEnd(target: Target, latencyMs: number, now?: number): void {
    const s = this.loadByKey.get(target.key);
    if (s === undefined) return;
    if (s.active > 0) s.active--;
    observeLatency(s, latencyMs, now ?? this.shared.now(), this.shared.ewma.tauMs);
  }

  /**
   * A result for outlier detection: HTTP, the response status (or a local failure); TCP, 'success'
   * once connected or 'connect-failure'. Without outlierDetection only connect failures count (the
   * shared passive health). Returns true when this report ejected the endpoint.
   */
  report(target: Target, result: OutlierResult, now?: number): boolean {
    const t = now ?? this.shared.now();
    const od = this.outlier;
    if (od === undefined) {
      const health = this.shared.health;
      if (result === 'connect-failure') return health.markFailure(target.key, t);
      if (result === 'success' || (typeof result === 'number' && result < 500)) {
        if (!health.empty) health.markSuccess(target.key);
      }
      return false;
    }
    const e = od.report(target.key, result, t);
    if (e === undefined) return false;
    this.shared.onEject?.({ ...e, target, cluster: this.dest.cluster });
    return true;
  }

  /** An outlier ejection another worker decided for this cluster's endpoint KEY. */
  adoptEjection(key: string, remainingMs: number, multiplier: number): boolean {
    return this.outlier?.adopt(key, remainingMs, multiplier, this.shared.now()) ?? false;
  }

  isEjected(target: Target, now?: number): boolean {
    const t = now ?? this.shared.now();
    const health = this.shared.health;
    return this.outlier !== undefined ? this.outlier.isEjected(target.key, t) || health.isDown(target.key) : !health.isHealthy(target.key, t);
  }

  /** The locality grouping of the current targets (undefined: no locality balancing); for stats and tests. */
  localityPlan(): LocalityPlan | undefined {
    const place = this.shared.place;
    if (place === undefined) return undefined;
    if (this.planTargets === this.targets && this.planVersion === place.version) return this.plan;
    this.planTargets = this.targets;
    this.planVersion = place.version;
    const setting = this.dest.policy.loadBalancer?.locality;
    const inputs = this.targets.map((t) => ({ locality: t.endpoint?.locality, labels: t.endpoint?.labels ?? {} }));
    this.plan = planLocality(setting, this.outlier !== undefined, place.self, inputs);
    this.groupAlgorithms = [];
    for (let g = 0; g < (this.plan?.groups ?? 0); g++) {
      const a = createAlgorithm(this.dest.policy.loadBalancer);
      a.update?.(this.targets);
      this.groupAlgorithms.push(a);
    }
    return this.plan;
  }

  /** The locality group this pick goes to; -1 when no group has a healthy endpoint. */
  private chosenGroup(plan: LocalityPlan, healthy: Healthy): number {
    const group = plan.group;
    const n = group.length;
    const hasHealthy = (g: number): boolean => {
      for (let i = 0; i < n; i++) if (group[i] === g && (healthy === undefined || healthy(i))) return true;
      return false;
    };
    return chooseGroup(plan, hasHealthy, this.shared.random);
  }

  /** Current targets (after the last pick's refresh); for stats and tests. */
  list(): readonly Target[] {
    return this.targets;
  }

  /** Load of an endpoint (for stats and tests). */
  load(key: string): LoadState | undefined {
    return this.loadByKey.get(key);
  }

  private refresh(upstreams: readonly Addr[]): void {
    this.source = upstreams;
    const { service, port, subsetLabels } = this.dest;
    let next = buildTargets(service, port, upstreams);
    if (subsetLabels !== undefined) next = next.filter((t) => matchesLabels(t, subsetLabels));
    const prev = this.targets;
    const same = prev.length === next.length && next.every((t, i) => t.key === prev[i]!.key && t.endpoint === prev[i]!.endpoint);
    if (same) return;
    this.targets = next;
    this.picks = next.map((target) => Object.freeze({ kind: 'pick', target, panic: false }));
    const live = new Set<string>();
    this.loads = next.map((t) => {
      live.add(t.key);
      let s = this.loadByKey.get(t.key);
      if (s === undefined) this.loadByKey.set(t.key, (s = new LoadState()));
      return s;
    });
    for (const k of this.loadByKey.keys()) if (!live.has(k)) this.loadByKey.delete(k);
    this.env.loads = this.loads;
    this.outlier?.setHosts(next.map((t) => t.key));
    this.algorithm.update?.(next);
  }
}
