import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../../src/config/model';
import { UNKNOWN_SOURCE } from '../../../src/telemetry/labels';
import { DURATION_BUCKETS_MS, Metrics } from '../../../src/telemetry/metrics';

const svc: Service = {
  key: 'ns/a',
  id: 1,
  name: 'a',
  namespace: 'ns',
  hosts: ['a.ns.svc.cluster.local'],
  addresses: [],
  ports: [],
  dataplane: 'proxy',
  endpoints: [],
  labels: {},
};

test('histograms use Envoy buckets and export cumulative counts, sum and count', async () => {
  const m = new Metrics();
  const stats = m.http(UNKNOWN_SOURCE, svc, undefined);
  assert.equal(m.http(UNKNOWN_SOURCE, svc, undefined), stats, 'stats handles are cached');
  for (const ms of [0.2, 0.5, 3, 7000, 5_000_000]) stats.record(200, '-', ms, 10, 20);
  stats.record(503, 'UF', 1, 0, 0);
  const text = await m.registry.metrics();
  const buckets = [...text.matchAll(/^istio_request_duration_milliseconds_bucket\{.*response_code="200".*le="([^"]+)".*\} (\d+)$/gm)].map((x) => [x[1], Number(x[2])]);
  assert.deepEqual(buckets.map((b) => b[0]), [...DURATION_BUCKETS_MS.map(String), '+Inf']);
  const at = (le: string): number => Number(buckets.find((b) => b[0] === le)?.[1]);
  assert.equal(at('0.5'), 2);
  assert.equal(at('5'), 3);
  assert.equal(at('10000'), 4);
  assert.equal(at('3600000'), 4);
  assert.equal(at('+Inf'), 5);
  assert.match(text, /^istio_request_duration_milliseconds_count\{.*response_code="200".*\} 5$/m);
  assert.match(text, /^istio_requests_total\{.*response_code="503".*response_flags="UF".*\} 1$/m);
  assert.match(text, /^istio_request_bytes_sum\{.*response_code="200".*\} 50$/m);
  assert.match(text, /^# TYPE istio_requests_total counter$/m);
  assert.equal(m.requests.size(), 2);
  m.registry.resetMetrics();
  assert.equal(m.requests.size(), 0);
});

test('label values are escaped in the exposition', async () => {
  const m = new Metrics();
  const odd: Service = { ...svc, name: 'we"ird\\name' };
  m.http(UNKNOWN_SOURCE, odd, undefined).record(200, '-', 1, 0, 0);
  assert.match(await m.registry.metrics(), /destination_service_name="we\\"ird\\\\name"/);
});

test('tcp stats: bytes and opened carry "-", closed carries the final flags', async () => {
  const m = new Metrics();
  const s = m.tcp(UNKNOWN_SOURCE, svc, undefined);
  s.opened();
  s.received(100);
  s.sent(40);
  s.sent(0);
  s.closed('UF');
  const text = await m.registry.metrics();
  assert.match(text, /^istio_tcp_received_bytes_total\{.*response_flags="-".*\} 100$/m);
  assert.match(text, /^istio_tcp_sent_bytes_total\{.*\} 40$/m);
  assert.match(text, /^istio_tcp_connections_opened_total\{.*response_flags="-".*\} 1$/m);
  assert.match(text, /^istio_tcp_connections_closed_total\{.*response_flags="UF".*\} 1$/m);
});
