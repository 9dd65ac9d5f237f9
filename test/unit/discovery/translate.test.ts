// Discovery's view → parsed services, workloads and nodes: hosts, VIPs, port protocols, endpoints by
// condition, identity and node from the pods, opt-in, stale pods. The cache: translate-cache.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/config/build';
import type { ConfigIssue, Endpoint } from '../../../src/config/model';
import { isMeshError } from '../../../src/errors';
import type { KPod, KSliceEndpoint } from '../../../src/discovery/objects';
import { portProtocol } from '../../../src/discovery/protocol';
import { Translator, meshedPodsOn, translate } from '../../../src/discovery/translate';
import { AMBIENT, ep, meta, nodeObj, ns, pod, shop, slice, svc } from './fixtures';

const addresses = (eps: readonly Endpoint[] | undefined): string[] => (eps ?? []).map((e) => e.address);

test('a Service becomes a ServiceEntry-like service: host, VIP, ports, labels, origin', () => {
  const out = translate(shop());
  assert.equal(out.services.length, 1);
  const s = out.services[0];
  assert.deepEqual(s.origin, { file: 'kubernetes:Service', document: 0, kind: 'Service', name: 'shop/reviews', root: '' });
  assert.deepEqual([s.kind, s.name, s.namespace], ['ServiceEntry', 'reviews', 'shop']);
  assert.deepEqual(s.hosts.map((h) => h.value), ['reviews.shop.svc.cluster.local']);
  assert.deepEqual(s.addresses.map((a) => a.value), ['10.96.0.10']);
  assert.deepEqual(s.ports, [
    { number: 80, name: 'http', protocol: 'HTTP', targetPort: 80 },
    { number: 9090, name: 'grpc-api', protocol: 'GRPC', targetPort: 9091 },
  ]);
  assert.equal(s.dataplane, 'proxy');
  assert.deepEqual(s.labels, { app: 'reviews' });
  assert.equal(s.selector, undefined);
  assert.deepEqual(out.skipped, []);
});

test('the cluster domain is an option; a bad one is refused at construction', () => {
  const s = new Translator({ clusterDomain: 'Corp.Example.' }).translate(shop()).services[0];
  assert.deepEqual(s.hosts.map((h) => h.value), ['reviews.shop.svc.corp.example']);
  for (const bad of ['', 'a..b', '*.local', 'under_score.local']) {
    assert.throws(() => new Translator({ clusterDomain: bad }), (e) => isMeshError(e, 'USAGE'), bad);
  }
});

test('label nodemesh.io/dataplane=kernel selects the kernel dataplane; a headless Service has no VIP', () => {
  const v = shop();
  v.services.set('shop/reviews', svc('reviews', {}, { 'nodemesh.io/dataplane': 'kernel' }));
  v.services.set('shop/db', svc('db', { clusterIPs: [], headless: true }));
  v.slices.set('shop/db-1', slice('db-1', 'db', [ep('10.1.0.7', undefined)]));
  const out = translate(v);
  const [reviews, db] = out.services;
  assert.equal(reviews.dataplane, 'kernel');
  assert.deepEqual([db.name, db.addresses, addresses(db.endpoints)], ['db', [], ['10.1.0.7']]);
});

/** [name, appProtocol, expected]: appProtocol first, then Istio's port-name prefix. */
const PROTOCOLS: readonly [string, string | undefined, string | undefined][] = [
  ['http', undefined, 'HTTP'],
  ['http-web', undefined, 'HTTP'],
  ['HTTP2-x', undefined, 'HTTP2'],
  ['grpc', undefined, 'GRPC'],
  ['grpc-web', undefined, undefined],
  ['tcp-db', undefined, 'TCP'],
  ['tls', undefined, 'TLS'],
  ['https-admin', undefined, 'HTTPS'],
  ['mongo', undefined, undefined],
  ['web', undefined, undefined],
  ['', undefined, undefined],
  ['web', 'http', 'HTTP'],
  ['web', 'HTTP2', 'HTTP2'],
  ['web', 'grpc', 'GRPC'],
  ['http', 'tcp', 'TCP'],
  ['web', 'tls', 'TLS'],
  ['web', 'https', 'HTTPS'],
  ['web', 'kubernetes.io/h2c', 'HTTP2'],
  ['web', 'Kubernetes.io/H2C', 'HTTP2'],
  ['web', 'kubernetes.io/ws', 'HTTP'],
  ['web', 'kubernetes.io/wss', 'HTTPS'],
  ['http', 'example.com/custom', 'HTTP'],
  ['web', 'example.com/custom', undefined],
  ['grpc', 'grpc-web', undefined],
  ['tcp', 'mysql', 'TCP'],
  ['http', '', 'HTTP'],
  ['web', 'constructor', undefined],
];

