import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../../src/config/model';
import { UNKNOWN_SOURCE } from '../../../src/telemetry/labels';
import { Metrics } from '../../../src/telemetry/metrics';

function service(name: string): Service {
  return { key: `ns/${name}`, id: name.length, name, namespace: 'ns', hosts: [`${name}.ns.svc.cluster.local`], addresses: [], ports: [], dataplane: 'proxy', endpoints: [], labels: {} };
}

test('retainServices drops the series of services that left, and only those', async () => {
  const m = new Metrics();
  const [a, b] = [service('a'), service('b')];
  m.http(UNKNOWN_SOURCE, a, undefined).record(200, '-', 1, 1, 1);
  const gone = m.http(UNKNOWN_SOURCE, b, undefined);
  gone.record(200, '-', 1, 1, 1);
  const tcpGone = m.tcp(UNKNOWN_SOURCE, b, undefined);
  tcpGone.opened();
  tcpGone.closed('-');
  m.http(UNKNOWN_SOURCE, undefined, undefined).record(404, 'NR', 1, 0, 0);
  m.retries.inc({ service: b.key, outcome: 'sent' });
  m.overflows.inc({ service: a.key, limit: 'requests' });
  m.downstreamRejected.inc({ reason: 'no_route' });

  const dropped = await m.retainServices([a]);
  assert.ok(dropped >= 6, `dropped ${dropped}`);
  const text = await m.registry.metrics();
  assert.doesNotMatch(text, /destination_service_name="b"/);
  assert.doesNotMatch(text, /service="ns\/b"/);
  assert.match(text, /^istio_requests_total\{.*destination_service_name="a".*\} 1$/m);
  assert.match(text, /^istio_requests_total\{.*destination_service_name="unknown".*response_code="404".*\} 1$/m, 'no service: kept');
  assert.match(text, /^nodemesh_upstream_overflow_total\{service="ns\/a",limit="requests"\} 1$/m);
  assert.match(text, /^nodemesh_downstream_rejected_total\{reason="no_route"\} 1$/m);

  // A cached handle of the gone service (its connection outlived the config) registers its series anew:
  // nothing is counted into a dropped series, and a returning service starts from zero.
  gone.record(503, '-', 1, 1, 1);
  gone.record(200, '-', 1, 1, 1);
  tcpGone.sent(10);
  const again = await m.registry.metrics();
  assert.match(again, /^istio_requests_total\{.*destination_service_name="b".*response_code="200".*\} 1$/m);
  assert.match(again, /^istio_tcp_sent_bytes_total\{.*destination_service_name="b".*\} 10$/m);
  assert.match(again, /^istio_tcp_connections_opened_total\{.*destination_service_name="b".*\} 0$/m);
});
