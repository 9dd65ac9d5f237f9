// Locality load balancing and active health checks in process, on loopback: three backends in two
// zones (WorkloadEntry locality), the agent in zone z1. The local backend takes every request; once it
// is ejected the other zone's take them. A HealthCheck takes a backend whose /healthz fails out of
// balancing and brings it back when it passes again.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type * as net from 'node:net';
import { stringify } from 'yaml';
import type { Addr } from '../../src/capture/types';
import type { MeshConfig } from '../../src/config/model';
import { buildConfig } from '../../src/config/load';
import { BalancerSet } from '../../src/balance/set';
import { parseLocality } from '../../src/balance/locality';
import { createOutboundListener } from '../../src/downstream/outbound';
import { ServiceIndex } from '../../src/state/services';
import { DISABLED_ACCESS_LOG } from '../../src/telemetry/accesslog';
import { Metrics } from '../../src/telemetry/metrics';
import { Prober } from '../../src/upstream/prober';
import { eventually, request, sample } from './proxy-helpers';

const VIP: Addr = { address: '127.0.108.1', port: 80 };

interface Backend {
  readonly name: string;
  readonly addr: Addr;
  /** Answer requests with this status (200 = healthy). */
  status: number;
  /** Answer /healthz with this status. */
  health: number;
  served: number;
}

async function backend(t: TestContext, name: string, address: string): Promise<Backend> {
  const b = { name, status: 200, health: 200, served: 0 } as Backend & { addr: Addr };
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') return void res.writeHead(b.health).end();
    b.served++;
    res.writeHead(b.status, { 'x-backend': name }).end(name);
  });
  server.listen(0, address);
  await once(server, 'listening');
  b.addr = { address, port: (server.address() as net.AddressInfo).port };
  t.after(() => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())));
  return b;
}

