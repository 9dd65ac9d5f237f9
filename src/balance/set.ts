// Balancers per (service, port), sharing one passive-health table keyed by endpoint address:port.
// A balancer rebuilds its targets only when the upstream list actually changes (reload), keeping its
// cursor, so round-robin stays fair across reloads and targets keep their identity (metric caches).
import type { Addr } from '../capture/types';
import { endpointPort, type Endpoint, type Service, type ServicePort } from '../config/model';
import { HealthTable, type HealthOptions } from './health';
import { pickRoundRobin } from './picker';

/** One concrete upstream of a service port: where to connect and who it is (for labels and logs). */
export interface Target {
  readonly addr: Addr;
  /** "address:port": the health key and Envoy's upstream_host. */
  readonly key: string;
  readonly endpoint: Endpoint | undefined;
  readonly service: Service;
  readonly port: ServicePort;
}

export type BalancerPick =
  | { readonly kind: 'pick'; readonly target: Target; readonly panic: boolean }
  | { readonly kind: 'none' };

const NONE: BalancerPick = { kind: 'none' };

export interface BalancerSetOptions {
  readonly health?: Partial<HealthOptions>;
  /** Clock in ms; injectable for tests. */
  readonly now?: () => number;
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

/** Endpoints sharing an address (several WorkloadEntries on one host) are told apart by their port. */
function endpointOf(service: Service, port: ServicePort, addr: Addr): Endpoint | undefined {
  let byAddress: Endpoint | undefined;
  for (const e of service.endpoints) {
    if (e.address !== addr.address) continue;
    if (endpointPort(e, port) === addr.port) return e;
    byAddress ??= e;
  }
  return byAddress;
}

export function buildTargets(service: Service, port: ServicePort, upstreams: readonly Addr[]): Target[] {
  return upstreams.map((addr) => ({ addr, key: `${addr.address}:${addr.port}`, endpoint: endpointOf(service, port, addr), service, port }));
}

export class BalancerSet {
  readonly health: HealthTable;
  readonly now: () => number;
  private readonly balancers = new Map<string, Balancer>();

  constructor(opts: BalancerSetOptions = {}) {
    this.health = new HealthTable(opts.health);
    this.now = opts.now ?? Date.now;
  }

  /** The balancer for a service port; resolve once per connection and reuse it for its requests. */
  for(service: Service, port: ServicePort): Balancer {
    const key = `${service.key}:${port.number}`;
    let b = this.balancers.get(key);
    if (b === undefined) {
      b = new Balancer(this);
      this.balancers.set(key, b);
    }
    return b;
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

  /** Drops balancers of services no longer configured (call after a reload). */
  retain(services: readonly Service[]): void {
    const live = new Set<string>();
    for (const s of services) for (const p of s.ports) live.add(`${s.key}:${p.number}`);
    for (const key of this.balancers.keys()) if (!live.has(key)) this.balancers.delete(key);
  }
}
