// Trimmed Kubernetes objects for the translation tests, built directly (trim.test.ts covers the JSON).
import type { KEndpointSlice, KNamespace, KNode, KPod, KService, KSliceEndpoint } from '../../../src/discovery/objects';

let version = 100;
export const rv = (): string => String(version++);
export const meta = (name: string, namespace: string, labels: Record<string, string> = {}) => ({ name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: rv(), labels });

export function svc(name: string, over: Partial<KService> = {}, labels: Record<string, string> = {}): KService {
  return {
    kind: 'Service',
    meta: meta(name, 'shop', { app: name, ...labels }),
    type: 'ClusterIP',
    clusterIPs: ['10.96.0.10'],
    headless: false,
    ports: [
      { name: 'http', port: 80, protocol: 'TCP', appProtocol: undefined, targetPort: 'http' },
      { name: 'grpc-api', port: 9090, protocol: 'TCP', appProtocol: undefined, targetPort: 9091 },
    ],
    ...over,
  };
}

export function ep(address: string, podName: string | undefined, cond: Partial<KSliceEndpoint> = {}): KSliceEndpoint {
  return { addresses: [address], ready: true, serving: true, terminating: false, nodeName: undefined, zone: undefined, pod: podName === undefined ? undefined : { namespace: 'shop', name: podName }, ...cond };
}

export function slice(name: string, service: string, endpoints: KSliceEndpoint[], httpPort = 8080): KEndpointSlice {
  return {
    kind: 'EndpointSlice',
    meta: meta(name, 'shop', { 'kubernetes.io/service-name': service }),
    service,
    ports: [{ name: 'http', port: httpPort, protocol: 'TCP', appProtocol: undefined }, { name: 'grpc-api', port: 9091, protocol: 'TCP', appProtocol: undefined }],
    endpoints,
  };
}

export function pod(name: string, ip: string, over: Partial<KPod> = {}, labels: Record<string, string> = {}, namespace = 'shop'): KPod {
  return {
    kind: 'Pod',
    meta: meta(name, namespace, { app: 'reviews', ...labels }),
    node: 'node-a',
    serviceAccount: 'reviews-sa',
    ips: [ip],
    phase: 'Running',
    qosClass: 'BestEffort',
    hostNetwork: false,
    workload: 'reviews',
    workloadKind: 'Deployment',
    ...over,
  };
}

export const ns = (name: string, labels: Record<string, string> = {}): KNamespace => ({ kind: 'Namespace', meta: meta(name, '', labels) });
export const nodeObj = (name: string, ips: string[]): KNode => ({ kind: 'Node', meta: meta(name, '', {}), internalIPs: ips });
export const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };

export interface MutableView {
  services: Map<string, KService>;
  slices: Map<string, KEndpointSlice>;
  pods: Map<string, KPod>;
  namespaces: Map<string, KNamespace>;
  nodes: Map<string, KNode>;
}

export function view(objects: { services?: KService[]; slices?: KEndpointSlice[]; pods?: KPod[]; namespaces?: KNamespace[]; nodes?: KNode[] }): MutableView {
  const byKey = <T extends { meta: { name: string; namespace: string } }>(list: T[] = []) =>
    new Map(list.map((o) => [o.meta.namespace ? `${o.meta.namespace}/${o.meta.name}` : o.meta.name, o]));
  return { services: byKey(objects.services), slices: byKey(objects.slices), pods: byKey(objects.pods), namespaces: byKey(objects.namespaces), nodes: byKey(objects.nodes) };
}

/** The usual picture: an ambient namespace, two pods of a Deployment behind one Service, two nodes. */
export function shop(): MutableView {
  return view({
    namespaces: [ns('shop', AMBIENT)],
    services: [svc('reviews')],
    slices: [slice('reviews-1', 'reviews', [ep('10.1.0.5', 'reviews-a'), ep('10.1.0.6', 'reviews-b')])],
    pods: [pod('reviews-a', '10.1.0.5'), pod('reviews-b', '10.1.0.6', { node: 'node-b' })],
    nodes: [nodeObj('node-a', ['192.168.1.10']), nodeObj('node-b', ['192.168.1.11'])],
  });
}