function config(backends: readonly Backend[], localities: readonly string[], extra: readonly object[]): MeshConfig {
  const docs: object[] = [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'web' },
      spec: { hosts: ['web.default.svc.cluster.local'], addresses: [VIP.address], ports: [{ number: VIP.port, name: 'http' }], resolution: 'STATIC', workloadSelector: { labels: { app: 'web' } } },
    },
    ...backends.map((b, i) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: b.name },
      spec: { address: b.addr.address, ports: { http: b.addr.port }, labels: { app: 'web' }, locality: localities[i] },
    })),
    ...extra,
  ];
  const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: docs.map((d) => stringify(d)).join('---\n') }], issues: [], warnings: [] });
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.field}: ${i.message}`).join('\n'));
  return r.config;
}

async function agent(t: TestContext, cfg: MeshConfig, locality: string) {
  const metrics = new Metrics();
  const balancers = new BalancerSet({
    self: { locality: parseLocality(locality), labels: {} },
    onEject: (e) => metrics.outlierEjections.inc({ service: e.target.service.key, endpoint: e.target.key, reason: e.reason }),
  });
  const prober = new Prober({ health: balancers.health, registry: metrics.registry });
  prober.update(cfg);
  const index = new ServiceIndex(cfg);
  const listener = await createOutboundListener({
    host: '127.0.0.1',
    port: 0,
    deps: { originalDst: () => VIP, index: () => index, metrics, balancers, timeouts: { detectMs: 1_000 }, accessLog: DISABLED_ACCESS_LOG },
  });
  t.after(async () => {
    prober.stop();
    await listener.close(0);
  });
  const addr = listener.address();
  /** Which backends answered N requests (names, sorted, distinct). */
  const who = async (n: number): Promise<string[]> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await request(addr, { headers: { host: 'web.default.svc.cluster.local' } });
      seen.add(String(r.headers['x-backend'] ?? r.status));
    }
    return [...seen].sort();
  };
  return { metrics, balancers, who };
}

const dr = (trafficPolicy: object): object => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'web' }, spec: { host: 'web.default.svc.cluster.local', trafficPolicy } });
const OUTLIER = { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 100 };

test('locality: the local zone is preferred; when its backend is ejected the other zone takes the traffic', async (t) => {
  const a = await backend(t, 'a', '127.0.0.41');
  const b = await backend(t, 'b', '127.0.0.42');
  const c = await backend(t, 'c', '127.0.0.43');
  const cfg = config([a, b, c], ['r1/z1', 'r1/z2', 'r1/z2'], [dr({ outlierDetection: OUTLIER, loadBalancer: { localityLbSetting: { enabled: true } } })]);
  const { who, metrics } = await agent(t, cfg, 'r1/z1');
  assert.deepEqual(await who(6), ['a']);
  a.status = 503;
  const r = await who(1);
  assert.deepEqual(r, ['a'], 'the 503 came from a');
  assert.equal(await sample(metrics, 'nodemesh_outlier_ejections_total', { service: 'default/web' }), 1);
  assert.deepEqual(await who(8), ['b', 'c']);
  assert.equal(a.served, 7);
});

test('locality: failover goes to the configured region before any other', async (t) => {
  const a = await backend(t, 'a', '127.0.0.44');
  const b = await backend(t, 'b', '127.0.0.45');
  const c = await backend(t, 'c', '127.0.0.46');
  const cfg = config([a, b, c], ['r1/z1', 'r2/z1', 'r3/z1'], [dr({ outlierDetection: OUTLIER, loadBalancer: { simple: 'ROUND_ROBIN', localityLbSetting: { failover: [{ from: 'r1', to: 'r3' }] } } })]);
  const { who } = await agent(t, cfg, 'r1/z1');
  a.status = 503;
  await who(1);
  assert.deepEqual(await who(6), ['c']);
});

test('health check: a backend failing its check leaves balancing, and comes back once it passes', async (t) => {
  const a = await backend(t, 'a', '127.0.0.47');
  const b = await backend(t, 'b', '127.0.0.48');
  const hc = { apiVersion: 'nodemesh.io/v1alpha1', kind: 'HealthCheck', metadata: { name: 'web' }, spec: { host: 'web.default.svc.cluster.local', http: { path: '/healthz' }, interval: '50ms', timeout: '2s', unhealthyThreshold: 2, healthyThreshold: 2 } };
  const cfg = config([a, b], ['r1/z1', 'r1/z1'], [hc]);
  const { who, metrics } = await agent(t, cfg, 'r1/z1');
  assert.deepEqual(await who(4), ['a', 'b']);
  const bKey = `${b.addr.address}:${b.addr.port}`;
  await eventually(async () => (await sample(metrics, 'nodemesh_health_checks_total', { service: 'default/web', result: 'healthy' })) >= 2, 'checks run');
  assert.equal(await sample(metrics, 'nodemesh_endpoint_healthy', { service: 'default/web', endpoint: bKey }), 1);
  b.health = 503;
  await eventually(async () => (await sample(metrics, 'nodemesh_endpoint_healthy', { service: 'default/web', endpoint: bKey })) === 0, 'b is checked unhealthy', 400);
  assert.ok((await sample(metrics, 'nodemesh_health_checks_total', { service: 'default/web', result: 'unhealthy' })) >= 2);
  assert.deepEqual(await who(6), ['a']);
  b.health = 200;
  await eventually(async () => (await sample(metrics, 'nodemesh_endpoint_healthy', { service: 'default/web', endpoint: bKey })) === 1, 'b is checked healthy again', 400);
  assert.deepEqual(await who(4), ['a', 'b']);
});

test('health check with locality: the checked-down local backend sends traffic to the other zone', async (t) => {
  const a = await backend(t, 'a', '127.0.0.49');
  const b = await backend(t, 'b', '127.0.0.50');
  const hc = { apiVersion: 'nodemesh.io/v1alpha1', kind: 'HealthCheck', metadata: { name: 'web' }, spec: { host: 'web.default.svc.cluster.local', http: { path: '/healthz' }, interval: '50ms', timeout: '2s', unhealthyThreshold: 1, healthyThreshold: 1 } };
  const cfg = config([a, b], ['r1/z1', 'r1/z2'], [hc, dr({ outlierDetection: OUTLIER })]);
  const { who, balancers } = await agent(t, cfg, 'r1/z1');
  assert.deepEqual(await who(4), ['a']);
  const aKey = `${a.addr.address}:${a.addr.port}`;
  a.health = 503;
  await eventually(() => balancers.health.isDown(aKey), 'a is checked unhealthy', 400);
  assert.deepEqual(await who(4), ['b']);
  a.health = 200;
  await eventually(() => !balancers.health.isDown(aKey), 'a is checked healthy again', 400);
  assert.deepEqual(await who(4), ['a']);
});
