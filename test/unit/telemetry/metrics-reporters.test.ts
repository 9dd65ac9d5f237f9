// One record, both reporters: a handle for a target this agent delivers to locally carries the
// destination side's handle, so HTTP, gRPC and TCP series exist with reporter="source" and
// reporter="destination" for the same requests; tunnel and direct deliveries record the source only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Target } from '../../../src/balance/target';
import type { Endpoint, Service, ServicePort } from '../../../src/config/model';
import { sourceFromWorkload } from '../../../src/telemetry/labels';
import { Metrics } from '../../../src/telemetry/metrics';
import type { Delivery, DeliveryView } from '../../../src/telemetry/reporters';

const port: ServicePort = { number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 };
const svc: Service = { key: 'ns/a', id: 1, name: 'a', namespace: 'ns', hosts: ['a.ns.svc.cluster.local'], addresses: [], ports: [port], dataplane: 'proxy', endpoints: [], labels: {} };
const endpoint: Endpoint = { address: '10.0.0.9', ports: {}, labels: { app: 'a' }, namespace: 'ns', serviceAccount: 'a', workload: 'a-0', node: 'node-0', weight: 1 };
const target: Target = { addr: { address: '10.0.0.9', port: 8080 }, key: '10.0.0.9:8080', endpoint, service: svc, port };
const client = Object.freeze(sourceFromWorkload({ name: 'web', namespace: 'ns', address: '10.0.0.1', labels: {}, serviceAccount: 'web', node: 'node-0' }, 'Kubernetes', 'unknown', 'cluster.local/ns/web/sa/web'));

const view = (kind: Delivery['kind']): DeliveryView => ({ deliveryOf: () => ({ kind, principal: kind === 'direct' ? '' : 'cluster.local/ns/ns/sa/a' }) });

function sum(text: string, name: string, want: Record<string, string>): number {
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) total += Number(m[2]);
  }
  return total;
}

test('local delivery: HTTP and gRPC requests are recorded by both reporters through one handle', async () => {
  const m = new Metrics({ cluster: 'Kubernetes' });
  m.setDelivery(view('local'));
  const h = m.http(client, svc, target);
  assert.equal(m.http(client, svc, target), h, 'cached per (source, target)');
  assert.ok(h.destination, 'the destination handle is linked once, with the handle');
  h.record(200, '-', 3, 10, 20);
  h.record(503, 'UF', 1, 0, 0);
  m.grpc(client, svc, target).record(200, '-', 2, 5, 5, '0');
  const text = await m.registry.metrics();
  for (const reporter of ['source', 'destination']) {
    assert.equal(sum(text, 'istio_requests_total', { reporter, request_protocol: 'http', response_code: '200', source_workload: 'web', destination_workload: 'a-0' }), 1, reporter);
    assert.equal(sum(text, 'istio_requests_total', { reporter, response_code: '503', response_flags: 'UF' }), 1, reporter);
    assert.equal(sum(text, 'istio_requests_total', { reporter, request_protocol: 'grpc', grpc_response_status: '0' }), 1, reporter);
    assert.equal(sum(text, 'istio_request_bytes_sum', { reporter, response_code: '200', request_protocol: 'http' }), 10, reporter);
    assert.equal(sum(text, 'istio_request_duration_milliseconds_count', { reporter, response_code: '200', request_protocol: 'http' }), 1, reporter);
  }
  const both = { source_principal: 'cluster.local/ns/web/sa/web', destination_principal: 'cluster.local/ns/ns/sa/a', source_cluster: 'Kubernetes', destination_cluster: 'Kubernetes' };
  assert.equal(sum(text, 'istio_requests_total', { ...both, reporter: 'source', connection_security_policy: 'unknown' }), 3);
  assert.equal(sum(text, 'istio_requests_total', { ...both, reporter: 'destination', connection_security_policy: 'none' }), 3);
});

test('local delivery: TCP connections are counted by both reporters', async () => {
  const m = new Metrics({ cluster: 'Kubernetes' });
  m.setDelivery(view('local'));
  const s = m.tcp(client, svc, target);
  s.opened();
  s.received(100);
  s.sent(40);
  s.closed('-');
  const text = await m.registry.metrics();
  for (const reporter of ['source', 'destination']) {
    assert.equal(sum(text, 'istio_tcp_connections_opened_total', { reporter, request_protocol: 'tcp' }), 1, reporter);
    assert.equal(sum(text, 'istio_tcp_received_bytes_total', { reporter }), 100, reporter);
    assert.equal(sum(text, 'istio_tcp_sent_bytes_total', { reporter }), 40, reporter);
    assert.equal(sum(text, 'istio_tcp_connections_closed_total', { reporter, response_flags: '-' }), 1, reporter);
  }
});

test('tunnel and direct deliveries: the source reporter only, mutual_tls over the tunnel; a new view renews the handles', async () => {
  const m = new Metrics({ cluster: 'Kubernetes' });
  m.setDelivery(view('tunnel'));
  const tunnelled = m.http(client, svc, target);
  assert.equal(tunnelled.destination, undefined, 'the peer agent reports the destination side');
  tunnelled.record(200, '-', 1, 0, 0);
  m.setDelivery(undefined);
  const direct = m.http(client, svc, target);
  assert.notEqual(direct, tunnelled);
  assert.equal(direct.destination, undefined);
  direct.record(200, '-', 1, 0, 0);
  const text = await m.registry.metrics();
  assert.equal(sum(text, 'istio_requests_total', { reporter: 'source', connection_security_policy: 'mutual_tls', source_principal: 'cluster.local/ns/web/sa/web', destination_principal: 'cluster.local/ns/ns/sa/a' }), 1);
  assert.equal(sum(text, 'istio_requests_total', { reporter: 'source', connection_security_policy: 'unknown', source_principal: 'unknown', destination_principal: 'unknown' }), 1);
  assert.equal(sum(text, 'istio_requests_total', { reporter: 'destination' }), 0);
});

test('local delivery: retired series (the service left the config) come back on both sides', async () => {
  const m = new Metrics({ cluster: 'Kubernetes' });
  m.setDelivery(view('local'));
  const h = m.http(client, svc, target);
  h.record(200, '-', 1, 0, 0);
  assert.equal(await m.retainServices([]), 8, 'four families per reporter');
  h.record(200, '-', 1, 0, 0);
  const text = await m.registry.metrics();
  assert.equal(sum(text, 'istio_requests_total', { reporter: 'source' }), 1);
  assert.equal(sum(text, 'istio_requests_total', { reporter: 'destination' }), 1);
});
