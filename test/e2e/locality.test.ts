// Locality load balancing and active health checks through the captured path (connect4 → agent →
// endpoints), the agent placed in r1/z1 by --locality: the local zone's endpoint takes the traffic,
// the other zone's once it is ejected; a HealthCheck takes a failing endpoint out and brings it back.
import assert from 'node:assert/strict';
import type { BatchResult } from './clients/batch';
import { closeAll, docs, scriptedBackend, vip, type Backend } from './fixtures';
import { metricSum, Mesh, rootTest } from './harness';
import { batch, waitFor } from './traffic-helpers';

const bodies = (rs: readonly BatchResult[]): string[] => [...new Set(rs.map((r) => `${r.status} ${r.body}`))].sort();

function zonedService(name: string, v: string, eps: readonly { port: number; locality: string }[]): string {
  const endpoints = eps.map((e) => `  - address: 127.0.0.1\n    ports:\n      web: ${e.port}\n    locality: ${e.locality}`).join('\n');
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: e2e}
spec:
  hosts: [${name}.e2e.svc.cluster.local]
  addresses: [${v}]
  ports:
  - {number: 80, name: web, protocol: HTTP}
  resolution: STATIC
  endpoints:
${endpoints}
`;
}

const outlierRule = (name: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: e2e}
spec:
  host: ${name}.e2e.svc.cluster.local
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}
    loadBalancer:
      localityLbSetting: {enabled: true}
`;

rootTest('locality: the local zone takes the traffic; the other zone once the local endpoint is ejected', async (t) => {
  let broken = false;
  const a = await scriptedBackend('a', () => ({ status: broken ? 500 : 200 }));
  const b = await scriptedBackend('b', () => ({ status: 200 }));
  const c = await scriptedBackend('c', () => ({ status: 200 }));
  const v = vip();
  const mesh = new Mesh({
    config: docs(zonedService('zoned', v, [{ port: a.port, locality: 'r1/z1' }, { port: b.port, locality: 'r1/z2' }, { port: c.port, locality: 'r1/z2' }]), outlierRule('zoned')),
    extraArgs: ['--locality', 'r1/z1'],
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([a, b, c]);
  });
  await mesh.start();

  const local = await batch(mesh, Array.from({ length: 20 }, () => ({ url: `http://${v}/` })));
  assert.deepEqual(bodies(local), ['200 a'], 'every request stays in the local zone');
  broken = true;
  const failover = await batch(mesh, Array.from({ length: 21 }, () => ({ url: `http://${v}/` })));
  assert.equal(failover.filter((r) => r.status === 500).length, 1, 'one 5xx ejects the local endpoint');
  assert.deepEqual(bodies(failover.slice(1)), ['200 b', '200 c'], 'then the other zone takes the traffic, both endpoints');
  assert.equal(a.hits, 21);
  assert.equal(metricSum(await mesh.metrics(), 'nodemesh_outlier_ejections_total', { service: 'e2e/zoned' }), 1);
});

rootTest('health check: an endpoint failing its HTTP check is taken out, and comes back when it passes', async (t) => {
  let sick = false;
  const answer = (name: string) => (_n: number, req: { url?: string }) => (req.url === '/healthz' ? { status: sick && name === 'a' ? 503 : 200 } : { status: 200 });
  const a = await scriptedBackend('a', answer('a'));
  const b = await scriptedBackend('b', answer('b'));
  const v = vip();
  const check = `apiVersion: nodemesh.io/v1alpha1
kind: HealthCheck
metadata: {name: checked, namespace: e2e}
spec:
  host: checked.e2e.svc.cluster.local
  http: {path: /healthz}
  interval: 200ms
  timeout: 2s
  unhealthyThreshold: 2
  healthyThreshold: 1
`;
  const mesh = new Mesh({
    config: docs(zonedService('checked', v, [{ port: a.port, locality: 'r1/z1' }, { port: b.port, locality: 'r1/z2' }]), outlierRule('checked'), check),
    extraArgs: ['--locality', 'r1/z1'],
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([a, b] as Backend[]);
  });
  await mesh.start();

  const aKey = `127.0.0.1:${a.port}`;
  const healthy = async (): Promise<number> => metricSum(await mesh.metrics(), 'nodemesh_endpoint_healthy', { service: 'e2e/checked', endpoint: aKey });
  await waitFor(async () => metricSum(await mesh.metrics(), 'nodemesh_health_checks_total', { service: 'e2e/checked', result: 'healthy' }) >= 2, 'the checks run');
  assert.deepEqual(bodies(await batch(mesh, Array.from({ length: 10 }, () => ({ url: `http://${v}/` })))), ['200 a']);

  sick = true;
  await waitFor(async () => (await healthy()) === 0, 'a is checked down');
  // Every proxy worker probes on its own schedule: the gauge (min over workers) is 0 once the first
  // sees a down, and the others follow within their next intervals. Then no request goes to a.
  const onlyB = async (): Promise<boolean> => bodies(await batch(mesh, Array.from({ length: 10 }, () => ({ url: `http://${v}/` })))).join() === '200 b';
  await waitFor(onlyB, 'every worker skips a while it is down', 5_000);
  assert.deepEqual(bodies(await batch(mesh, Array.from({ length: 10 }, () => ({ url: `http://${v}/` })))), ['200 b'], 'a is skipped while down');
  assert.ok(metricSum(await mesh.metrics(), 'nodemesh_health_checks_total', { service: 'e2e/checked', result: 'unhealthy' }) >= 2);

  sick = false;
  await waitFor(async () => (await healthy()) === 1, 'a is checked healthy again');
  assert.deepEqual(bodies(await batch(mesh, Array.from({ length: 10 }, () => ({ url: `http://${v}/` })))), ['200 a'], 'a takes the traffic again');
});
