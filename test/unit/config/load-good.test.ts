// Valid configs and the model they build: defaults, derived protocols, selection, freezing, hashing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { protocolFromName } from '../../../src/config/kinds/serviceentry';
import type { Endpoint, PortProtocol } from '../../../src/config/model';
import { docs, echoSpec, fixture, loadText, loadTexts, mustLoad, serviceEntry, workloadEntry } from './helpers';

const endpoint = (address: string, over: Partial<Endpoint> = {}): Endpoint => ({
  address,
  ports: {},
  labels: {},
  namespace: 'default',
  serviceAccount: undefined,
  workload: undefined,
  node: undefined,
  weight: 1,
  ...over,
});

test('the basic fixture builds the documented model', () => {
  const r = loadTexts({ 'basic.yaml': readFileSync(fixture('basic.yaml'), 'utf8') });
  assert.ok(r.ok);
  assert.deepEqual(r.warnings, []);
  const [echo, kv] = r.config.services;
  assert.deepEqual(echo, {
    key: 'default/echo',
    id: 607507450,
    name: 'echo',
    namespace: 'default',
    hosts: ['echo.default.svc.cluster.local'],
    addresses: ['127.0.10.1'],
    ports: [
      { number: 80, name: 'http-web', protocol: 'HTTP', targetPort: 18080 },
      { number: 9000, name: 'tcp-raw', protocol: 'TCP', targetPort: 19000 },
    ],
    dataplane: 'proxy',
    endpoints: [
      endpoint('127.0.0.2', { labels: { app: 'echo', version: 'v1' }, serviceAccount: 'echo' }),
      endpoint('127.0.0.3', { labels: { app: 'echo', version: 'v2' }, serviceAccount: 'echo' }),
    ],
    labels: {},
  });
  assert.equal(kv?.key, 'default/kv');
  assert.equal(kv?.dataplane, 'kernel');
  assert.deepEqual(kv?.endpoints, [
    endpoint('127.0.0.4', {
      labels: { 'kubernetes.io/hostname': 'node-a', app: 'kv' },
      serviceAccount: 'kv',
      workload: 'kv-0',
      node: 'node-a',
    }),
  ]);
  assert.deepEqual(r.config.workloads, [
    { name: 'kv-0', namespace: 'default', address: '127.0.0.4', labels: { 'kubernetes.io/hostname': 'node-a', app: 'kv' }, serviceAccount: 'kv', node: 'node-a' },
  ]);
  assert.deepEqual(r.config.source.files, ['basic.yaml']);
  assert.match(r.config.source.hash, /^[0-9a-f]{64}$/);
});

test('defaults: namespace, targetPort, weight, dataplane, resolution', () => {
  const c = mustLoad(docs(serviceEntry('echo', { hosts: ['echo'], ports: [{ number: 80, name: 'web' }], endpoints: [{ address: '10.1.0.1' }] })));
  const s = c.services[0];
  assert.equal(s?.namespace, 'default');
  assert.equal(s?.dataplane, 'proxy');
  assert.deepEqual(s?.addresses, []);
  assert.deepEqual(s?.ports, [{ number: 80, name: 'web', protocol: undefined, targetPort: 80 }]);
  assert.equal(s?.endpoints[0]?.weight, 1);
});

const PROTOCOL_CASES: readonly [string, PortProtocol | undefined][] = [
  ['http', 'HTTP'],
  ['http-web', 'HTTP'],
  ['HTTP-Web', 'HTTP'],
  ['http2', 'HTTP2'],
  ['http2-api', 'HTTP2'],
  ['grpc', 'GRPC'],
  ['grpc-api', 'GRPC'],
  ['grpc-web', undefined],
  ['tcp', 'TCP'],
  ['tcp-db', 'TCP'],
  ['tls', 'TLS'],
  ['https', 'HTTPS'],
  ['https-admin', 'HTTPS'],
  ['httpx', undefined],
  ['web', undefined],
  ['mongo', undefined],
  ['redis-cache', undefined],
];

