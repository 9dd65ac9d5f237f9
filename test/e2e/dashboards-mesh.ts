// The mesh the dashboard test runs: two nodes with Kubernetes discovery, two namespaces, HTTP and TCP
// services reached on the same node and across nodes, a kernel-mode service, and the traffic policies
// whose counters the dashboards show (retries, a fault, outlier detection on a service with no listener,
// a LocalRateLimit, an active HealthCheck). Certificates live 8 s, so they rotate during the run.
import * as path from 'node:path';
import type { Cluster, Pod } from '../helpers/cluster';
import { AMBIENT, clusterNode, clusterPod, endpointSlice, namespace, service, type SliceEndpoint } from '../helpers/kubeobjects';
import type { KubeObject } from '../helpers/kubeapi';

export const VIP = { web: '10.96.0.10', echo: '10.96.0.11', db: '10.96.0.12', down: '10.96.0.13', limited: '10.96.0.14', front: '10.96.0.15', frontEcho: '10.96.0.16', gone: '10.96.0.17' } as const;
export const WEB_HOST = 'web.shop.svc.cluster.local';

/**
 * n0: client (front), web-v1 (shop), idle (shop: nothing listens); n1: web-v2 (shop), caller (front), and
 * a namespace outside the mesh (no Pod object) where nothing listens either.
 */
export function podsOf(c: Cluster): { client: Pod; webV1: Pod; idle: Pod; webV2: Pod; caller: Pod; outside: Pod } {
  const [n0, n1] = c.nodes as [Cluster['nodes'][0], Cluster['nodes'][0]];
  return { client: n0.pods[0]!, webV1: n0.pods[1]!, idle: n0.pods[2]!, webV2: n1.pods[0]!, caller: n1.pods[1]!, outside: n1.pods[2]! };
}

export function objects(c: Cluster): KubeObject[] {
  const p = podsOf(c);
  const ep = (x: Pod): SliceEndpoint => ({ ip: x.ip, node: x.node, pod: x.name });
  const web = [ep(p.webV1), ep(p.webV2)];
  const httpSvc = (name: string, ns: string, vip: string, port: number, eps: SliceEndpoint[]): KubeObject[] => [
    service(name, ns, vip, [{ name: 'http', port: 80, targetPort: port }]) as KubeObject,
    endpointSlice(`${name}-abcde`, ns, name, [{ name: 'http', port }], eps) as KubeObject,
  ];
  const tcpSvc = (name: string, ns: string, vip: string, port: number, target: number, eps: SliceEndpoint[], labels: Record<string, string> = {}): KubeObject[] => [
    service(name, ns, vip, [{ name: 'tcp', port, targetPort: target }], labels) as KubeObject,
    endpointSlice(`${name}-abcde`, ns, name, [{ name: 'tcp', port: target }], eps) as KubeObject,
  ];
  return [
    namespace('shop', AMBIENT),
    namespace('front', AMBIENT),
    ...c.nodes.map(clusterNode),
    clusterPod(p.client, 'front', { serviceAccount: 'client', labels: { app: 'client', version: 'v1' }, deployment: 'client' }),
    clusterPod(p.caller, 'front', { serviceAccount: 'caller', labels: { app: 'caller', version: 'v1' }, deployment: 'caller' }),
    clusterPod(p.webV1, 'shop', { serviceAccount: 'web', labels: { app: 'web', version: 'v1' }, deployment: 'web-v1' }),
    clusterPod(p.webV2, 'shop', { serviceAccount: 'web', labels: { app: 'web', version: 'v2' }, deployment: 'web-v2' }),
    clusterPod(p.idle, 'shop', { serviceAccount: 'idle', labels: { app: 'idle' }, deployment: 'idle' }),
    // Every service has ports of its own on its endpoints, so the destination agent can tell them apart.
    ...httpSvc('web', 'shop', VIP.web, 8080, web),
    ...httpSvc('limited', 'shop', VIP.limited, 8081, web),
    ...httpSvc('down', 'shop', VIP.down, 8099, [ep(p.idle)]),
    ...httpSvc('front', 'front', VIP.front, 8080, [ep(p.client)]),
    ...tcpSvc('echo', 'shop', VIP.echo, 9000, 9000, web),
    ...tcpSvc('db', 'shop', VIP.db, 9100, 9001, web, { 'nodemesh.io/dataplane': 'kernel' }),
    // Outside the mesh: the agent connects to it directly, so a refused connect ejects it (passive health).
    ...tcpSvc('gone', 'shop', VIP.gone, 9300, 9300, [ep(p.outside)]),
    ...tcpSvc('front-echo', 'front', VIP.frontEcho, 9000, 9000, [ep(p.client)]),
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        hosts: ['web'],
        http: [
          { name: 'chaos', match: [{ headers: { 'x-chaos': {} } }], fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }, route: [{ destination: { host: 'web' } }] },
          { name: 'main', retries: { attempts: 1, retryOn: '5xx' }, route: [{ destination: { host: 'web' } }] },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'down', namespace: 'shop' },
      spec: { host: 'down', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '2s', maxEjectionPercent: 100 } } },
    },
  ];
}

