// Demo, part three: traffic management on one node. A VirtualService sends requests with a header to
// v2 and splits the rest 90/10 with DestinationRule subsets; retries hide a backend that fails every
// other request; a LocalRateLimit answers 429; a gRPC call and stream pass through at L7.
import * as path from 'node:path';
import { runInCgroup } from '../test/helpers/sysenv';
import { backend, closeAll, docs, labeledService, scriptedBackend } from '../test/e2e/fixtures';
import { startEchoServer } from '../test/e2e/grpc-echo';
import { metricSum, Mesh, NODE } from '../test/e2e/harness';
import { batch } from '../test/e2e/traffic-helpers';
import type { PartContext } from './demo/parts';

const REVIEWS = '127.77.1.10';
const FLAKY = '127.77.1.11';
const ECHO = '127.77.1.12';

function config(p: { v1: number; v2: number; flaky: number; echo: number }): string {
  return docs(
    labeledService({ name: 'reviews', vip: REVIEWS, endpoints: [{ port: p.v1, labels: { version: 'v1' } }, { port: p.v2, labels: { version: 'v2' } }] }),
    labeledService({ name: 'flaky', vip: FLAKY, endpoints: [{ port: p.flaky }] }),
    labeledService({ name: 'echo', vip: ECHO, port: 7070, protocol: 'GRPC', endpoints: [{ port: p.echo }] }),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: e2e}
spec:
  host: reviews.e2e.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: e2e}
spec:
  hosts: [reviews.e2e.svc.cluster.local]
  http:
  - name: canary
    match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: reviews.e2e.svc.cluster.local, subset: v2}}]
  - name: split
    route:
    - {destination: {host: reviews.e2e.svc.cluster.local, subset: v1}, weight: 90}
    - {destination: {host: reviews.e2e.svc.cluster.local, subset: v2}, weight: 10}
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky, namespace: e2e}
spec:
  hosts: [flaky.e2e.svc.cluster.local]
  http:
  - route: [{destination: {host: flaky.e2e.svc.cluster.local}}]
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: 5xx}
`,
    `apiVersion: nodemesh.io/v1alpha1
kind: LocalRateLimit
metadata: {name: reviews, namespace: e2e}
spec:
  host: reviews.e2e.svc.cluster.local
  perKey: {header: x-user}
  tokenBucket: {maxTokens: 5, tokensPerFill: 5, fillInterval: 60s}
`,
  ).replace(/namespace: e2e/g, 'namespace: demo').replace(/\.e2e\./g, '.demo.');
}

export async function trafficDemo(ctx: PartContext): Promise<void> {
  const [v1, v2] = [await backend('reviews-v1'), await backend('reviews-v2')];
  const flaky = await scriptedBackend('flaky', (n) => ({ status: n % 2 === 0 ? 503 : 200 }));
  const echo = await startEchoServer('echo');
  const mesh = new Mesh({ config: config({ v1: v1.port, v2: v2.port, flaky: flaky.port, echo: echo.port }) });
  ctx.keepLogs(() => mesh.logs);
  try {
    console.log('\n== part three: traffic management (VirtualService, DestinationRule, LocalRateLimit, gRPC) ==');
    await ctx.progress('the agent to start', mesh.start());
    console.log(`agent up (pid ${mesh.agent?.pid}); config: ${mesh.cfgDir}/mesh.yaml`);

    const split = await batch(mesh, Array.from({ length: 200 }, (_, i) => ({ url: `http://${REVIEWS}/`, headers: { 'x-user': `u${i}` } })), 4);
    const toV2 = split.filter((r) => r.body === 'reviews-v2').length;
    console.log(`reviews, 200 requests, 90/10 split: v1=${split.filter((r) => r.body === 'reviews-v1').length} v2=${toV2}`);
    const canary = await batch(mesh, Array.from({ length: 10 }, (_, i) => ({ url: `http://${REVIEWS}/`, headers: { 'x-canary': 'yes', 'x-user': `c${i}` } })));
    console.log(`reviews with x-canary: yes, 10 requests: ${canary.map((r) => r.body).join(' ')}`);
    const limited = await batch(mesh, Array.from({ length: 7 }, () => ({ url: `http://${REVIEWS}/`, headers: { 'x-user': 'alice' } })), 1, ['retry-after']);
    console.log(`one user, 7 requests against a 5-token bucket: ${limited.map((r) => r.status).join(' ')} (retry-after: ${limited[6]?.headers['retry-after']} s)`);

    const retried = await batch(mesh, Array.from({ length: 20 }, () => ({ url: `http://${FLAKY}/` })));
    console.log(`flaky (every other answer is 503), 20 requests with retries: ${retried.filter((r) => r.status === 200).length}/20 succeeded, backend saw ${flaky.hits}`);

    const grpc = await runInCgroup(mesh.pods, NODE, [path.join(__dirname, '../test/e2e/clients/grpc.js'), `${ECHO}:7070`]);
    console.log(`gRPC through the agent (unary, failing unary, bidirectional stream): ${grpc.trim()}`);

    const m = await mesh.metrics();
    console.log('\nmetrics:');
    console.log(`  nodemesh_retries_total{outcome="sent"} = ${metricSum(m, 'nodemesh_retries_total', { outcome: 'sent' })}`);
    console.log(`  istio_requests_total{response_code="429",response_flags="RL"} = ${metricSum(m, 'istio_requests_total', { response_code: '429', response_flags: 'RL' })}`);
    console.log(`  istio_requests_total{request_protocol="grpc"} = ${metricSum(m, 'istio_requests_total', { request_protocol: 'grpc' })}`);
    console.log('where to look: docs/traffic.md (every field, flag and metric), the access log on the agent\'s stdout.');
  } finally {
    await mesh.cleanup();
    await closeAll([v1, v2, flaky]);
    await echo.close();
    console.log('part three cleaned up.');
  }
}
