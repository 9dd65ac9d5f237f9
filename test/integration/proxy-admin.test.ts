import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin } from '../../src/telemetry/admin';
import { endpoint, meshConfig, request, startBackend, startProxy } from './proxy-helpers';

test('admin serves the same metrics on /metrics and /stats/prometheus, and readiness with reasons', async (t) => {
  const backend = await startBackend('a');
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)]));
  let state = { ready: false, reasons: ['no valid config loaded', 'eBPF programs not attached'] };
  const admin = await startAdmin({ host: '127.0.0.1', metricsPort: 0, readyPort: 0, scrape: async () => ({ text: await proxy.metrics.registry.metrics(), contentType: proxy.metrics.registry.contentType }), ready: () => state });
  t.after(async () => {
    await admin.close();
    await proxy.close();
    await backend.close();
  });
  assert.equal((await request(proxy.addr)).status, 200);

  const m = await request(admin.metrics, { path: '/metrics' });
  assert.equal(m.status, 200);
  assert.match(String(m.headers['content-type']), /^text\/plain/);
  assert.match(m.body, /^istio_requests_total\{.*response_code="200".*\} 1$/m);
  assert.match(m.body, /^istio_request_duration_milliseconds_bucket\{.*le="0.5".*\} \d+$/m);
  assert.match(m.body, /^# TYPE istio_request_duration_milliseconds histogram$/m);
  const p = await request(admin.metrics, { path: '/stats/prometheus' });
  assert.equal(p.status, 200);
  assert.match(p.body, /^istio_requests_total\{.*\} 1$/m);
  assert.equal((await request(admin.metrics, { path: '/nope' })).status, 404);

  const notReady = await request(admin.readiness, { path: '/healthz/ready' });
  assert.equal(notReady.status, 503);
  assert.equal((await request(admin.readiness, { path: '/healthz/live' })).status, 200, 'live while not ready');
  assert.equal(notReady.body, 'no valid config loaded\neBPF programs not attached\n');
  state = { ready: true, reasons: [] };
  const ready = await request(admin.readiness, { path: '/healthz/ready' });
  assert.equal(ready.status, 200);
  assert.equal(ready.body, 'ready\n');
  assert.notEqual(admin.metrics.port, admin.readiness.port);
});
