// Discovery's view → parsed services, workloads and nodes: hosts, VIPs, port protocols, endpoints by
// condition, identity and node from the pods, opt-in, stale pods, and a cache that gives exactly what a
// fresh translation gives after any change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/config/build';
import type { ConfigIssue, Endpoint } from '../../../src/config/model';
import { isMeshError } from '../../../src/errors';
import type { KEndpointSlice, KNamespace, KNode, KPod, KService, KSliceEndpoint } from '../../../src/discovery/objects';
import { portProtocol } from '../../../src/discovery/protocol';
import { Translator, meshedPodsOn, translate, type View } from '../../../src/discovery/translate';

let version = 100;
const rv = (): string => String(version++);
const meta = (name: string, namespace: string, labels: Record<string, string> = {}) => ({ name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: rv(), labels });

function svc(name: string, over: Partial<KService> = {}, labels: Record<string, string> = {}): KService {
  return {
    kind: 'Service',
    meta: meta(name, 'shop', { app: name, ...labels }),
    type: 'ClusterIP',
    clusterIPs: ['10.96.0.10'],
    headless: false,
    ports: [
      { name: 'http', port: 80, protocol: 'TCP', appProtocol: undefined, targetPort: 'http' },
      { name: 'grpc-api', port: 9090, protocol: 'TCP', appProtocol: undefined, targetPort: 9091 },
    ],
    ...over,
  };
}

function ep(address: string, podName: string | undefined, cond: Partial<KSliceEndpoint> = {}): KSliceEndpoint {
  return { addresses: [address], ready: true, serving: true, terminating: false, nodeName: undefined, zone: undefined, pod: podName === undefined ? undefined : { namespace: 'shop', name: podName }, ...cond };
}

function slice(name: string, service: string, endpoints: KSliceEndpoint[], httpPort = 8080): KEndpointSlice {
  return {
    kind: 'EndpointSlice',
    meta: meta(name, 'shop', { 'kubernetes.io/service-name': service }),
    service,
    ports: [{ name: 'http', port: httpPort, protocol: 'TCP', appProtocol: undefined }, { name: 'grpc-api', port: 9091, protocol: 'TCP', appProtocol: undefined }],
    endpoints,
  };
}

function pod(name: string, ip: string, over: Partial<KPod> = {}, labels: Record<string, string> = {}, namespace = 'shop'): KPod {
  return {
    kind: 'Pod',
    meta: meta(name, namespace, { app: 'reviews', ...labels }),
    node: 'node-a',
    serviceAccount: 'reviews-sa',
    ips: [ip],
    phase: 'Running',
    qosClass: 'BestEffort',
    hostNetwork: false,
    workload: 'reviews',
    workloadKind: 'Deployment',
    ...over,
  };
}

const ns = (name: string, labels: Record<string, string> = {}): KNamespace => ({ kind: 'Namespace', meta: meta(name, '', labels) });
const nodeObj = (name: string, ips: string[]): KNode => ({ kind: 'Node', meta: meta(name, '', {}), internalIPs: ips });
const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };

interface MutableView {
  services: Map<string, KService>;
  slices: Map<string, KEndpointSlice>;
  pods: Map<string, KPod>;
  namespaces: Map<string, KNamespace>;
  nodes: Map<string, KNode>;
}

function view(objects: { services?: KService[]; slices?: KEndpointSlice[]; pods?: KPod[]; namespaces?: KNamespace[]; nodes?: KNode[] }): MutableView {
  const byKey = <T extends { meta: { name: string; namespace: string } }>(list: T[] = []) =>
    new Map(list.map((o) => [o.meta.namespace ? `${o.meta.namespace}/${o.meta.name}` : o.meta.name, o]));
  return { services: byKey(objects.services), slices: byKey(objects.slices), pods: byKey(objects.pods), namespaces: byKey(objects.namespaces), nodes: byKey(objects.nodes) };
}

/** The usual picture: an ambient namespace, two pods of a Deployment behind one Service, two nodes. */
function shop(): MutableView {
  return view({
    namespaces: [ns('shop', AMBIENT)],
    services: [svc('reviews')],
    slices: [slice('reviews-1', 'reviews', [ep('10.1.0.5', 'reviews-a'), ep('10.1.0.6', 'reviews-b')])],
    pods: [pod('reviews-a', '10.1.0.5'), pod('reviews-b', '10.1.0.6', { node: 'node-b' })],
    nodes: [nodeObj('node-a', ['192.168.1.10']), nodeObj('node-b', ['192.168.1.11'])],
  });
}

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

/** Incremental and fresh translations must agree, whatever changed. */
function agree(t: Translator, v: View, what: string): void {
  const inc = t.translate(v);
  const fresh = translate(v);
  assert.deepEqual(JSON.parse(JSON.stringify(inc)), JSON.parse(JSON.stringify(fresh)), what);
}