/** The ConfigMap part: nodemesh's own kinds, which come only from there. */
export const CONFIG = `apiVersion: nodemesh.io/v1alpha1
kind: LocalRateLimit
metadata: {name: limited, namespace: shop}
spec:
  host: limited.shop.svc.cluster.local
  tokenBucket: {maxTokens: 2, tokensPerFill: 2, fillInterval: 1s}
---
apiVersion: nodemesh.io/v1alpha1
kind: HealthCheck
metadata: {name: web, namespace: shop}
spec:
  host: web.shop.svc.cluster.local
  http: {path: /healthz}
  interval: 1s
  timeout: 500ms
`;

/** Servers: both web pods (HTTP 8080 and 8081, TCP echo 9000 and 9001) and the client pod (8080, 9000). */
export function servers(c: Cluster): { pod: Pod; http: string; tcp: string }[] {
  const p = podsOf(c);
  return [
    { pod: p.webV1, http: '8080,8081', tcp: '9000,9001' },
    { pod: p.webV2, http: '8080,8081', tcp: '9000,9001' },
    { pod: p.client, http: '8080', tcp: '9000' },
  ];
}

export const SERVER = (): string => path.join(__dirname, 'clients/status-server.js');
export const LOAD = (): string => path.join(__dirname, 'clients/mixed-load.js');

/**
 * The bounded traffic run: from the client on node-0, HTTP 200s (web, same node or across), 503s from the
 * server (retried once), fault aborts, connect failures (down: HTTP, gone: TCP), rate-limited requests,
 * TCP echoes through the proxy (echo) and in kernel mode (db); from the caller on node-1, HTTP and TCP
 * across nodes to the client's own servers (front, front-echo) and HTTP to web.
 */
export function loads(c: Cluster, durationMs: number): { pod: Pod; spec: object }[] {
  const p = podsOf(c);
  return [
    {
      pod: p.client,
      spec: {
        durationMs,
        intervalMs: 150,
        http: [
          { url: `http://${VIP.web}/ok` },
          { url: `http://${VIP.web}/status/503` },
          { url: `http://${VIP.web}/chaos`, headers: { 'x-chaos': '1' } },
          { url: `http://${VIP.down}/` },
          { url: `http://${VIP.limited}/` },
        ],
        tcp: [`${VIP.echo}:9000`, `${VIP.db}:9100`, `${VIP.gone}:9300`],
      },
    },
    { pod: p.caller, spec: { durationMs, intervalMs: 200, http: [{ url: `http://${VIP.front}/ok` }, { url: `http://${VIP.web}/ok` }], tcp: [`${VIP.frontEcho}:9000`] } },
  ];
}
