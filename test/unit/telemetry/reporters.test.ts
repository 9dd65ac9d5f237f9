// The reporter deciders: which side records, with which connection_security_policy and principals, for
// each way the agent delivers a request (tunnel, local, direct, refused).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Target } from '../../../src/balance/target';
import type { Endpoint, Service, ServicePort } from '../../../src/config/model';
import { sourceFromWorkload, UNKNOWN_SOURCE, type Reporter, type SourceInfo } from '../../../src/telemetry/labels';
import { DIRECT, deliveryFor, reporterLabels, reportsDestinationHere, securityPolicy, sourceFor, type Delivery, type DeliveryKind } from '../../../src/telemetry/reporters';

const port: ServicePort = { number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 };
const svc: Service = {
  key: 'shop/cart',
  id: 7,
  name: 'cart',
  namespace: 'shop',
  hosts: ['cart.shop.svc.cluster.local'],
  addresses: ['10.96.0.7'],
  ports: [port],
  dataplane: 'proxy',
  endpoints: [],
  labels: {},
};
const endpoint: Endpoint = { address: '10.0.0.9', ports: {}, labels: { app: 'cart', version: 'v2' }, namespace: 'shop', serviceAccount: 'cart', workload: 'cart-v2', node: 'node-0', weight: 1 };
const target: Target = { addr: { address: '10.0.0.9', port: 8080 }, key: '10.0.0.9:8080', endpoint, service: svc, port };
const client = sourceFromWorkload({ name: 'web', namespace: 'shop', address: '10.0.0.1', labels: { app: 'web' }, serviceAccount: 'web', node: 'node-0' }, 'Kubernetes', 'unknown', 'cluster.local/ns/shop/sa/web');

const POLICY: [Reporter, DeliveryKind, string][] = [
  ['source', 'tunnel', 'mutual_tls'],
  ['destination', 'tunnel', 'mutual_tls'],
  ['source', 'local', 'unknown'],
  ['destination', 'local', 'none'],
  ['source', 'direct', 'unknown'],
  ['destination', 'direct', 'none'],
  ['source', 'refused', 'unknown'],
];

for (const [reporter, delivery, want] of POLICY) {
  test(`securityPolicy: ${reporter} reporter, ${delivery} delivery → ${want}`, () => {
    assert.equal(securityPolicy(reporter, delivery), want);
  });
}

test('reportsDestinationHere: only a local delivery (the tunnel has its own destination side)', () => {
  assert.deepEqual((['tunnel', 'local', 'direct', 'refused'] as const).map(reportsDestinationHere), [false, true, false, false]);
});

test('sourceFor: the principal is filled from the workload identity unless the delivery is direct', () => {
  assert.equal(sourceFor(client, 'tunnel', 'Kubernetes').principal, 'cluster.local/ns/shop/sa/web');
  assert.equal(sourceFor(client, 'local', 'Kubernetes').principal, 'cluster.local/ns/shop/sa/web');
  assert.equal(sourceFor(client, 'direct', 'Kubernetes'), client, 'direct: the interned object itself');
  const unknown = sourceFor(UNKNOWN_SOURCE, 'tunnel', 'Kubernetes');
  assert.equal(unknown.principal, 'unknown', 'no identity: no principal');
  assert.equal(unknown.workload, 'unknown');
  assert.equal(unknown.cluster, 'Kubernetes', 'a client of this agent is in its cluster');
});

