import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint, Service } from '../../../src/config/model';
import {
  baseLabels,
  destinationInfo,
  HTTP_LABEL_NAMES,
  httpLabels,
  sourceFromWorkload,
  sourceResolver,
  TCP_LABEL_NAMES,
  tcpLabels,
  UNKNOWN_SOURCE,
  type DestinationInfo,
} from '../../../src/telemetry/labels';

const svc: Service = {
  key: 'shop/cart',
  id: 7,
  name: 'cart',
  namespace: 'shop',
  hosts: ['cart.shop.svc.cluster.local', 'cart.example.com'],
  addresses: ['10.96.0.7'],
  ports: [],
  dataplane: 'proxy',
  endpoints: [],
  labels: {},
};

function ep(labels: Record<string, string>, workload: string | null = 'cart-v2'): Endpoint {
  return { address: '10.0.0.9', ports: {}, labels, namespace: 'shop', serviceAccount: 'cart', workload: workload ?? undefined, node: undefined, weight: 1 };
}

const CASES: { name: string; endpoint: Endpoint | undefined; service?: Service; want: Partial<DestinationInfo> }[] = [
  {
    name: 'app/version labels',
    endpoint: ep({ app: 'cart', version: 'v2' }),
    want: { workload: 'cart-v2', workloadNamespace: 'shop', app: 'cart', version: 'v2', canonicalService: 'cart', canonicalRevision: 'v2' },
  },
  {
    name: 'canonical labels win over app/version',
    endpoint: ep({ app: 'cart', version: 'v2', 'service.istio.io/canonical-name': 'cart-svc', 'service.istio.io/canonical-revision': 'r7' }),
    want: { app: 'cart', version: 'v2', canonicalService: 'cart-svc', canonicalRevision: 'r7' },
  },
  {
    name: 'recommended k8s labels as fallbacks',
    endpoint: ep({ 'app.kubernetes.io/name': 'cartd', 'app.kubernetes.io/version': '1.2' }),
    want: { app: 'cartd', version: '1.2', canonicalService: 'cartd', canonicalRevision: '1.2' },
  },
  {
    name: 'no labels: canonical service is the workload, revision "latest" (as Istio)',
    endpoint: ep({}),
    want: { app: 'unknown', version: 'unknown', canonicalService: 'cart-v2', canonicalRevision: 'latest' },
  },
  { name: 'no workload name', endpoint: ep({}, null), want: { workload: 'unknown', canonicalService: 'unknown' } },
  {
    name: 'no endpoint picked (UH)',
    endpoint: undefined,
    want: { workload: 'unknown', workloadNamespace: 'unknown', app: 'unknown', canonicalService: 'unknown', canonicalRevision: 'unknown', serviceName: 'cart' },
  },
];

for (const c of CASES) {
  test(`destinationInfo: ${c.name}`, () => {
    const d = destinationInfo(c.service ?? svc, c.endpoint, 'Kubernetes');
    assert.equal(d.service, 'cart.shop.svc.cluster.local');
    assert.equal(d.serviceName, 'cart');
    assert.equal(d.serviceNamespace, 'shop');
    assert.equal(d.principal, 'unknown');
    assert.equal(d.cluster, 'Kubernetes');
    for (const [k, v] of Object.entries(c.want)) assert.equal(d[k as keyof DestinationInfo], v, k);
  });
}

test('destinationInfo without a service is all unknown', () => {
  const d = destinationInfo(undefined, undefined);
  for (const v of Object.values(d)) assert.equal(v, 'unknown');
});

test('label sets carry exactly Istio names; TCP omits response_code and grpc_response_status', () => {
  const base = baseLabels('source', UNKNOWN_SOURCE, destinationInfo(svc, ep({ app: 'cart' })), 'http', 'unknown');
  const http = httpLabels(base, 200, '-');
  assert.deepEqual(Object.keys(http).sort(), [...HTTP_LABEL_NAMES].sort());
  assert.equal(Object.keys(http).length, 25);
  assert.equal(http['reporter'], 'source');
  assert.equal(http['response_code'], '200');
  assert.equal(http['response_flags'], '-');
  assert.equal(http['grpc_response_status'], '');
  assert.equal(http['connection_security_policy'], 'unknown');
  assert.equal(http['source_workload'], 'unknown');
  assert.equal(httpLabels(base, 503, 'UF')['response_flags'], 'UF');
  assert.equal(httpLabels(base, 0, '')['response_flags'], '-');
  const tcp = tcpLabels(baseLabels('source', UNKNOWN_SOURCE, destinationInfo(svc, undefined), 'tcp', 'unknown'), 'UF');
  assert.deepEqual(Object.keys(tcp).sort(), [...TCP_LABEL_NAMES].sort());
  assert.equal('response_code' in tcp, false);
  assert.equal(tcp['request_protocol'], 'tcp');
});

test('source labels from a workload', () => {
  const s = sourceFromWorkload({ name: 'web-v1', namespace: 'shop', address: '10.0.0.1', labels: { app: 'web', version: 'v1' }, serviceAccount: 'web', node: undefined }, 'Kubernetes');
  assert.deepEqual(s, { workload: 'web-v1', namespace: 'shop', principal: 'unknown', app: 'web', version: 'v1', canonicalService: 'web', canonicalRevision: 'v1', cluster: 'Kubernetes', labels: { app: 'web', version: 'v1' }, identity: '' });
});

test('sourceResolver interns one SourceInfo per workload and falls back to unknown', () => {
  const w = { name: 'web-v1', namespace: 'shop', address: '10.0.0.1', labels: { app: 'web' }, serviceAccount: undefined, node: undefined };
  const resolve = sourceResolver((ip) => (ip === w.address ? w : undefined));
  const a = resolve({ address: '10.0.0.1' });
  assert.equal(a.workload, 'web-v1');
  assert.equal(resolve({ address: '10.0.0.1' }), a);
  assert.equal(resolve({ address: '10.0.0.2' }), UNKNOWN_SOURCE);
});