for (const [name, want] of PROTOCOL_CASES) {
  test(`port name "${name}" derives protocol ${want ?? '(sniff)'}`, () => {
    assert.equal(protocolFromName(name), want);
    const c = mustLoad(docs(serviceEntry('s', echoSpec({ ports: [{ number: 80, name }] }))));
    assert.equal(c.services[0]?.ports[0]?.protocol, want);
  });
}

test('declared protocol wins over the name and is case-insensitive', () => {
  const c = mustLoad(docs(serviceEntry('s', echoSpec({ ports: [{ number: 80, name: 'http-x', protocol: 'grpc' }, { number: 81, name: 'y', protocol: 'Tls' }] }))));
  assert.deepEqual(c.services[0]?.ports.map((p) => p.protocol), ['GRPC', 'TLS']);
});

test('addresses accept /32 and hosts are lower-cased', () => {
  const c = mustLoad(docs(serviceEntry('s', echoSpec({ hosts: ['Echo.Example.COM', '*.wild.example'], addresses: ['127.0.10.1/32', '127.0.10.2'] }))));
  assert.deepEqual(c.services[0]?.addresses, ['127.0.10.1', '127.0.10.2']);
  assert.deepEqual(c.services[0]?.hosts, ['echo.example.com', '*.wild.example']);
});

test('older networking versions, location, exportTo and endpoint extras are accepted', () => {
  for (const apiVersion of ['networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3']) {
    const spec = echoSpec({
      location: 'mesh_external',
      exportTo: ['.'],
      endpoints: [{ address: '127.0.0.2', ports: { http: 8080 }, labels: { 'kubernetes.io/hostname': 'n1' }, network: 'n', locality: 'r/z', weight: 4294967295, serviceAccount: 'sa' }],
    });
    const c = mustLoad(docs({ ...serviceEntry('s', spec), apiVersion }));
    assert.deepEqual(
      c.services[0]?.endpoints[0],
      { ...endpoint('127.0.0.2', { ports: { http: 8080 }, labels: { 'kubernetes.io/hostname': 'n1' }, node: 'n1', weight: 4294967295, serviceAccount: 'sa' }), locality: 'r/z' },
    );
  }
});

test('kubectl get -o yaml output loads (server metadata and status are ignored)', () => {
  const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry"}
  creationTimestamp: "2024-05-01T10:00:00Z"
  generation: 3
  name: echo
  namespace: shop
  resourceVersion: "12345"
  uid: 0b6b1f0e-7d0a-4c1e-9a8f-0123456789ab
  managedFields:
  - apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {}}
    manager: kubectl
    operation: Update
spec:
  hosts: [echo.shop]
  ports: [{number: 80, name: http}]
  endpoints: [{address: 10.0.0.5}]
status:
  validationMessages: []
`;
  const c = mustLoad(yaml);
  assert.equal(c.services[0]?.key, 'shop/echo');
});

test('a v1 List of objects is read item by item', () => {
  const c = mustLoad(docs({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [serviceEntry('a', echoSpec()), workloadEntry('w', { address: '10.0.0.9' })] }));
  assert.deepEqual(c.services.map((s) => s.key), ['default/a']);
  assert.deepEqual(c.workloads.map((w) => w.address), ['10.0.0.9']);
});

test('JSON files and empty documents', () => {
  const r = loadTexts({
    'a.json': JSON.stringify(serviceEntry('a', echoSpec())),
    'b.yaml': `---\n# nothing here\n---\n${docs(serviceEntry('b', echoSpec({ hosts: ['b'], addresses: ['127.0.10.2'] })))}---\n`,
  });
  assert.ok(r.ok);
  assert.deepEqual(r.config.services.map((s) => s.key), ['default/a', 'default/b']);
  assert.deepEqual(r.config.source.files, ['a.json', 'b.yaml']);
});

