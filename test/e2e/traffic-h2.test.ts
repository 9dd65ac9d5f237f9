// HTTP/2 and gRPC through the captured path, and the VirtualService/DestinationRule/LocalRateLimit
// features that answer locally: faults, mirroring, connection-pool overflow (UO), rate limits (RL).
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { runInCgroup } from '../helpers/sysenv';
import { backend, closeAll, docs, labeledService, scriptedBackend, vip } from './fixtures';
import { startEchoServer } from './grpc-echo';
import { metricSum, Mesh, NODE, rootTest } from './harness';
import { batch } from './traffic-helpers';

const GRPC_CLIENT = path.join(__dirname, 'clients/grpc.js');

const count = <T>(xs: readonly T[], pred: (x: T) => boolean): number => xs.filter(pred).length;

rootTest('gRPC unary and bidirectional streaming keep metadata, trailers and status through the mesh', async (t) => {
  const echo = await startEchoServer('echo-1');
  const v = vip();
  const mesh = new Mesh({ config: labeledService({ name: 'echo', vip: v, port: 7070, protocol: 'GRPC', endpoints: [{ port: echo.port }] }) });
  t.after(async () => {
    await mesh.cleanup();
    await echo.close();
  });
  await mesh.start();

  const seen = JSON.parse(await runInCgroup(mesh.pods, NODE, [GRPC_CLIENT, `${v}:7070`])) as Record<string, Record<string, unknown>>;
  assert.deepEqual(seen.unary, { text: 'ping', echo: 'hello-md', trailer: 'done' });
  assert.deepEqual(seen.failed, { code: 5, details: 'failing with 5', trailer: 'done' });
  assert.deepEqual(seen.chat, { replies: ['m0', 'm1', 'm2', 'm3', 'm4'], trailer: 'chat-done', code: 0 });

  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'echo', request_protocol: 'grpc', grpc_response_status: '0' }), 2);
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'echo', request_protocol: 'grpc', grpc_response_status: '5' }), 1);
});

rootTest('h2load through the agent: every request succeeds over multiplexed h2c streams', async (t) => {
  const server = http2.createServer();
  server.on('stream', (s) => {
    s.respond({ ':status': 200, 'content-type': 'text/plain' });
    s.end('h2-ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const v = vip();
  const mesh = new Mesh({ config: labeledService({ name: 'h2web', vip: v, port: 8080, protocol: 'HTTP2', endpoints: [{ port }] }) });
  t.after(async () => {
    await mesh.cleanup();
    await new Promise<void>((r) => server.close(() => r()));
  });
  await mesh.start();
  const out = await runInCgroup(mesh.pods, 'h2load', ['-n', '2000', '-c', '4', '-m', '20', `http://${v}:8080/`]);
  assert.match(out, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed/, out);
  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'h2web', response_code: '200' }), 2000);
});

rootTest('fault abort and delay hold their percentages; mirrored requests reach the mirror', async (t) => {
  const main = await backend('main');
  const shadow = await backend('shadow');
  const [v, vm] = [vip(), vip()];
  const mesh = new Mesh({
    config: docs(
      labeledService({ name: 'app', vip: v, endpoints: [{ port: main.port }] }),
      labeledService({ name: 'shadow', vip: vm, endpoints: [{ port: shadow.port }] }),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: e2e}
spec:
  hosts: [app.e2e.svc.cluster.local]
  http:
  - name: delayed
    match:
    - uri: {prefix: /slow}
    fault:
      delay: {fixedDelay: 200ms, percentage: {value: 100}}
    route:
    - destination: {host: app.e2e.svc.cluster.local}
  - name: mirrored
    match:
    - uri: {prefix: /mirror}
    route:
    - destination: {host: app.e2e.svc.cluster.local}
    mirror: {host: shadow.e2e.svc.cluster.local}
    mirrorPercentage: {value: 100}
  - name: aborting
    fault:
      abort: {httpStatus: 418, percentage: {value: 30}}
    route:
    - destination: {host: app.e2e.svc.cluster.local}
`,
    ),
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([main, shadow]);
  });
  await mesh.start();

  const aborted = await batch(mesh, Array.from({ length: 1000 }, () => ({ url: `http://${v}/` })), 4);
  const n418 = count(aborted, (r) => r.status === 418);
  // Binomial(1000, 0.3): sd 14.5; ±5 sd.
  assert.ok(n418 >= 228 && n418 <= 372, `abort 30%: got ${n418}/1000`);
  assert.equal(count(aborted, (r) => r.status === 200) + n418, 1000);
  assert.equal(main.hits, 1000 - n418, 'aborted requests never reach the backend');

  const slow = await batch(mesh, Array.from({ length: 10 }, () => ({ url: `http://${v}/slow` })));
  assert.ok(slow.every((r) => r.status === 200 && r.ms >= 190), `every request delayed ≥ 200 ms: ${slow.map((r) => Math.round(r.ms)).join(',')}`);

  const mirrored = await batch(mesh, Array.from({ length: 20 }, () => ({ url: `http://${v}/mirror` })));
  assert.ok(mirrored.every((r) => r.status === 200 && r.body === 'main'), 'the client sees the main response only');
  const deadline = Date.now() + 5000;
  while (shadow.hits < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(shadow.hits, 20, 'every mirrored request reached the mirror');

  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'app', response_code: '418', response_flags: 'FI' }), n418);
  assert.equal(metricSum(m, 'nodemesh_mirror_requests_total', { outcome: 'sent' }), 20);
});

