// The Kubernetes objects discovery keeps, trimmed to the fields nodemesh reads. The informers hold only
// these (never the full API objects), which is what keeps memory per pod small at cluster scale.
// Everything here is plain data: trim.ts builds it from API JSON, translate.ts turns it into the model.

export interface KMeta {
  readonly name: string;
  /** '' for cluster-scoped objects (Namespace, Node). */
  readonly namespace: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface KServicePort {
  /** '' when the Service has a single unnamed port. */
  readonly name: string;
  readonly port: number;
  /** TCP, UDP or SCTP; only TCP ports are captured. */
  readonly protocol: string;
  readonly appProtocol: string | undefined;
  /** A number, or the name of a container port (resolved per endpoint through the EndpointSlices). */
  readonly targetPort: number | string;
}

export interface KService {
  readonly kind: 'Service';
  readonly meta: KMeta;
  /** ClusterIP, NodePort or LoadBalancer (ExternalName services are skipped by trim). */
  readonly type: string;
  /** IPv4 cluster IPs; empty for a headless service (clusterIP: None). */
  readonly clusterIPs: readonly string[];
  readonly headless: boolean;
  readonly ports: readonly KServicePort[];
}

export interface KSlicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly appProtocol: string | undefined;
}

export interface KSliceEndpoint {
  readonly addresses: readonly string[];
  /** discovery.k8s.io/v1 conditions: an absent ready means true, an absent serving the same as ready, absent terminating false. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zone: string | undefined;
  /** The Pod behind the endpoint, when the slice names one. */
  readonly pod: { readonly namespace: string; readonly name: string } | undefined;
}

export interface KEndpointSlice {
  readonly kind: 'EndpointSlice';
  readonly meta: KMeta;
  /** Label kubernetes.io/service-name: the Service (same namespace) the slice belongs to. */
  readonly service: string;
  /** Only IPv4 slices are kept. */
  readonly ports: readonly KSlicePort[];
  readonly endpoints: readonly KSliceEndpoint[];
}

export interface KPod {
  readonly kind: 'Pod';
  readonly meta: KMeta;
  /** spec.nodeName; '' while the pod is not scheduled. */
  readonly node: string;
  readonly serviceAccount: string;
  /** status.podIPs (IPv4), status.podIP first. */
  readonly ips: readonly string[];
  readonly phase: string;
  /** status.qosClass: Guaranteed, Burstable or BestEffort (where kubelet puts the pod's cgroup). */
  readonly qosClass: string;
  readonly hostNetwork: boolean;
  /** Workload name as Istio reports it: the owner chain (ReplicaSet → Deployment, …), else the pod name. */
  readonly workload: string;
  /** Kind of that workload (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod). */
  readonly workloadKind: string;
}

export interface KNamespace {
  readonly kind: 'Namespace';
  readonly meta: KMeta;
}

export interface KNode {
  readonly kind: 'Node';
  readonly meta: KMeta;
  /** status.addresses of type InternalIP (IPv4), in order. */
  readonly internalIPs: readonly string[];
}

export type KObject = KService | KEndpointSlice | KPod | KNamespace | KNode;
export type KKind = KObject['kind'];

/** Istio's ambient opt-in label, on a namespace or a pod. */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
export const DATAPLANE_MODE_AMBIENT = 'ambient';
export const DATAPLANE_MODE_NONE = 'none';

/**
 * Istio ambient's rule: a pod is in the mesh when it or its namespace carries dataplane-mode=ambient,
 * and a pod labelled dataplane-mode=none is out whatever its namespace says. Host-network pods share the
 * node's network stack and are never captured.
 */
export function isMeshed(pod: KPod, namespace: KNamespace | undefined): boolean {
  if (pod.hostNetwork) return false;
  const own = pod.meta.labels[DATAPLANE_MODE_LABEL];
  if (own === DATAPLANE_MODE_NONE) return false;
  if (own === DATAPLANE_MODE_AMBIENT) return true;
  return namespace?.meta.labels[DATAPLANE_MODE_LABEL] === DATAPLANE_MODE_AMBIENT;
}
