// The cluster the discovery scale bench loads into the Kubernetes API stand-in: nodes, namespaces (every
// other one opted in to the mesh), Services with one EndpointSlice each, and the pods behind them. Pure
// builders: the same index always gives the same object, so a change is "this slice, rebuilt with one
// endpoint more, or one not ready".
//
// Objects come in two shapes. `typical` adds what a real API server sends and nodemesh never reads (managed
// fields, container specs and statuses, conditions, the ServiceAccount token volume): about 4 KB per pod,
// as `kubectl get pod -o json` shows for a small Deployment's pod, so list transfer and JSON parsing cost
// what they cost in a cluster. `minimal` is the test builders' output alone (about 0.6 KB per pod).
import type { KubeObject } from '../test/helpers/kubeapi';
import { AMBIENT, endpointSlice, namespace, node, pod, service, type SliceEndpoint } from '../test/helpers/kubeobjects';

export type Shape = 'typical' | 'minimal';

export interface ClusterSpec {
  readonly nodes: number;
  readonly namespaces: number;
  readonly services: number;
  /** Pods per service (every pod backs exactly one service: pods = services × this). */
  readonly podsPerService: number;
  /** Services 0..kernel-1 carry nodemesh.io/dataplane=kernel (their endpoints go into nm_backends). */
  readonly kernelServices: number;
  readonly shape: Shape;
}

export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;
const HASH = '5d8f7c9b4';
const TIME = '2025-01-01T00:00:00Z';

/** The n-th address counted from a.b.0.0 (n < 65536 × 256 is enough for every range used here). */
export function ipAt(a: number, b: number, n: number): string {
  const v = b * 65536 + n;
  return `${a}.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
}

export const nodeName = (i: number): string => `node-${i}`;
export const nsName = (i: number): string => `ns-${i}`;
export const svcName = (s: number): string => `svc-${s}`;
export const svcNamespace = (c: ClusterSpec, s: number): string => nsName(s % c.namespaces);
export const clusterIP = (s: number): string => ipAt(10, 96, s + 1);
const podIndex = (c: ClusterSpec, s: number, k: number): number => s * c.podsPerService + k;
export const podIP = (c: ClusterSpec, s: number, k: number): string => ipAt(10, 128, podIndex(c, s, k) + 1);
const podName = (s: number, k: number): string => `${svcName(s)}-${HASH}-p${k}`;
const podNode = (c: ClusterSpec, s: number, k: number): string => nodeName(podIndex(c, s, k) % c.nodes);
/** Addresses of endpoints the bench adds during changes: outside every range the cluster uses. */
export const extraIP = (n: number): string => ipAt(10, 200, n + 1);

export const pods = (c: ClusterSpec): number => c.services * c.podsPerService;
export const isKernel = (c: ClusterSpec, s: number): boolean => s < c.kernelServices;

/** What a real API server adds to every object: the managed-fields record of its last writer. */
function managed(manager: string, fields: Record<string, unknown>): Record<string, unknown>[] {
  return [{ manager, operation: 'Update', apiVersion: 'v1', time: TIME, fieldsType: 'FieldsV1', fieldsV1: fields }];
}

function withExtras(o: KubeObject, extras: { metadata?: Record<string, unknown>; spec?: Record<string, unknown>; status?: Record<string, unknown> }): KubeObject {
  const out = { ...o, metadata: { ...o.metadata, ...extras.metadata } } as KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };
  if (extras.spec) out.spec = { ...(o.spec as Record<string, unknown>), ...extras.spec };
  if (extras.status) out.status = { ...(o.status as Record<string, unknown>), ...extras.status };
  return out;
}

const condition = (type: string): Record<string, unknown> => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: TIME });

function typicalPod(o: KubeObject, s: number, k: number, ip: string): KubeObject {
  const token = `kube-api-access-${(s * 31 + k).toString(36).padStart(5, 'x').slice(-5)}`;
  const spec = o.spec as { containers: Record<string, unknown>[] };
  return withExtras(o, {
    metadata: {
      generateName: `${svcName(s)}-${HASH}-`,
      annotations: { 'kubectl.kubernetes.io/restartedAt': TIME },
      managedFields: [
        ...managed('kube-controller-manager', { 'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': { '.': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:name': {}, 'f:ports': {}, 'f:resources': {} } }, 'f:dnsPolicy': {}, 'f:restartPolicy': {}, 'f:schedulerName': {}, 'f:securityContext': {}, 'f:terminationGracePeriodSeconds': {} } }),
        ...managed('kubelet', { 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:hostIP': {}, 'f:phase': {}, 'f:podIP': {}, 'f:podIPs': {}, 'f:startTime': {} } }),
      ],
    },
    spec: {
      containers: spec.containers.map((c) => ({
        ...c,
        imagePullPolicy: 'IfNotPresent',
        ports: [{ name: 'http', containerPort: TARGET_PORT, protocol: 'TCP' }],
        resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        volumeMounts: [{ name: token, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
      })),
      dnsPolicy: 'ClusterFirst',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      securityContext: {},
      serviceAccount: svcName(s),
      terminationGracePeriodSeconds: 30,
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      volumes: [{
        name: token,
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
        },
      }],
    },
    status: {
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
      containerStatuses: [{
        name: 'app',
        image: 'registry.example/app:1',
        imageID: `registry.example/app@sha256:${'0f'.repeat(32)}`,
        containerID: `containerd://${(s * 7919 + k).toString(16).padStart(64, '0')}`,
        ready: true,
        started: true,
        restartCount: 0,
        lastState: {},
        state: { running: { startedAt: TIME } },
      }],
      hostIPs: [{ ip: '10.0.0.1' }],
      startTime: TIME,
      podIP: ip,
    },
  });
}