rootTest('connection-pool overflow answers 503 UO and a rate limit 429 RL, without touching another route', async (t) => {
  const slow = await scriptedBackend('slow', () => ({ status: 200, delayMs: 300 }));
  const other = await backend('other');
  const [v, vo] = [vip(), vip()];
  const mesh = new Mesh({
    config: docs(
      labeledService({ name: 'pool', vip: v, endpoints: [{ port: slow.port }] }),
      labeledService({ name: 'other', vip: vo, endpoints: [{ port: other.port }] }),
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pool, namespace: e2e}
spec:
  host: pool.e2e.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 2}
`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other, namespace: e2e}
spec:
  hosts: [other.e2e.svc.cluster.local]
  http:
  - name: limited
    match:
    - uri: {prefix: /limited}
    route:
    - destination: {host: other.e2e.svc.cluster.local}
  - name: open
    route:
    - destination: {host: other.e2e.svc.cluster.local}
`,
      `apiVersion: nodemesh.io/v1alpha1
kind: LocalRateLimit
metadata: {name: limited, namespace: e2e}
spec:
  host: other.e2e.svc.cluster.local
  route: limited
  tokenBucket: {maxTokens: 5, tokensPerFill: 5, fillInterval: 60s}
`,
    ),
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([slow, other]);
  });
  await mesh.start();

  const burst = await batch(mesh, Array.from({ length: 10 }, () => ({ url: `http://${v}/` })), 10);
  const uo = count(burst, (r) => r.status === 503);
  // One request in flight (maxConnections 1) and one waiting (http1MaxPendingRequests 1): the rest overflow.
  assert.ok(uo >= 6, `10 concurrent requests over 1 connection + 1 pending: most overflow, got ${uo} 503s`);
  assert.ok(count(burst, (r) => r.status === 200) >= 2, 'the in-flight and the pending request are served');
  assert.equal(count(burst, (r) => r.status === 200) + uo, 10);

  const limited = await batch(mesh, Array.from({ length: 8 }, () => ({ url: `http://${vo}/limited` })), 1, ['retry-after']);
  assert.deepEqual(limited.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429, 429]);
  assert.ok(Number(limited[5]!.headers['retry-after']) >= 1, 'a 429 says when to come back');
  const open = await batch(mesh, Array.from({ length: 20 }, () => ({ url: `http://${vo}/open` })), 4);
  assert.equal(count(open, (r) => r.status === 200), 20, 'the other route is not limited');

  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'pool', response_code: '503', response_flags: 'UO' }), uo);
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'other', response_code: '429', response_flags: 'RL' }), 3);
  assert.ok(metricSum(m, 'nodemesh_upstream_overflow_total', { service: 'e2e/pool' }) >= uo);
  assert.equal(metricSum(m, 'nodemesh_rate_limited_total', { service: 'e2e/other' }), 3);
});
