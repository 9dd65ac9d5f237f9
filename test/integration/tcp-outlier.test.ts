// TCP routes under a DestinationRule with outlierDetection: a connect failure that ejects the endpoint
// is an outlier ejection, not also a passive-health one (nodemesh_endpoint_ejections_total).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closedPort, eventually, raw, sample, startProxy } from './proxy-helpers';
import { dr, host, meshOf } from './fixtures/h2-harness';

const VIP = '127.0.107.2';

test('tcp: a connect failure ejected by outlierDetection is not counted as a passive-health ejection', async (t) => {
  const dead = await closedPort();
  const cfg = meshOf(
    [{ name: 'db', vip: VIP, endpoints: [dead], portName: 'tcp' }],
    [dr('db', host('db'), { trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1, consecutiveGatewayErrors: 1, interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 100 } } })],
  );
  const p = await startProxy(cfg, { originalDst: () => ({ address: VIP, port: 80 }) });
  t.after(() => p.close());
  await raw(p.addr, 'hello');
  await eventually(async () => (await sample(p.metrics, 'nodemesh_upstream_connect_failures_total')) === 1, 'the connect failure is counted');
  assert.equal(await sample(p.metrics, 'nodemesh_endpoint_ejections_total'), 0);
});