export function podObject(c: ClusterSpec, s: number, k: number): KubeObject {
  const ip = podIP(c, s, k);
  const o = pod({ name: podName(s, k), namespace: svcNamespace(c, s), node: podNode(c, s, k), ip, serviceAccount: svcName(s), deployment: svcName(s), labels: { app: svcName(s) } }) as KubeObject;
  return c.shape === 'typical' ? typicalPod(o, s, k, ip) : o;
}

export function serviceObject(c: ClusterSpec, s: number): KubeObject {
  const labels: Record<string, string> = { app: svcName(s), ...(isKernel(c, s) ? { 'nodemesh.io/dataplane': 'kernel' } : {}) };
  const o = service(svcName(s), svcNamespace(c, s), clusterIP(s), [{ name: 'http', port: SERVICE_PORT, targetPort: TARGET_PORT }], labels) as KubeObject;
  if (c.shape === 'minimal') return o;
  return withExtras(o, {
    metadata: {
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: svcName(s), namespace: svcNamespace(c, s), labels }, spec: { selector: { app: svcName(s) }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: TARGET_PORT }] } }) },
      managedFields: managed('kubectl-client-side-apply', { 'f:metadata': { 'f:annotations': {}, 'f:labels': {} }, 'f:spec': { 'f:internalTrafficPolicy': {}, 'f:ports': {}, 'f:selector': {}, 'f:sessionAffinity': {}, 'f:type': {} } }),
    },
    spec: { internalTrafficPolicy: 'Cluster', ipFamilyPolicy: 'SingleStack', sessionAffinity: 'None' },
  });
}

/** A change to a slice: one endpoint more (at an address of its own), and/or endpoint `notReady` not ready. */
export interface SliceChange {
  readonly extra?: { readonly ip: string; readonly name: string };
  readonly notReady?: number;
}

export function sliceObject(c: ClusterSpec, s: number, change: SliceChange = {}): KubeObject {
  const eps: SliceEndpoint[] = Array.from({ length: c.podsPerService }, (_, k) => ({
    ip: podIP(c, s, k), node: podNode(c, s, k), pod: podName(s, k), ...(change.notReady === k ? { ready: false } : {}),
  }));
  if (change.extra) eps.push({ ip: change.extra.ip, node: nodeName(0), pod: change.extra.name });
  const o = endpointSlice(`${svcName(s)}-x7k2q`, svcNamespace(c, s), svcName(s), [{ name: 'http', port: TARGET_PORT }], eps) as KubeObject;
  if (c.shape === 'minimal') return o;
  const withZone = o as KubeObject & { endpoints: Record<string, unknown>[] };
  return withExtras({ ...o, endpoints: withZone.endpoints.map((e) => ({ ...e, zone: 'zone-a' })) }, {
    metadata: {
      generateName: `${svcName(s)}-`,
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': TIME },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svcName(s), uid: `svc-${s}`, controller: true, blockOwnerDeletion: true }],
      managedFields: managed('endpointslice-controller.k8s.io', { 'f:addressType': {}, 'f:endpoints': {}, 'f:metadata': { 'f:annotations': {}, 'f:generateName': {}, 'f:labels': {}, 'f:ownerReferences': {} }, 'f:ports': {} }),
    },
  });
}

/** Every object of the cluster, cluster-scoped first, then by service: its Service, slice and pods. */
export function* clusterObjects(c: ClusterSpec): Generator<KubeObject> {
  for (let i = 0; i < c.nodes; i++) yield node(nodeName(i), ipAt(10, 250, i + 1)) as KubeObject;
  for (let i = 0; i < c.namespaces; i++) yield namespace(nsName(i), i % 2 === 0 ? AMBIENT : {}) as KubeObject;
  for (let s = 0; s < c.services; s++) {
    yield serviceObject(c, s);
    yield sliceObject(c, s);
    for (let k = 0; k < c.podsPerService; k++) yield podObject(c, s, k);
  }
}
