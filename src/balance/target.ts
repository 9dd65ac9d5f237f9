// One concrete upstream of a service port, and how an upstream address list becomes targets.
// Targets keep their identity while the list is unchanged (metric caches key on them).
import type { Addr } from '../capture/types';
import { endpointPort, type Endpoint, type Service, type ServicePort } from '../config/model';

/** One concrete upstream of a service port: where to connect and who it is (for labels and logs). */
export interface Target {
  readonly addr: Addr;
  /** "address:port": the health key and Envoy's upstream_host. */
  readonly key: string;
  readonly endpoint: Endpoint | undefined;
  readonly service: Service;
  readonly port: ServicePort;
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

/** Endpoint labels contain every label of the selector (a subset's labels); no selector = all. */
export function matchesLabels(target: Target, selector: Readonly<Record<string, string>> | undefined): boolean {
  if (selector === undefined) return true;
  const labels = target.endpoint?.labels;
  if (labels === undefined) return false;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** Load-balancing weight of a target (Endpoint.weight; 1 when unknown or not a positive number). */
export function weightOf(target: Target): number {
  const w = target.endpoint?.weight;
  return w !== undefined && w > 0 && Number.isFinite(w) ? w : 1;
}
