// One Kubernetes Service and its EndpointSlices → the ParsedService that assemble() takes, as a
// ServiceEntry would give it: hosts, cluster IPs, ports with their protocols, and the endpoints with the
// identity of the pods behind them. Pure; translate.ts caches the result per service.
import { DATAPLANE_LABEL } from '../config/kinds/metadata';
import type { Origin, ParsedService } from '../config/kinds/types';
import type { Endpoint, ServicePort } from '../config/model';
import { isMeshed, type KEndpointSlice, type KNamespace, type KNode, type KPod, type KService, type KSliceEndpoint } from './objects';
import { portProtocol } from './protocol';
import { ISTIO_LOCALITY_LABEL, ZONE_LABEL, localityOfLabels } from '../balance/locality';

export const SERVICE_FILE = 'kubernetes:Service';

/** Where endpoint identities come from: the pods (and their namespaces) in discovery's view. */
export interface PodSource {
  pod(namespace: string, name: string): KPod | undefined;
  namespace(name: string): KNamespace | undefined;
  /** The node's labels carry the endpoint's locality (topology.kubernetes.io/region, zone). */
  node?(name: string): KNode | undefined;
}

export function serviceHost(svc: KService, clusterDomain: string): string {
  return `${svc.meta.name}.${svc.meta.namespace}.svc.${clusterDomain}`;
}

/** SLICES are the service's EndpointSlices in a fixed order (by key): the first copy of an address wins. */
export function buildService(svc: KService, slices: readonly KEndpointSlice[], pods: PodSource, clusterDomain: string): ParsedService {
  const { name, namespace, labels } = svc.meta;
  const origin: Origin = { file: SERVICE_FILE, document: 0, kind: 'Service', name: `${namespace}/${name}`, root: '' };
  const ports: ServicePort[] = svc.ports.map((p) => ({
    number: p.port,
    name: p.name,
    protocol: portProtocol(p.name, p.appProtocol),
    // A named targetPort differs per pod: each endpoint carries its own (ports[name], from its slice).
    targetPort: typeof p.targetPort === 'number' ? p.targetPort : p.port,
  }));
  return {
    kind: 'ServiceEntry',
    origin,
    name,
    namespace,
    labels,
    hosts: [{ value: serviceHost(svc, clusterDomain), path: 'metadata.name' }],
    addresses: svc.clusterIPs.map((ip) => ({ value: ip, path: 'spec.clusterIPs' })),
    ports,
    dataplane: labels[DATAPLANE_LABEL] === 'kernel' ? 'kernel' : 'proxy',
    endpoints: endpointsOf(svc, slices, pods),
    selector: undefined,
  };
}

/**
 * Ready endpoints; when there is none at all, the serving ones that are terminating (Kubernetes' own
 * fallback: a terminating pod gets no new requests while another can take them, but a service whose
 * every pod is shutting down keeps working until they are gone).
 */
export function endpointsOf(svc: KService, slices: readonly KEndpointSlice[], pods: PodSource): Endpoint[] {
  const ready = new Map<string, Endpoint>();
  const fallback = new Map<string, Endpoint>();
  for (const slice of slices) {
    const ports = portsOf(svc, slice);
    for (const e of slice.endpoints) {
      const into = e.ready ? ready : e.serving && e.terminating ? fallback : undefined;
      if (into === undefined || (into === fallback && ready.size > 0)) continue;
      const pod = e.pod && pods.pod(e.pod.namespace, e.pod.name);
      for (const address of e.addresses) {
        if (!into.has(address)) into.set(address, endpoint(svc, e, address, ports, pod, pods));
      }
    }
  }
  return [...(ready.size > 0 ? ready : fallback).values()].sort((a, b) => ipOrder(a.address) - ipOrder(b.address));
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

function endpoint(
  svc: KService,
  e: KSliceEndpoint,
  address: string,
  ports: Readonly<Record<string, number>>,
  found: KPod | undefined,
  pods: PodSource,
): Endpoint {
  // A pod recreated under the same name (a StatefulSet's) may already have another IP than this
  // endpoint: its identity and node are not this address's.
  const pod = found !== undefined && (found.ips.length === 0 || found.ips.includes(address)) ? found : undefined;
  const meshed = pod !== undefined && isMeshed(pod, pods.namespace(pod.meta.namespace));
  return {
    address,
    ports,
    labels: pod?.meta.labels ?? NO_LABELS,
    namespace: pod?.meta.namespace ?? e.pod?.namespace ?? svc.meta.namespace,
    serviceAccount: pod?.serviceAccount || undefined,
    workload: pod?.workload,
    // Only a meshed pod has an agent in front of it to tunnel to; any other is reached directly.
    node: meshed ? pod.node || undefined : undefined,
    weight: 1,
    ...localityOf(e, pod, pods),
  };
}

/** Endpoint ports by service port name: the slice's port of the same name (a named targetPort, resolved). */
function portsOf(svc: KService, slice: KEndpointSlice): Readonly<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const p of svc.ports) {
    const match = slice.ports.find((q) => q.name === p.name);
    if (match !== undefined) out[p.name] = match.port;
  }
  return out;
}

/** Numeric order of dotted-quad IPv4 addresses (10.0.0.2 before 10.0.0.10). */
export function ipOrder(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

/**
 * Istio's rule: the pod's istio-locality label, else its node's topology labels; the slice's own zone
 * stands in for a node this agent does not see.
 */
function localityOf(e: KSliceEndpoint, pod: KPod | undefined, pods: PodSource): { locality?: string } {
  const own = pod !== undefined ? pod.meta.labels[ISTIO_LOCALITY_LABEL] : undefined;
  if (own !== undefined && own !== '') return { locality: own.split('.').join('/') };
  const nodeName = pod?.node || e.nodeName;
  const node = nodeName ? pods.node?.(nodeName) : undefined;
  const labels = node !== undefined ? { ...node.meta.labels } : {};
  if (labels[ZONE_LABEL] === undefined && e.zone !== undefined) labels[ZONE_LABEL] = e.zone;
  const locality = localityOfLabels(labels);
  return locality === undefined ? {} : { locality };
}
