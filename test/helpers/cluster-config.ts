// The nodemesh config for a namespace cluster: a Node per node, a WorkloadEntry per pod and ServiceEntries
// selecting workloads by app label, as multi-document YAML (what the agents read from their ConfigMap).
// In-process tests use the same builders with plain names and loopback addresses (shopWorkload,
// shopService), and the policies the mesh tests share (allowFrom, peerAuthentication).
import { stringify } from 'yaml';
import type { ClusterNode, Pod } from './cluster';

/** What a Node document needs of a node. */
export type NodeRef = Pick<ClusterNode, 'name' | 'ip'>;

export interface WorkloadSpec {
  /** The WorkloadEntry's name, address and node (a cluster Pod, or plain values in-process). */
  pod: Pick<Pod, 'name' | 'ip' | 'node'>;
  namespace: string;
  serviceAccount: string;
  app: string;
  /** Labels besides app and the node's hostname (e.g. version). */
  labels?: Readonly<Record<string, string>>;
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
  nodes?: readonly NodeRef[];
  workloads?: readonly WorkloadSpec[];
  services?: readonly ServiceSpec[];
  /** Further documents (policies, traffic rules), after the ServiceEntries. */
  extra?: readonly object[];
}

const HOSTNAME_LABEL = 'kubernetes.io/hostname';

export function nodeDoc(n: NodeRef): object {
  return { apiVersion: 'nodemesh.io/v1alpha1', kind: 'Node', metadata: { name: n.name }, spec: { addresses: [n.ip] } };
}

export function workloadDoc(w: WorkloadSpec): object {
  // The same labels on metadata and spec: Istio selects on spec.labels, kubectl users look at metadata.
  const labels = { app: w.app, ...w.labels, [HOSTNAME_LABEL]: w.pod.node };
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

/** Multi-document YAML: Nodes, then WorkloadEntries, then ServiceEntries, then the extra documents. */
export function meshConfig(spec: MeshConfigSpec): string {
  const docs = [...(spec.nodes ?? []).map(nodeDoc), ...(spec.workloads ?? []).map(workloadDoc), ...(spec.services ?? []).map(serviceDoc), ...(spec.extra ?? [])];
  return docs.map((d) => stringify(d)).join('---\n');
}

/** An ALLOW AuthorizationPolicy for the workloads labelled app: APP that admits only PRINCIPALS
 *  (`cluster.local/ns/<ns>/sa/<sa>`), optionally only to what TO names (Istio's rule `to`). */
export function allowFrom(name: string, namespace: string, app: string, principals: readonly string[], to?: readonly object[]): object {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace },
    spec: { selector: { matchLabels: { app } }, action: 'ALLOW', rules: [{ from: [{ source: { principals } }], ...(to ? { to } : {}) }] },
  };
}

/** A namespace-wide PeerAuthentication. */
export function peerAuthentication(name: string, namespace: string, mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE'): object {
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace }, spec: { mtls: { mode } } };
}

/** The two-node layout of the cross-node mesh tests: node-0 runs the client (namespace a, service
 *  account client) and another caller (a/other), node-1 the server (b/server) and SPARE; then SERVICES.
 *  The server admits only the client (AuthorizationPolicy only-client) and namespace b's mTLS mode is
 *  MTLS. A Node document for each of NODES; the workloads are the first two pods of the first two. */
export function clientServerMesh(
  nodes: readonly ClusterNode[],
  spare: Omit<WorkloadSpec, 'pod'>,
  services: readonly ServiceSpec[],
  mtls: 'STRICT' | 'PERMISSIVE',
): string {
  const [n0, n1] = nodes as [ClusterNode, ClusterNode];
  return meshConfig({
    nodes,
    workloads: [
      { pod: n0.pods[0]!, namespace: 'a', serviceAccount: 'client', app: 'client' },
      { pod: n0.pods[1]!, namespace: 'a', serviceAccount: 'other', app: 'other' },
      { pod: n1.pods[0]!, namespace: 'b', serviceAccount: 'server', app: 'server' },
      { pod: n1.pods[1]!, ...spare },
    ],
    services,
    extra: [allowFrom('only-client', 'b', 'server', ['cluster.local/ns/a/sa/client']), peerAuthentication('ns-b', 'b', mtls)],
  });
}

/** The namespace of the in-process tests' workloads and services. */
const SHOP = 'shop';

/** An in-process workload of namespace shop: NAME at IP on NODE, with service account and app label SA_APP. */
export function shopWorkload(name: string, ip: string, node: string, saApp: string, labels?: Readonly<Record<string, string>>): WorkloadSpec {
  return { pod: { name, ip, node }, namespace: SHOP, serviceAccount: saApp, app: saApp, ...(labels ? { labels } : {}) };
}

/** A service of namespace shop on VIP:PORT whose endpoints are the `backend` workloads, on TARGET_PORT. */
export function shopService(name: string, vip: string, port: number, protocol: NonNullable<ServiceSpec['protocol']>, targetPort: number): ServiceSpec {
  return { name, namespace: SHOP, vip, port, targetPort, protocol, app: 'backend' };
}
