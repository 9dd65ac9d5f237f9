// DestinationRule policies merged the way Istio merges them, and every (service, subset, port) resolved
// once per config into a shared ResolvedDestination, so routing a request picks an object instead of
// building one.
import type { Service, ServicePort } from '../config/model';
import type { Destination, DestinationRule, PortTrafficPolicy, Subset, TrafficPolicy } from '../config/traffic';
import type { ResolvedDestination } from './types';

const EMPTY_POLICY: TrafficPolicy = Object.freeze({});

/** The fields of a policy, without the rest of a PortTrafficPolicy. */
function fields(p: TrafficPolicy | undefined): TrafficPolicy {
  if (p === undefined) return EMPTY_POLICY;
  const out: { -readonly [K in keyof TrafficPolicy]: TrafficPolicy[K] } = {};
  if (p.loadBalancer !== undefined) out.loadBalancer = p.loadBalancer;
  if (p.connectionPool !== undefined) out.connectionPool = p.connectionPool;
  if (p.outlierDetection !== undefined) out.outlierDetection = p.outlierDetection;
  if (p.tls !== undefined) out.tls = p.tls;
  return out;
}

function portEntry(list: readonly PortTrafficPolicy[], port: number): PortTrafficPolicy | undefined {
  for (const p of list) if (p.port === port) return p;
  return undefined;
}

/**
 * Istio's merge (MergeSubsetTrafficPolicy): a port-level entry for PORT replaces its level's policy
 * whole (fields it omits fall back to defaults, not to the level above: Istio documents port-level
 * settings as not inherited). The subset's policy then overrides the DestinationRule's field by field;
 * when the subset has a port-level entry for PORT, that entry replaces all of them (tls included).
 */
export function mergePolicy(dr: DestinationRule | undefined, subset: Subset | undefined, port: number): TrafficPolicy {
  if (dr === undefined) return EMPTY_POLICY;
  const drPort = portEntry(dr.portLevel, port);
  const base = fields(drPort ?? dr.trafficPolicy);
  if (subset === undefined || (subset.trafficPolicy === undefined && subset.portLevel.length === 0)) return Object.freeze(base);
  const subPort = portEntry(subset.portLevel, port);
  const over = fields(subPort ?? subset.trafficPolicy);
  const merged: { -readonly [K in keyof TrafficPolicy]: TrafficPolicy[K] } = { ...base };
  for (const k of ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const) {
    if (over[k] !== undefined) (merged as Record<string, unknown>)[k] = over[k];
    else if (subPort !== undefined) delete merged[k];
  }
  return Object.freeze(merged);
}

/** Istio's cluster name, as the access log and metrics print it. */
export function clusterName(service: Service, port: number, subset: string | undefined): string {
  return `outbound|${port}|${subset ?? ''}|${service.hosts[0] ?? service.name}`;
}

/** The resolved destinations of one service: every (subset or none) × port, built up front. */
export class ServiceDestinations {
  /** By subset name ('' = no subset), then by port number. */
  private readonly table = new Map<string, Map<number, ResolvedDestination>>();

  constructor(
    readonly service: Service,
    readonly rule: DestinationRule | undefined,
  ) {
    this.table.set('', this.buildPorts(undefined));
    for (const s of rule?.subsets ?? []) if (!this.table.has(s.name)) this.table.set(s.name, this.buildPorts(s));
  }

  /** For a port of the service: the shared object; for another port: built on the spot. Undefined: no such subset. */
  get(port: ServicePort, subset: string | undefined): ResolvedDestination | undefined {
    const bySubset = this.table.get(subset ?? '');
    if (bySubset === undefined) return undefined;
    const hit = bySubset.get(port.number);
    if (hit !== undefined) return hit;
    return this.build(port, subset === undefined ? undefined : this.subset(subset));
  }

  /**
   * Where DEST sends a request that arrived on REQUEST_PORT: its own port when given, else the request's
   * port number, else (when the service has a single port) that one. Undefined when there is no such
   * port or subset: Istio has no cluster for it.
   */
  resolve(dest: Destination, requestPort: number): ResolvedDestination | undefined {
    const ports = this.service.ports;
    const want = dest.port ?? requestPort;
    let port = ports.find((p) => p.number === want);
    if (port === undefined && dest.port === undefined && ports.length === 1) port = ports[0];
    return port === undefined ? undefined : this.get(port, dest.subset);
  }

  private subset(name: string): Subset | undefined {
    return this.rule?.subsets.find((s) => s.name === name);
  }

  private buildPorts(subset: Subset | undefined): Map<number, ResolvedDestination> {
    const m = new Map<number, ResolvedDestination>();
    for (const p of this.service.ports) if (!m.has(p.number)) m.set(p.number, this.build(p, subset));
    return m;
  }

  private build(port: ServicePort, subset: Subset | undefined): ResolvedDestination {
    return Object.freeze({
      service: this.service,
      port,
      subset: subset?.name,
      policy: mergePolicy(this.rule, subset, port.number),
      subsetLabels: subset?.labels,
      cluster: clusterName(this.service, port.number, subset?.name),
    });
  }
}