test('workloadSelector selects WorkloadEntries of the same namespace by metadata or spec labels', () => {
  const c = mustLoad(
    docs(
      serviceEntry('api', echoSpec({ endpoints: undefined, workloadSelector: { labels: { app: 'api' } }, ports: [{ number: 80, name: 'http' }] })),
      workloadEntry('api-b', { address: '10.0.0.2', ports: { http: 8080 }, weight: 3 }, { labels: { app: 'api' } }),
      workloadEntry('api-a', { address: '10.0.0.1', labels: { app: 'api', version: 'v2' } }),
      workloadEntry('web', { address: '10.0.0.3', labels: { app: 'web' } }),
      workloadEntry('api-other-ns', { address: '10.0.0.4', labels: { app: 'api' } }, { namespace: 'other' }),
    ),
  );
  const eps = c.services[0]?.endpoints ?? [];
  assert.deepEqual(eps.map((e) => [e.workload, e.address, e.weight]), [['api-a', '10.0.0.1', 1], ['api-b', '10.0.0.2', 3]]);
  assert.deepEqual(eps[1]?.ports, { http: 8080 });
  assert.equal(c.workloads.length, 4);
});

test('a service without endpoints is a warning, not an error', () => {
  const r = loadText(docs(serviceEntry('lonely', echoSpec({ endpoints: undefined }))));
  assert.ok(r.ok);
  assert.equal(r.warnings.length, 1);
  assert.equal(r.warnings[0]?.field, 'spec.endpoints');
  assert.match(r.warnings[0]?.message ?? '', /no endpoints/);
});

test('kernel-mode services: 64 endpoints are fine', () => {
  const endpoints = Array.from({ length: 64 }, (_, i) => ({ address: `127.0.1.${i + 1}` }));
  const c = mustLoad(docs(serviceEntry('k', echoSpec({ endpoints }), { labels: { 'nodemesh.io/dataplane': 'kernel' } })));
  assert.equal(c.services[0]?.dataplane, 'kernel');
  assert.equal(c.services[0]?.endpoints.length, 64);
});

test('the same VIP on different ports, and the same name in two namespaces, are fine', () => {
  const c = mustLoad(
    docs(
      serviceEntry('a', echoSpec()),
      serviceEntry('b', echoSpec({ hosts: ['b'], ports: [{ number: 81, name: 'http' }] })),
      serviceEntry('a', echoSpec({ hosts: ['a2'], addresses: ['127.0.10.3'] }), { namespace: 'other' }),
    ),
  );
  assert.deepEqual(c.services.map((s) => s.key), ['default/a', 'default/b', 'other/a']);
});

test('the config is deeply frozen', () => {
  const c = mustLoad(docs(serviceEntry('a', echoSpec({ endpoints: [{ address: '127.0.0.2', labels: { a: 'b' } }] }))));
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.services));
  assert.ok(Object.isFrozen(c.services[0]?.endpoints[0]?.labels));
  assert.ok(Object.isFrozen(c.source.files));
  assert.throws(() => {
    (c.services[0]?.ports as unknown as unknown[]).push({});
  }, TypeError);
});

test('source.hash depends on names and contents, not on the order files were read', () => {
  const a = docs(serviceEntry('a', echoSpec()));
  const b = docs(serviceEntry('b', echoSpec({ hosts: ['b'], addresses: ['127.0.10.2'] })));
  const hash = (files: Record<string, string>): string => {
    const r = loadTexts(files);
    assert.ok(r.ok);
    return r.config.source.hash;
  };
  assert.equal(hash({ 'a.yaml': a, 'b.yaml': b }), hash({ 'b.yaml': b, 'a.yaml': a }));
  assert.notEqual(hash({ 'a.yaml': a, 'b.yaml': b }), hash({ 'a.yaml': a, 'c.yaml': b }));
  assert.notEqual(hash({ 'a.yaml': a }), hash({ 'a.yaml': `${a}# edited\n` }));
});
