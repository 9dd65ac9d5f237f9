// The upstream protocol as Istio's Envoy chooses it: port protocol × client protocol × gRPC ×
// connectionPool.http (useClientProtocol, h2UpgradePolicy) → HTTP/2 or HTTP/1.1 to the endpoint; and the
// DestinationRule fields that feed it, read into the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PortProtocol } from '../../../src/config/model';
import type { ConnectionPool, TrafficConfig } from '../../../src/config/traffic';
import { upstreamH2 } from '../../../src/upstream/protocol';
import { loadText } from '../config/helpers';
import { dr, withServices } from '../config/traffic-helpers';

type Upstream = 'h2' | 'h1';
const CLIENT_PROTOCOL: ConnectionPool = { useClientProtocol: true };
const UPGRADE: ConnectionPool = { h2Upgrade: true };
const BOTH: ConnectionPool = { useClientProtocol: true, h2Upgrade: true };
const OTHER: ConnectionPool = { maxConnections: 10 };

/** [port protocol, client h2, grpc, pool, upstream]. */
const CASES: readonly [PortProtocol | undefined, boolean, boolean, ConnectionPool | undefined, Upstream][] = [
  // HTTP ports: HTTP/1.1 upstream whatever the client speaks...
  ['HTTP', false, false, undefined, 'h1'],
  ['HTTP', true, false, undefined, 'h1'],
  ['HTTP', true, false, OTHER, 'h1'],
  // ...sniffed ones (undefined): the client's protocol, as Istio's use_downstream_protocol...
  [undefined, false, false, undefined, 'h1'],
  [undefined, true, false, undefined, 'h2'],
  [undefined, true, false, OTHER, 'h2'],
  // ...except gRPC from an HTTP/2 client (it cannot work over HTTP/1.1).
  ['HTTP', true, true, undefined, 'h2'],
  [undefined, true, true, undefined, 'h2'],
  ['HTTP', false, true, undefined, 'h1'],
  // useClientProtocol: the client's protocol, and h2UpgradePolicy has no effect.
  ['HTTP', true, false, CLIENT_PROTOCOL, 'h2'],
  ['HTTP', false, false, CLIENT_PROTOCOL, 'h1'],
  ['HTTP', false, false, BOTH, 'h1'],
  ['HTTP', true, false, BOTH, 'h2'],
  ['HTTP', true, true, CLIENT_PROTOCOL, 'h2'],
  [undefined, true, false, CLIENT_PROTOCOL, 'h2'],
  // h2UpgradePolicy UPGRADE: h2c for every client.
  ['HTTP', false, false, UPGRADE, 'h2'],
  ['HTTP', true, false, UPGRADE, 'h2'],
  ['HTTP', false, true, UPGRADE, 'h2'],
  [undefined, false, false, UPGRADE, 'h2'],
  // HTTP2 and GRPC ports: h2c whatever the policy says.
  ['HTTP2', true, false, undefined, 'h2'],
  ['HTTP2', false, false, undefined, 'h2'],
  ['GRPC', true, true, undefined, 'h2'],
  ['GRPC', false, false, CLIENT_PROTOCOL, 'h2'],
  ['HTTP2', false, false, CLIENT_PROTOCOL, 'h2'],
];

test('upstream protocol: port protocol × client protocol × grpc × connectionPool.http', () => {
  for (const [port, clientH2, grpc, pool, want] of CASES) {
    const got = upstreamH2(port, clientH2, grpc, pool) ? 'h2' : 'h1';
    assert.equal(got, want, `port ${port ?? 'sniffed'}, client ${clientH2 ? 'h2' : 'h1'}, grpc ${grpc}, pool ${JSON.stringify(pool)}`);
  }
});

function traffic(http: Record<string, unknown>): TrafficConfig {
  const r = loadText(withServices(dr('reviews', { host: 'reviews', trafficPolicy: { connectionPool: { http } } })));
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.field}: ${i.message}`).join('\n'));
  assert.ok(r.config.traffic);
  return r.config.traffic;
}

test('connectionPool.http useClientProtocol and h2UpgradePolicy are read into the model', () => {
  const cases: [Record<string, unknown>, ConnectionPool][] = [
    [{ useClientProtocol: true }, { useClientProtocol: true }],
    [{ useClientProtocol: false }, {}],
    [{ h2UpgradePolicy: 'UPGRADE' }, { h2Upgrade: true }],
    [{ h2UpgradePolicy: 'DO_NOT_UPGRADE' }, {}],
    // DEFAULT is meshConfig's h2UpgradePolicy, which Istio ships as DO_NOT_UPGRADE.
    [{ h2UpgradePolicy: 'DEFAULT' }, {}],
    [{ h2UpgradePolicy: 'UPGRADE', useClientProtocol: true, maxRetries: 2 }, { h2Upgrade: true, useClientProtocol: true, maxRetries: 2 }],
  ];
  for (const [http, want] of cases) {
    assert.deepEqual(traffic(http).destinationRules[0]?.trafficPolicy?.connectionPool, want, JSON.stringify(http));
  }
});