for (const [name, appProtocol, expected] of PROTOCOLS) {
  test(`port "${name}" with appProtocol ${appProtocol === undefined ? 'unset' : `"${appProtocol}"`}: ${expected ?? 'sniffed'}`, () => {
    assert.equal(portProtocol(name, appProtocol), expected);
  });
}

test('endpoints carry the pod identity, and the node only for meshed pods', () => {
  const [s] = translate(shop()).services;
  assert.deepEqual(s.endpoints, [
    { address: '10.1.0.5', ports: { http: 8080, 'grpc-api': 9091 }, labels: { app: 'reviews' }, namespace: 'shop', serviceAccount: 'reviews-sa', workload: 'reviews', node: 'node-a', weight: 1 },
    { address: '10.1.0.6', ports: { http: 8080, 'grpc-api': 9091 }, labels: { app: 'reviews' }, namespace: 'shop', serviceAccount: 'reviews-sa', workload: 'reviews', node: 'node-b', weight: 1 },
  ]);
});

/** [what, namespace labels, pod over, pod labels, meshed]: Istio ambient's opt-in. */
const MESHED: readonly [string, Record<string, string>, Partial<KPod>, Record<string, string>, boolean][] = [
  ['namespace ambient', AMBIENT, {}, {}, true],
  ['namespace not labelled', {}, {}, {}, false],
  ['namespace labelled something else', { 'istio.io/dataplane-mode': 'sidecar' }, {}, {}, false],
  ['pod ambient in a plain namespace', {}, {}, AMBIENT, true],
  ['pod none in an ambient namespace', AMBIENT, {}, { 'istio.io/dataplane-mode': 'none' }, false],
  ['host-network pod in an ambient namespace', AMBIENT, { hostNetwork: true }, {}, false],
];

for (const [what, nsLabels, over, podLabels, meshed] of MESHED) {
  test(`${what}: ${meshed ? 'meshed (endpoint and workload carry its node)' : 'not meshed (reached directly)'}`, () => {
    const v = shop();
    v.namespaces.set('shop', ns('shop', nsLabels));
    v.pods.set('shop/reviews-a', pod('reviews-a', '10.1.0.5', over, podLabels));
    const out = translate(v);
    const e = out.services[0].endpoints?.find((x) => x.address === '10.1.0.5');
    assert.equal(e?.node, meshed ? 'node-a' : undefined);
    const w = out.workloads.find((x) => x.origin.name === 'shop/reviews-a');
    if (over.hostNetwork) assert.equal(w, undefined, 'a host-network pod is no workload');
    else assert.equal(w?.workload.node, meshed ? 'node-a' : undefined);
    assert.deepEqual(meshedPodsOn(v, 'node-a').map((p) => p.meta.name), meshed ? ['reviews-a'] : []);
  });
}

test('a namespace missing from the view counts as unlabelled', () => {
  const v = shop();
  v.namespaces.clear();
  assert.equal(translate(v).services[0].endpoints?.[0].node, undefined);
});

