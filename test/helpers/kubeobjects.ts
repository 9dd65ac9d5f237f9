// Kubernetes objects as the API server holds them (real JSON shapes: kind/apiVersion, metadata with uid
// left to the server, spec and status), for the e2e tests and the scale bench to load into the stand-in.
import type { ClusterNode, Pod } from './cluster';

type Obj = Record<string, unknown> & { kind: string; apiVersion: string; metadata: Record<string, unknown> };

export const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' } as const;

export function namespace(name: string, labels: Record<string, string> = {}): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
}

export function node(name: string, ip: string, labels: Record<string, string> = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels } },
    spec: { podCIDR: '10.244.0.0/24' },
    status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

export function clusterNode(n: ClusterNode): Obj {
  return node(n.name, n.ip);
}

export interface PodSpec {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  readonly ip: string;
  readonly uid?: string;
  readonly qosClass?: string;
  readonly serviceAccount?: string;
  readonly labels?: Record<string, string>;
  /** A Deployment name: the pod gets a ReplicaSet owner `<deployment>-<hash>` and the hash label. */
  readonly deployment?: string;
}

export function pod(p: PodSpec): Obj {
  const hash = '5d8f7c9b4';
  const labels = { ...(p.deployment ? { 'pod-template-hash': hash } : {}), ...(p.labels ?? {}) };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      ...(p.uid ? { uid: p.uid } : {}),
      labels,
      ...(p.deployment ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${p.deployment}-${hash}`, uid: `rs-${p.deployment}`, controller: true }] } : {}),
    },
    spec: { nodeName: p.node, serviceAccountName: p.serviceAccount ?? 'default', containers: [{ name: 'app', image: 'app:1' }] },
    status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], qosClass: p.qosClass ?? 'BestEffort', hostIP: '10.0.0.1' },
  };
}

/** The Pod object of a namespace-cluster pod (its uid and QoS class match its kubelet-layout cgroup). */
export function clusterPod(p: Pod, namespace: string, o: Omit<PodSpec, 'name' | 'namespace' | 'node' | 'ip' | 'uid' | 'qosClass'> = {}): Obj {
  return pod({ name: p.name, namespace, node: p.node, ip: p.ip, ...(p.uid ? { uid: p.uid } : {}), ...(p.qosClass ? { qosClass: p.qosClass } : {}), ...o });
}

export interface ServicePortSpec {
  readonly name: string;
  readonly port: number;
  readonly targetPort: number | string;
  readonly appProtocol?: string;
}

export function service(name: string, ns: string, clusterIP: string, ports: readonly ServicePortSpec[], labels: Record<string, string> = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      clusterIPs: [clusterIP],
      ipFamilies: ['IPv4'],
      selector: { app: name },
      ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP', targetPort: p.targetPort, ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) })),
    },
    status: { loadBalancer: {} },
  };
}

export interface SliceEndpoint {
  readonly ip: string;
  readonly node: string;
  readonly pod: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
}

export function endpointSlice(name: string, ns: string, serviceName: string, ports: readonly { name: string; port: number }[], endpoints: readonly SliceEndpoint[]): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': serviceName, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      nodeName: e.node,
      targetRef: { kind: 'Pod', namespace: ns, name: e.pod },
    })),
  };
}
