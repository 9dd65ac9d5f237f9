// The admin API in-process on port 0 over a real outbound engine: Stats answers the numbers /metrics
// has, per service by name (kernel-mode services too); `nodemesh stat --once` and `nodemesh config`
// print them; a gone agent is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { Datapath, KernelCounters } from '../../src/capture/types';
import type { MeshConfig, Service } from '../../src/config/model';
import { createRootCa } from '../../src/identity/certs';
import { isMeshError } from '../../src/errors';
import { connectAdmin } from '../../src/cli/admin-client';
import { runConfig } from '../../src/cli/config';
import { runStat } from '../../src/cli/stat';
import { startAdminApi, type AdminSource } from '../../src/telemetry/admin-api';
import { seriesOf } from '../../src/telemetry/admin-stats';
import { endpoint, meshConfig, request, sample, startBackend, startProxy } from './proxy-helpers';

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

const CACHE: Service = {
  key: 'default/cache', id: 0xcafe, name: 'cache', namespace: 'default', hosts: ['cache.default.svc.cluster.local'], addresses: ['127.0.100.2'],
  ports: [{ number: 6379, name: 'tcp', protocol: 'TCP', targetPort: 6379 }], dataplane: 'kernel', endpoints: [], labels: {},
};

test('admin API: per-service numbers by name, equal to /metrics; stat --once and config print them', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend('a', (req, res) => {
    res.writeHead(req.url === '/fail' ? 503 : 200);
    res.end('x');
  });
  const base = meshConfig([endpoint(backend.addr)]);
  const cfg: MeshConfig = { ...base, services: [...base.services, CACHE] };
  const proxy = await startProxy(cfg);
  const kernel: KernelCounters[] = [{ serviceId: CACHE.id, opened: 12, closed: 5, bytesSent: 300, bytesReceived: 1200, redirected: 12, splicedBytes: 900 }];
  const datapath = { mode: 'ebpf', counters: () => kernel, maps: () => [] } as unknown as Datapath;
  const root = await createRootCa('cluster.local');
  const src: AdminSource = {
    node: 'node-a', trustDomain: 'cluster.local', startedAt: Date.now() - 65_000, series: async () => seriesOf(proxy.metrics),
    config: () => cfg, generation: () => 2, datapath: () => datapath, datapathEvents: () => ({ connect_seen: 12 }),
    certificates: () => ({ root: root.certPem, held: [{ identity: 'spiffe://cluster.local/ns/default/sa/web', material: undefined }] }),
  };
  const api = await startAdminApi(0, src);
  const address = `127.0.0.1:${api.address.port}`;
  const client = await connectAdmin(address);
  t.after(async () => {
    client.close();
    await api.close();
    await proxy.close();
    await backend.close();
  });
  assert.equal(api.address.address, '127.0.0.1', 'localhost only');

  for (let i = 0; i < 6; i++) assert.equal((await request(proxy.addr)).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await request(proxy.addr, { path: '/fail' })).status, 503);

  const snap = await client.snapshot();
  assert.equal(snap.agent.node, 'node-a');
  assert.equal(snap.agent.config_generation, 2);
  assert.equal(snap.agent.datapath, 'ebpf');
  assert.ok(snap.agent.now_unix_ms - snap.agent.started_unix_ms >= 65_000);
  assert.deepEqual(snap.datapath_events, { connect_seen: 12 });
  const web = snap.services.find((s) => s.name === 'backend' && s.reporter === 'source');
  assert.ok(web, JSON.stringify(snap.services));
  assert.equal(web.host, 'backend.default.svc.cluster.local');
  assert.equal(web.namespace, 'default');
  assert.equal(web.dataplane, 'proxy');
  assert.equal(web.requests.total, 8);
  assert.equal(web.requests.total, await sample(proxy.metrics, 'istio_requests_total', { destination_service_name: 'backend' }), 'the same number as /metrics');
  assert.deepEqual([web.requests.success, web.requests.errors, web.requests.by_class], [6, 2, { '2xx': 6, '5xx': 2 }]);
  assert.equal(web.requests.duration_buckets.reduce((a, b) => a + b, 0), 8);
  assert.equal(web.requests.duration_buckets.length, snap.duration_bounds_ms.length + 1);
  assert.ok(web.requests.p50_ms > 0 && web.requests.p99_ms >= web.requests.p50_ms);
  assert.equal(web.requests.response_bytes, await sample(proxy.metrics, 'istio_response_bytes_sum', { destination_service_name: 'backend' }));
  const cache = snap.services.find((s) => s.name === 'cache');
  assert.deepEqual(cache && [cache.host, cache.reporter, cache.dataplane, cache.kernel.active, cache.kernel.spliced_bytes], ['cache.default.svc.cluster.local', 'source', 'kernel', 7, 900]);

  // stat --once: two samples an interval apart, with traffic in between.
  const json = sink();
  const once = runStat({ address, intervalMs: 1000, once: true, output: 'json', out: json, client });
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 10; i++) await request(proxy.addr);
  kernel[0] = { ...kernel[0]!, opened: 22 };
  assert.equal(await once, 0);
  const doc = JSON.parse(json.text) as { interval_seconds: number; services: { name: string; side: string; requests_per_sec: number; success_rate: number; kernel: { opened_per_sec: number } | null }[] };
  assert.ok(doc.interval_seconds >= 0.9, String(doc.interval_seconds));
  const row = doc.services.find((s) => s.name === 'backend' && s.side === 'out');
  assert.ok(row && row.requests_per_sec > 0, json.text);
  assert.ok(Math.abs(row.requests_per_sec * doc.interval_seconds - 10) < 1e-6, `10 requests in the interval: ${json.text}`);
  assert.equal(row.success_rate, 1, 'the interval had no failure');
  const k = doc.services.find((s) => s.name === 'cache')?.kernel;
  assert.ok(k && Math.abs(k.opened_per_sec * doc.interval_seconds - 10) < 1e-6, json.text);
  assert.equal(doc.services[0]?.name, 'backend', 'busiest first');

  const table = sink();
  assert.equal(await runStat({ address, intervalMs: 100, once: true, output: 'table', out: table, client }), 0);
  assert.match(table.text, /^nodemesh stat · node node-a · up 1m0\ds · config #2 \(test\) · datapath ebpf · 127\.0\.0\.1:\d+ · interval 100ms\n/);
  assert.match(table.text, /^backend\.default\.svc\.cluster\.local +default +out +0 +- +- +- +18 /m);
  assert.match(table.text, /^cache\.default\.svc\.cluster\.local +default +out +0 +- +- +- +0 +0 +0 +17 +0 +0$/m);

  const services = sink();
  await runConfig('services', { address, output: 'table', out: services, client });
  assert.match(services.text, /^default +backend +127\.0\.100\.1 +80\S* +proxy +1 +backend\.default\.svc\.cluster\.local$/m);
  assert.match(services.text, /^default +cache +127\.0\.100\.2 +6379\/TCP +kernel +0 /m);
  const certs = sink();
  await runConfig('certs', { address, output: 'json', out: certs, client });
  const c = JSON.parse(certs.text) as { certificates: { identity: string; status: string }[]; agent: { node: string } };
  assert.deepEqual(c.certificates.map((x) => [x.identity, x.status]), [['spiffe://cluster.local/ns/default/sa/web', 'Pending'], ['ROOTCA', 'Available']]);
  assert.equal(c.agent.node, 'node-a');

  // The agent goes away: the next call says where it looked and what to check.
  await api.close();
  await assert.rejects(client.snapshot(), (e: unknown) => isMeshError(e, 'ADMIN_UNREACHABLE') && e.message.includes(address) && /--admin-port/.test(e.message));
});
