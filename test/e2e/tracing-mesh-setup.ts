// The cluster of the cross-node tracing test (tracing-mesh.test.ts): a client and a second caller on
// node-0; on node-1 the server pod (HTTP web and gRPC) and a marker pod; AuthorizationPolicy and STRICT
// for the server, Istio's mesh-wide Telemetry sampling every trace. And the pod-side trace server.
import * as path from 'node:path';
import type { Cluster, Pod } from '../helpers/cluster';
import { clientServerMesh, type ServiceSpec } from '../helpers/cluster-config';
import { NODE } from './harness';

export const WEB = '10.96.0.20';
export const HOST = 'web.b.svc.cluster.local';
export const GRPC = '10.96.0.21';
export const GRPC_HOST = 'grpc.b.svc.cluster.local';
/** A second node-1 workload whose spans are never turned off: a marker that node-1 exports. */
export const MARK = '10.96.0.22';

/** Istio's way to keep a workload's server spans out of the backend while its callers still trace. */
export const QUIET_SERVER = `---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: server-quiet, namespace: b}
spec:
  selector: {matchLabels: {app: server}}
  tracing:
  - match: {mode: SERVER}
    disableSpanReporting: true
`;

export function config(c: Cluster, extra = ''): string {
  const services: ServiceSpec[] = [
    { name: 'web', namespace: 'b', vip: WEB, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'server' },
    { name: 'grpc', namespace: 'b', vip: GRPC, port: 7070, protocol: 'GRPC', app: 'server' },
    { name: 'mark', namespace: 'b', vip: MARK, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'marker' },
  ];
  return `${clientServerMesh(c.nodes, { namespace: 'b', serviceAccount: 'marker', app: 'marker' }, services, 'STRICT')}---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - randomSamplingPercentage: 100
${extra}`;
}

/** Starts clients/trace-server.js on POD's port 8080; the paths it serves go to REACHED. */
export const traceServer = (c: Cluster, pod: Pod, reached: string[]): Promise<void> =>
  new Promise<void>((resolve) => {
    const server = c.spawn(pod, NODE, [path.join(__dirname, 'clients/trace-server.js'), '8080']);
    let rest = '';
    server.stdout?.on('data', (d: Buffer) => {
      rest += d.toString();
      for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n')) {
        const line = rest.slice(0, i);
        rest = rest.slice(i + 1);
        if (line === 'ready') resolve();
        else if (line.startsWith('request ')) reached.push(line.slice('request '.length));
      }
    });
  });
