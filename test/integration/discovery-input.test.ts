// Bad input from the API never crashes discovery: an object with missing fields, wrong types, huge or
// NUL-carrying labels, another apiVersion, IPv6-only addresses or an ExternalName type is skipped and named
// (log line and nodemesh_discovery_skipped_total), the previous good version of it stays, and everything
// else keeps applying. Unknown fields are ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ParsedService } from '../../src/config/kinds/types';
import type { KubeApiServer, KubeObject } from '../helpers/kubeapi';
import { AMBIENT, endpointSlice, namespace, node, pod, service } from '../helpers/kubeobjects';
import { ERROR, WARN, linesSince, logs, metric, rewritingProxy, standIn, startSynced, waitFor, type Running } from './discovery-harness';

/** The proxy sends an object carrying this annotation as the annotation's JSON says (merged in, or instead). */
const SEND_AS = 'test.nodemesh.io/send-as';

function sendAs(_path: string, o: unknown): unknown {
  const a = (o as { metadata?: { annotations?: Record<string, string> } } | null)?.metadata?.annotations?.[SEND_AS];
  if (a === undefined) return o;
  const v = JSON.parse(a) as unknown;
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...(o as object), ...v } : v;
}

const annotated = (o: KubeObject, as: unknown): KubeObject => ({ ...o, metadata: { ...o.metadata, annotations: { [SEND_AS]: JSON.stringify(as) } } });

const with_ = (o: KubeObject, f: (o: Record<string, any>) => void): KubeObject => {
  const c = structuredClone(o) as Record<string, any>;
  f(c);
  return c as KubeObject;
};

const PORTS = [{ name: 'http', port: 80, targetPort: 8080 }];
const webPod = (i: number): KubeObject => pod({ name: `web-${i}`, namespace: 'shop', node: 'node-a', ip: `10.1.0.${i}`, deployment: 'web', labels: { app: 'web' } });

function good(api: KubeApiServer): void {
  api.apply(namespace('shop', AMBIENT));
  api.apply(node('node-a', '10.0.0.1'));
  api.apply(webPod(1));
  api.apply(webPod(2));
  api.apply(service('web', 'shop', '10.96.0.10', PORTS));
  api.apply(service('api', 'shop', '10.96.0.11', PORTS));
  api.apply(endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [1, 2].map((i) => ({ ip: `10.1.0.${i}`, node: 'node-a', pod: `web-${i}` }))));
}

interface Bad {
  readonly kind: string;
  /** The key discovery names it by. */
  readonly key: string;
  readonly reason: RegExp;
  readonly object: KubeObject;
}

