// The nodemesh config for a namespace cluster: a Node per node, a WorkloadEntry per pod and ServiceEntries
// selecting workloads by app label, as multi-document YAML (what the agents read from their ConfigMap).
import { stringify } from 'yaml';
import type { ClusterNode, Pod } from './cluster';

export interface WorkloadSpec {
  pod: Pod;
  namespace: string;
  serviceAccount: string;
  app: string;
}

export interface ServiceSpec {
  name: string;
  namespace: string;
  vip: string;
  port: number;
  /** Port the workloads listen on (default: port). */
  targetPort?: number;
  /** Declared protocol (default TCP). */
  protocol?: 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS' | 'HTTPS';
  /** Port name (default: the protocol in lower case, Istio's `<protocol>[-suffix]` convention). */
  portName?: string;
  /** Workloads with this app label are the endpoints. */
  app: string;
  /** Dataplane label; omitted means the agent's default (proxy). */
  dataplane?: 'proxy' | 'kernel';
}

export interface MeshConfigSpec {
  /** Nodes to emit `Node` documents for; omit for a config without them. */
  nodes?: readonly ClusterNode[];
  workloads?: readonly WorkloadSpec[];
  services?: readonly ServiceSpec[];
}

const HOSTNAME_LABEL = 'kubernetes.io/hostname';

export function nodeDoc(n: ClusterNode): object {
  return { apiVersion: 'nodemesh.io/v1alpha1', kind: 'Node', metadata: { name: n.name }, spec: { addresses: [n.ip] } };
}

export function workloadDoc(w: WorkloadSpec): object {
  // The same labels on metadata and spec: Istio selects on spec.labels, kubectl users look at metadata.
  const labels = { app: w.app, [HOSTNAME_LABEL]: w.pod.node };
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: { name: w.pod.name, namespace: w.namespace, labels },
    spec: { address: w.pod.ip, serviceAccount: w.serviceAccount, labels },
  };
}

export function serviceDoc(s: ServiceSpec): object {
  const protocol = s.protocol ?? 'TCP';
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: s.name, namespace: s.namespace, ...(s.dataplane ? { labels: { 'nodemesh.io/dataplane': s.dataplane } } : {}) },
    spec: {
      hosts: [`${s.name}.${s.namespace}.svc.cluster.local`],
      addresses: [s.vip],
      ports: [{ number: s.port, name: s.portName ?? protocol.toLowerCase(), protocol, targetPort: s.targetPort ?? s.port }],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      workloadSelector: { labels: { app: s.app } },
    },
  };
}

/** Multi-document YAML: Nodes, then WorkloadEntries, then ServiceEntries. */
export function meshConfig(spec: MeshConfigSpec): string {
  const docs = [...(spec.nodes ?? []).map(nodeDoc), ...(spec.workloads ?? []).map(workloadDoc), ...(spec.services ?? []).map(serviceDoc)];
  return docs.map((d) => stringify(d)).join('---\n');
}