/** [what, endpoint conditions, expected addresses]: ready ones; with none ready, the serving terminating ones. */
const CONDITIONS: readonly [string, [string, Partial<KSliceEndpoint>][], string[]][] = [
  ['all ready', [['10.1.0.1', {}], ['10.1.0.2', {}]], ['10.1.0.1', '10.1.0.2']],
  ['one terminating while another is ready: it gets no new requests', [['10.1.0.1', {}], ['10.1.0.2', { ready: false, serving: true, terminating: true }]], ['10.1.0.1']],
  ['none ready: the serving terminating ones keep the service up', [['10.1.0.1', { ready: false, serving: true, terminating: true }], ['10.1.0.2', { ready: false, serving: false, terminating: true }]], ['10.1.0.1']],
  ['not ready and not terminating (starting): never', [['10.1.0.1', { ready: false, serving: false }], ['10.1.0.2', { ready: false, serving: true, terminating: false }]], []],
  ['ready although terminating (publishNotReadyAddresses): ready wins', [['10.1.0.1', { ready: true, terminating: true }]], ['10.1.0.1']],
  ['none at all', [], []],
];

for (const [what, eps, expected] of CONDITIONS) {
  test(`endpoint conditions, ${what}`, () => {
    const v = shop();
    v.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', eps.map(([a, c]) => ep(a, undefined, c))));
    assert.deepEqual(addresses(translate(v).services[0].endpoints), expected);
  });
}

test('a named targetPort resolves per endpoint through its slice; addresses are de-duplicated across slices and sorted', () => {
  const v = shop();
  v.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', [ep('10.1.0.10', undefined), ep('10.1.0.5', 'reviews-a')], 8080));
  // A second slice of pods whose container port "http" is another number; 10.1.0.5 also appears here.
  v.slices.set('shop/reviews-2', slice('reviews-2', 'reviews', [ep('10.1.0.9', undefined), ep('10.1.0.5', undefined, { ready: false })], 8081));
  v.slices.set('shop/other-1', slice('other-1', 'other', [ep('10.1.0.99', undefined)]));
  const [s] = translate(v).services;
  assert.deepEqual(addresses(s.endpoints), ['10.1.0.5', '10.1.0.9', '10.1.0.10'], 'numeric address order, one endpoint per address');
  assert.deepEqual(s.endpoints?.map((e) => e.ports.http), [8080, 8081, 8080]);
  assert.equal(s.endpoints?.[0].workload, 'reviews', 'the first slice (by key) wins for a shared address');
  // Endpoint order does not depend on the order slices or endpoints came in.
  const w = shop();
  w.slices.clear();
  w.slices.set('shop/reviews-2', slice('reviews-2', 'reviews', [ep('10.1.0.5', undefined, { ready: false }), ep('10.1.0.9', undefined)], 8081));
  w.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', [ep('10.1.0.5', 'reviews-a'), ep('10.1.0.10', undefined)], 8080));
  assert.deepEqual(JSON.parse(JSON.stringify(translate(w).services[0].endpoints)), JSON.parse(JSON.stringify(s.endpoints)));
});

test('an endpoint with several addresses gives one endpoint each; one whose slice lacks the port falls back to targetPort', () => {
  const v = shop();
  const sl = slice('reviews-1', 'reviews', [{ ...ep('10.1.0.5', undefined), addresses: ['10.1.0.5', '10.1.0.4'] }]);
  v.slices.set('shop/reviews-1', { ...sl, ports: [] });
  const [s] = translate(v).services;
  assert.deepEqual(addresses(s.endpoints), ['10.1.0.4', '10.1.0.5']);
  assert.deepEqual(s.endpoints?.[0].ports, {});
});

test('an unknown pod, or a pod object that no longer has the address, lends no identity', () => {
  const v = shop();
  v.pods.delete('shop/reviews-b');
  v.pods.set('shop/reviews-a', pod('reviews-a', '10.1.0.77'));
  const [s] = translate(v).services;
  for (const e of s.endpoints ?? []) {
    assert.deepEqual([e.workload, e.serviceAccount, e.node, e.labels, e.namespace], [undefined, undefined, undefined, {}, 'shop'], e.address);
  }
});