test('the cache rebuilds only what changed, and then agrees with a fresh translation', () => {
  const v = shop();
  v.services.set('shop/db', svc('db', { clusterIPs: ['10.96.0.11'] }));
  v.slices.set('shop/db-1', slice('db-1', 'db', [ep('10.1.0.40', 'db-0')]));
  v.pods.set('shop/db-0', pod('db-0', '10.1.0.40', { workload: 'db' }));
  const t = new Translator();
  const named = (out: ReturnType<Translator['translate']>, name: string) => out.services.find((s) => s.name === name);
  const first = t.translate(v);
  const again = t.translate(v);
  assert.equal(named(again, 'db'), named(first, 'db'), 'nothing changed: the same objects');
  assert.equal(again.workloads[0], first.workloads[0]);

  v.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', [ep('10.1.0.5', 'reviews-a')]));
  const afterSlice = t.translate(v);
  assert.notEqual(named(afterSlice, 'reviews'), named(first, 'reviews'), 'reviews rebuilt');
  assert.equal(named(afterSlice, 'db'), named(first, 'db'), 'db untouched');
  agree(t, v, 'one slice changed');

  // A status-only pod update (new resourceVersion) keeps the services; a relabel rebuilds them.
  const db0 = v.pods.get('shop/db-0') as KPod;
  v.pods.set('shop/db-0', { ...db0, qosClass: 'Burstable', meta: { ...db0.meta, resourceVersion: rv() } });
  assert.equal(named(t.translate(v), 'db'), named(first, 'db'));
  v.pods.set('shop/db-0', pod('db-0', '10.1.0.40', { workload: 'db' }, { version: 'v2' }));
  assert.notEqual(named(t.translate(v), 'db'), named(first, 'db'));
  agree(t, v, 'pod relabelled');

  // A re-list hands out new copies with the same versions: nothing is rebuilt.
  const before = t.translate(v);
  for (const [k, s] of v.services) v.services.set(k, { ...s });
  for (const [k, p] of v.pods) v.pods.set(k, { ...p });
  for (const [k, s] of v.slices) v.slices.set(k, { ...s });
  const relisted = t.translate(v);
  assert.equal(named(relisted, 'db'), named(before, 'db'));
  assert.equal(named(relisted, 'reviews'), named(before, 'reviews'));
});

test('the cache agrees with a fresh translation through every kind of change', () => {
  const v = shop();
  const t = new Translator();
  agree(t, v, 'start');
  const steps: [string, () => void][] = [
    ['namespace leaves the mesh', () => v.namespaces.set('shop', ns('shop'))],
    ['pod opts in by label', () => v.pods.set('shop/reviews-a', pod('reviews-a', '10.1.0.5', {}, AMBIENT))],
    ['namespace deleted', () => v.namespaces.delete('shop')],
    ['namespace back in the mesh', () => v.namespaces.set('shop', ns('shop', AMBIENT))],
    ['pod moves to another node', () => v.pods.set('shop/reviews-b', pod('reviews-b', '10.1.0.6', { node: 'node-c' }))],
    ['pod deleted', () => v.pods.delete('shop/reviews-b')],
    ['pod the slice names arrives late', () => v.pods.set('shop/reviews-b', pod('reviews-b', '10.1.0.6'))],
    ['endpoint starts terminating', () => v.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', [ep('10.1.0.5', 'reviews-a'), ep('10.1.0.6', 'reviews-b', { ready: false, terminating: true })]))],
    ['second slice', () => v.slices.set('shop/reviews-2', slice('reviews-2', 'reviews', [ep('10.1.0.7', undefined)]))],
    ['slice moves to another service', () => v.slices.set('shop/reviews-2', slice('reviews-2', 'ratings', [ep('10.1.0.7', undefined)]))],
    ['that service appears', () => v.services.set('shop/ratings', svc('ratings', { clusterIPs: ['10.96.0.12'] }))],
    ['slice deleted', () => v.slices.delete('shop/reviews-1')],
    ['service changes ports', () => v.services.set('shop/reviews', svc('reviews', { ports: [{ name: 'http', port: 81, protocol: 'TCP', appProtocol: 'http2', targetPort: 'http' }] }))],
    ['service deleted', () => v.services.delete('shop/ratings')],
    ['stale pod with the same IP', () => v.pods.set('shop/ghost', { ...pod('ghost', '10.1.0.5'), meta: { ...meta('ghost', 'shop'), resourceVersion: '1' } })],
    ['stale pod gone', () => v.pods.delete('shop/ghost')],
    ['node gets an address', () => v.nodes.set('node-b', nodeObj('node-b', ['192.168.1.12']))],
    ['node deleted', () => v.nodes.delete('node-a')],
  ];
  for (const [what, change] of steps) {
    change();
    agree(t, v, what);
  }
});

test('random change sequences: the cache always agrees with a fresh translation', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const v = view({ namespaces: [ns('shop', AMBIENT)] });
  const t = new Translator();
  const podNames = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const serviceNames = ['s0', 's1', 's2'];
  for (let step = 0; step < 400; step++) {
    const r = rnd(8);
    const p = podNames[rnd(podNames.length)];
    const s = serviceNames[rnd(serviceNames.length)];
    if (r === 0) v.pods.set(`shop/${p}`, pod(p, `10.1.0.${rnd(4)}`, { node: `node-${rnd(2)}` }, rnd(3) === 0 ? { 'istio.io/dataplane-mode': 'none' } : {}));
    else if (r === 1) v.pods.delete(`shop/${p}`);
    else if (r === 2) v.services.set(`shop/${s}`, svc(s, { clusterIPs: [`10.96.1.${serviceNames.indexOf(s)}`] }));
    else if (r === 3) v.services.delete(`shop/${s}`);
    else if (r === 4 || r === 5) {
      const eps = podNames.filter(() => rnd(2) === 0).map((n) => ep(`10.1.0.${rnd(4)}`, n, { ready: rnd(3) > 0, terminating: rnd(2) === 0 }));
      const name = `${s}-${rnd(2)}`;
      v.slices.set(`shop/${name}`, slice(name, serviceNames[rnd(serviceNames.length)], eps, 8080 + rnd(2)));
    } else if (r === 6) v.slices.delete(`shop/${s}-${rnd(2)}`);
    else v.namespaces.set('shop', ns('shop', rnd(2) === 0 ? AMBIENT : {}));
    agree(t, v, `step ${step}`);
  }
});