const LABELS: { name: string; reporter: Reporter; source?: SourceInfo; delivery: Delivery; target: Target | undefined; want: Record<string, string> }[] = [
  {
    name: 'source over the tunnel: mutual_tls, both principals',
    reporter: 'source',
    delivery: { kind: 'tunnel', principal: 'cluster.local/ns/shop/sa/cart' },
    target,
    want: { reporter: 'source', connection_security_policy: 'mutual_tls', source_principal: 'cluster.local/ns/shop/sa/web', destination_principal: 'cluster.local/ns/shop/sa/cart', source_cluster: 'Kubernetes', destination_cluster: 'Kubernetes', destination_workload: 'cart-v2' },
  },
  {
    name: 'source, local: unknown policy, both principals',
    reporter: 'source',
    delivery: { kind: 'local', principal: 'cluster.local/ns/shop/sa/cart' },
    target,
    want: { reporter: 'source', connection_security_policy: 'unknown', source_principal: 'cluster.local/ns/shop/sa/web', destination_principal: 'cluster.local/ns/shop/sa/cart' },
  },
  {
    name: 'destination, local: none (plaintext delivered), both principals, the real source workload',
    reporter: 'destination',
    delivery: { kind: 'local', principal: 'cluster.local/ns/shop/sa/cart' },
    target,
    want: { reporter: 'destination', connection_security_policy: 'none', source_workload: 'web', source_workload_namespace: 'shop', source_principal: 'cluster.local/ns/shop/sa/web', destination_principal: 'cluster.local/ns/shop/sa/cart', source_cluster: 'Kubernetes', destination_cluster: 'Kubernetes' },
  },
  {
    name: 'source, direct: no principals, unknown policy',
    reporter: 'source',
    delivery: DIRECT,
    target,
    want: { connection_security_policy: 'unknown', source_principal: 'unknown', destination_principal: 'unknown', destination_workload: 'cart-v2' },
  },
  {
    name: 'an unknown client: unknown workload and principal, this cluster',
    reporter: 'destination',
    source: UNKNOWN_SOURCE,
    delivery: { kind: 'local', principal: 'cluster.local/ns/shop/sa/cart' },
    target,
    want: { source_workload: 'unknown', source_principal: 'unknown', source_cluster: 'Kubernetes', destination_principal: 'cluster.local/ns/shop/sa/cart', connection_security_policy: 'none' },
  },
  {
    name: 'a client that is not a mesh workload, to a mesh endpoint: refused, so no mutual_tls and no destination principal',
    reporter: 'source',
    source: UNKNOWN_SOURCE,
    delivery: { kind: 'tunnel', principal: 'cluster.local/ns/shop/sa/cart' },
    target,
    want: { connection_security_policy: 'unknown', source_principal: 'unknown', destination_principal: 'unknown', destination_workload: 'cart-v2', destination_service_name: 'cart' },
  },
  {
    name: 'an endpoint without a workload name (a ServiceEntry address): named by the workload at its address',
    reporter: 'destination',
    delivery: { kind: 'local', principal: 'cluster.local/ns/pods/sa/cart', workload: { name: 'cart-7', namespace: 'pods', address: '10.0.0.9', labels: { app: 'cart', version: 'v7' }, serviceAccount: 'cart', node: 'node-0' } },
    target: { ...target, endpoint: { ...endpoint, workload: undefined, labels: {} } },
    want: { destination_workload: 'cart-7', destination_workload_namespace: 'pods', destination_app: 'cart', destination_version: 'v7', destination_principal: 'cluster.local/ns/pods/sa/cart' },
  },
  {
    name: 'no endpoint picked: the service only',
    reporter: 'source',
    delivery: DIRECT,
    target: undefined,
    want: { destination_service_name: 'cart', destination_workload: 'unknown', destination_principal: 'unknown', connection_security_policy: 'unknown' },
  },
];

for (const c of LABELS) {
  test(`reporterLabels: ${c.name}`, () => {
    const l = reporterLabels(c.reporter, c.source ?? client, svc, c.target, c.delivery, 'http', 'Kubernetes');
    for (const [k, v] of Object.entries(c.want)) assert.equal(l[k], v, k);
    assert.equal(Object.keys(l).length, 22, 'the shared labels; response fields are added per series');
  });
}

test('deliveryFor: only a tunnel delivery for a client without identity is refused (the endpoint\'s workload kept)', () => {
  const w = { name: 'cart-7', namespace: 'pods', address: '10.0.0.9', labels: {}, serviceAccount: 'cart', node: 'node-0' };
  const tunnel: Delivery = { kind: 'tunnel', principal: 'cluster.local/ns/pods/sa/cart', workload: w };
  assert.deepEqual(deliveryFor(UNKNOWN_SOURCE, tunnel), { kind: 'refused', principal: '', workload: w });
  assert.equal(deliveryFor(client, tunnel), tunnel);
  for (const d of [DIRECT, { kind: 'local', principal: 'p' } as Delivery]) assert.equal(deliveryFor(UNKNOWN_SOURCE, d), d);
});