test('pods become workloads: Running or Pending with an IPv4 address, not host network', () => {
  const v = shop();
  v.pods.set('shop/done', pod('done', '10.1.0.20', { phase: 'Succeeded' }));
  v.pods.set('shop/failed', pod('failed', '10.1.0.21', { phase: 'Failed' }));
  v.pods.set('shop/pending', pod('pending', '10.1.0.22', { phase: 'Pending', serviceAccount: '' }));
  v.pods.set('shop/unscheduled', pod('unscheduled', '10.1.0.23', { phase: 'Pending', ips: [], node: '' }));
  v.pods.set('shop/host', pod('host', '192.168.1.10', { hostNetwork: true }));
  v.pods.set('web/x', pod('x', '10.1.0.24', { workload: 'x' }, {}, 'web'));
  const out = translate(v);
  assert.deepEqual(out.workloads.map((w) => w.origin.name), ['shop/reviews-a', 'shop/reviews-b', 'shop/pending', 'web/x']);
  const [a] = out.workloads;
  assert.deepEqual(a, {
    kind: 'WorkloadEntry',
    origin: { file: 'kubernetes:Pod', document: 0, kind: 'Pod', name: 'shop/reviews-a', root: '' },
    workload: { name: 'reviews', namespace: 'shop', address: '10.1.0.5', labels: { app: 'reviews' }, serviceAccount: 'reviews-sa', node: 'node-a' },
    ports: {},
    weight: 1,
  });
  const pending = out.workloads[2].workload;
  assert.deepEqual([pending.serviceAccount, pending.node], [undefined, 'node-a']);
  assert.equal(out.workloads[3].workload.node, undefined, 'namespace web is not in the mesh');
});

test('two live pods with one IP: the newer object is kept, the stale one skipped with a reason', () => {
  const v = shop();
  v.pods.set('shop/old', { ...pod('old', '10.1.0.5'), meta: { ...meta('old', 'shop'), resourceVersion: '9' } });
  v.pods.set('shop/reviews-a', { ...pod('reviews-a', '10.1.0.5'), meta: { ...meta('reviews-a', 'shop', { app: 'reviews' }), resourceVersion: '10' } });
  const out = translate(v);
  assert.deepEqual(out.workloads.map((w) => w.origin.name), ['shop/reviews-a', 'shop/reviews-b']);
  assert.deepEqual(out.skipped, [{ kind: 'Pod', key: 'shop/old', reason: 'pod IP 10.1.0.5 is also used by the newer pod shop/reviews-a (a stale object)' }]);
});

test('Nodes give their InternalIPs; a Node without one is skipped', () => {
  const v = shop();
  v.nodes.set('node-c', nodeObj('node-c', []));
  const out = translate(v);
  assert.deepEqual(out.nodes.map((n) => [n.origin.file, n.origin.name, n.node]), [
    ['kubernetes:Node', 'node-a', { name: 'node-a', addresses: ['192.168.1.10'] }],
    ['kubernetes:Node', 'node-b', { name: 'node-b', addresses: ['192.168.1.11'] }],
  ]);
  assert.deepEqual(out.skipped.map((s) => [s.kind, s.key]), [['Node', 'node-c']]);
});

test('meshedPodsOn lists running meshed pods of one node, by key', () => {
  const v = shop();
  v.pods.set('shop/a-done', pod('a-done', '10.1.0.30', { phase: 'Succeeded' }));
  v.pods.set('shop/a-pending', pod('a-pending', '', { phase: 'Pending', ips: [] }));
  v.pods.set('other/z', pod('z', '10.1.0.31', {}, AMBIENT, 'other'));
  assert.deepEqual(meshedPodsOn(v, 'node-a').map((p) => `${p.meta.namespace}/${p.meta.name}`), ['other/z', 'shop/a-pending', 'shop/reviews-a']);
  assert.deepEqual(meshedPodsOn(v, 'node-x'), []);
});

test('the output goes through assemble() without issues', () => {
  const v = shop();
  v.services.set('shop/db', svc('db', { clusterIPs: ['10.96.0.11'] }));
  const out = translate(v);
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const a = assemble([...out.services, ...out.workloads, ...out.nodes], issues, warnings);
  assert.deepEqual(issues, []);
  assert.deepEqual(warnings.map((w) => w.name), ['shop/db'], 'only: a service without endpoints');
  assert.deepEqual(a.services.map((s) => [s.key, s.endpoints.length]), [['shop/db', 0], ['shop/reviews', 2]]);
  assert.equal(a.workloads.length, 2);
});