function bad(): Bad[] {
  const labels10k: Record<string, string> = {};
  for (let i = 0; i < 10_000; i++) labels10k[`l${i}`] = 'x';
  return [
    // Updates of good objects: their previous versions must stay.
    { kind: 'Service', key: 'shop/web', reason: /spec\.ports must be a list/, object: with_(service('web', 'shop', '10.96.0.10', PORTS), (o) => (o.spec.ports = 'eighty')) },
    { kind: 'Service', key: 'shop/api', reason: /apiVersion .*"v2" is not supported/, object: annotated(service('api', 'shop', '10.96.0.99', PORTS), { apiVersion: 'v2' }) },
    { kind: 'Namespace', key: 'shop', reason: /has 1000\d labels, more than 512/, object: namespace('shop', { ...AMBIENT, ...labels10k }) },
    { kind: 'Pod', key: 'shop/web-1', reason: /control character|not a valid label value/, object: with_(webPod(1), (o) => (o.metadata.labels.app = 'we\u0000b')) },
    { kind: 'EndpointSlice', key: 'shop/web-x1', reason: /conditions\.ready must be true or false/, object: with_(endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.1.0.1', node: 'node-a', pod: 'web-1' }]), (o) => (o.endpoints[0].conditions.ready = 'yes')) },
    // New objects that never had a good version.
    { kind: 'Pod', key: 'shop/huge', reason: /labels\["big"\] is 31457280 characters long/, object: pod({ name: 'huge', namespace: 'shop', node: 'node-a', ip: '10.1.0.7', labels: { big: 'x'.repeat(30 * 1024 * 1024) } }) },
    { kind: 'Pod', key: 'shop/nospec', reason: /spec is missing/, object: with_(pod({ name: 'nospec', namespace: 'shop', node: 'node-a', ip: '10.1.0.8' }), (o) => delete o.spec) },
    { kind: 'Pod', key: 'shop/ips', reason: /status\.podIPs must be a list/, object: with_(pod({ name: 'ips', namespace: 'shop', node: 'node-a', ip: '10.1.0.9' }), (o) => (o.status.podIPs = '10.1.0.9')) },
    { kind: 'Pod', key: 'shop/phase', reason: /status\.phase contains a control character/, object: with_(pod({ name: 'phase', namespace: 'shop', node: 'node-a', ip: '10.1.0.10' }), (o) => (o.status.phase = 'Run\u0000ning')) },
    { kind: 'Service', key: 'shop/ext', reason: /ExternalName/, object: with_(service('ext', 'shop', '', PORTS), (o) => Object.assign(o.spec, { type: 'ExternalName', externalName: 'db.example.com', clusterIP: undefined, clusterIPs: undefined })) },
    { kind: 'Service', key: 'shop/port', reason: /spec\.ports\[0\]\.port must be an integer/, object: with_(service('port', 'shop', '10.96.0.12', PORTS), (o) => (o.spec.ports[0].port = '80')) },
    { kind: 'EndpointSlice', key: 'shop/web-v6', reason: /addressType IPv6 is not captured/, object: with_(endpointSlice('web-v6', 'shop', 'web', [{ name: 'http', port: 8080 }], []), (o) => Object.assign(o, { addressType: 'IPv6', endpoints: [{ addresses: ['fd00::1'], conditions: { ready: true } }] })) },
    { kind: 'EndpointSlice', key: 'shop/web-mixed', reason: /addresses\[0\]/, object: endpointSlice('web-mixed', 'shop', 'web', [{ name: 'http', port: 8080 }], [{ ip: 'fd00::2', node: 'node-a', pod: 'web-2' }]) },
    { kind: 'EndpointSlice', key: 'shop/notype', reason: /addressType is missing/, object: with_(endpointSlice('notype', 'shop', 'web', [], []), (o) => delete o.addressType) },
    { kind: 'Node', key: 'node-b', reason: /status\.addresses must be a list/, object: with_(node('node-b', '10.0.0.2'), (o) => (o.status.addresses = { InternalIP: '10.0.0.2' })) },
    { kind: 'Node', key: 'node-c', reason: /kind .*"Secret" where Node was expected/, object: annotated(node('node-c', '10.0.0.3'), { kind: 'Secret' }) },
    { kind: 'Namespace', key: '', reason: /not an object/, object: annotated(namespace('garbage'), 'garbage') },
  ];
}

/** Objects with fields no nodemesh version knows: used as if the fields were not there. */
function unknownFields(api: KubeApiServer): void {
  const s = service('extra', 'shop', '10.96.0.13', PORTS) as Record<string, any>;
  s.futureTop = [{ anything: true }];
  s.spec.futureField = { nested: ['x'] };
  s.spec.ports[0].futurePortField = 7;
  s.status.futureStatus = 'yes';
  api.apply(s as KubeObject);
  api.apply(with_(pod({ name: 'web-3', namespace: 'shop', node: 'node-a', ip: '10.1.0.3', deployment: 'web' }), (o) => (o.spec.futureSpec = { a: 1 })));
}

function services(r: Running): Map<string, ParsedService> {
  return new Map(r.d.translate().filter((p): p is ParsedService => p.kind === 'ServiceEntry').map((s) => [`${s.namespace}/${s.name}`, s]));
}

test('bad objects from the API are skipped and named, and leave the view; the rest applies', { timeout: 60_000 }, async (t) => {
  const { api, dir } = await standIn(t);
  const proxy = await rewritingProxy(t, api, dir);
  proxy.rewrite = sendAs;
  good(api);
  const r = await startSynced(t, proxy.kubeconfig, { istio: false });
  assert.deepEqual(services(r).get('shop/web')?.endpoints?.map((e) => e.address), ['10.1.0.1', '10.1.0.2']);
  const from = logs.length;

  const cases = bad();
  for (const c of cases) api.apply(c.object);
  unknownFields(api);
  await waitFor('the objects with unknown fields', () => r.d.snapshot().services.has('shop/extra') && r.d.snapshot().pods.has('shop/web-3'));
  await waitFor(
    () => `every bad object named (missing: ${cases.filter((c) => !named(from, c)).map((c) => `${c.kind} ${c.key}`).join(', ')})`,
    () => cases.every((c) => named(from, c)),
  );
  for (const kind of ['Service', 'Pod', 'Namespace', 'EndpointSlice', 'Node']) {
    const want = cases.filter((c) => c.kind === kind).length;
    assert.equal(await metric(r.registry, 'nodemesh_discovery_skipped_total', { kind }), want, `${kind}s skipped`);
  }

  // An object whose new version cannot be used leaves the view (its old version no longer describes the
  // cluster: a Service turned ExternalName gave its ClusterIP back).
  const v = r.d.snapshot();
  assert.equal(v.namespaces.has('shop'), false);
  assert.equal(v.services.has('shop/api'), false);
  assert.equal(v.pods.has('shop/web-1'), false);
  assert.equal(v.slices.has('shop/web-x1'), false);
  // Never-good ones are absent.
  for (const k of ['shop/huge', 'shop/nospec', 'shop/ips', 'shop/phase']) assert.equal(v.pods.has(k), false, k);
  for (const k of ['shop/ext', 'shop/port']) assert.equal(v.services.has(k), false, k);
  for (const k of ['shop/web-v6', 'shop/web-mixed', 'shop/notype']) assert.equal(v.slices.has(k), false, k);
  assert.deepEqual([...v.nodes.keys()], ['node-a']);

  // The translation still works, with the unknown-field objects in it.
  const s = services(r);
  assert.deepEqual(s.get('shop/extra')?.addresses.map((a) => a.value), ['10.96.0.13']);
  assert.equal(r.d.synced, true);
  assert.deepEqual(linesSince(from).filter((l) => l.level >= ERROR).map((l) => l.msg), []);

  // The watches still work: a good change after all that applies, and fixing a bad object applies it.
  api.apply(service('api', 'shop', '10.96.0.21', PORTS));
  api.apply(pod({ name: 'huge', namespace: 'shop', node: 'node-a', ip: '10.1.0.7' }));
  await waitFor('the fixed objects', () => r.d.snapshot().services.get('shop/api')?.clusterIPs[0] === '10.96.0.21' && r.d.snapshot().pods.has('shop/huge'));

  // A fresh start lists all of it at once: synced anyway, the same objects skipped.
  const from2 = logs.length;
  const r2 = await startSynced(t, proxy.kubeconfig, { istio: false });
  const again = cases.filter((c) => c.key !== 'shop/huge' && !(c.kind === 'Service' && c.key === 'shop/api'));
  await waitFor(() => `every bad object named by the list (missing: ${again.filter((c) => !named(from2, c)).map((c) => c.key).join(', ')})`, () => again.every((c) => named(from2, c)));
  assert.ok(r2.d.snapshot().services.has('shop/extra'));
  assert.deepEqual(services(r2).get('shop/extra')?.addresses.map((a) => a.value), ['10.96.0.13']);
});

test('an object the translation cannot use (a Node without an InternalIP) is named too', { timeout: 20_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  api.apply(node('node-a', '10.0.0.1'));
  api.apply(with_(node('bare', '10.0.0.9'), (o) => (o.status.addresses = [{ type: 'Hostname', address: 'bare' }])));
  const from = logs.length;
  const r = await startSynced(t, kubeconfig, { istio: false });
  const nodes = r.d.translate().filter((p) => p.kind === 'Node');
  assert.deepEqual(nodes.map((n) => n.origin.name), ['node-a']);
  assert.ok(linesSince(from).some((l) => l.level === WARN && l.kind === 'Node' && l.object === 'bare' && /InternalIP/.test(String(l.reason))));
  assert.equal(await metric(r.registry, 'nodemesh_discovery_skipped_total', { kind: 'Node' }), 1);
  // Named once, not on every translation.
  r.d.translate();
  assert.equal(await metric(r.registry, 'nodemesh_discovery_skipped_total', { kind: 'Node' }), 1);
});

function named(from: number, c: Bad): boolean {
  return linesSince(from).some((l) => l.level === WARN && l.code === 'NM_E_KUBE_OBJECT' && l.kind === c.kind && l.object === c.key && c.reason.test(String(l.reason)));
}

