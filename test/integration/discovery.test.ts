// Kubernetes discovery against the API stand-in, through the client library: the first sync and what it
// translates to, bookmarks, and Istio's CRDs being absent, installed later, or taken away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Parsed, ParsedNode, ParsedService, ParsedWorkload } from '../../src/config/kinds/types';
import { AMBIENT, endpointSlice, namespace, node, pod, service } from '../helpers/kubeobjects';
import { ERROR, FAST, WARN, linesSince, logs, makeDiscovery, metric, sleep, standIn, startSynced, virtualService, waitFor } from './discovery-harness';
import type { KubeApiServer } from '../helpers/kubeapi';

/** A small shop: two nodes, a meshed namespace with a Deployment behind a Service, and odd pod owners. */
function seed(api: KubeApiServer): void {
  api.apply(namespace('shop', AMBIENT));
  api.apply(namespace('plain'));
  api.apply(node('node-a', '10.0.0.1'));
  api.apply(node('node-b', '10.0.0.2'));
  api.apply(pod({ name: 'web-5d8f7c9b4-aaaaa', namespace: 'shop', node: 'node-a', ip: '10.1.0.1', deployment: 'web', labels: { app: 'web' }, serviceAccount: 'web-sa' }));
  api.apply(pod({ name: 'web-5d8f7c9b4-bbbbb', namespace: 'shop', node: 'node-b', ip: '10.1.0.2', deployment: 'web', labels: { app: 'web' }, serviceAccount: 'web-sa' }));
  const db = pod({ name: 'db-0', namespace: 'shop', node: 'node-a', ip: '10.1.0.3', labels: { app: 'db' } });
  (db.metadata as Record<string, unknown>).ownerReferences = [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'sts-db', controller: true }];
  api.apply(db);
  api.apply(pod({ name: 'debug', namespace: 'plain', node: 'node-a', ip: '10.1.0.4' }));
  const out = pod({ name: 'opted-out', namespace: 'shop', node: 'node-a', ip: '10.1.0.5', labels: { 'istio.io/dataplane-mode': 'none' } });
  api.apply(out);
  api.apply(service('web', 'shop', '10.96.0.10', [{ name: 'http', port: 80, targetPort: 8080 }]));
  const headless = service('db', 'shop', 'None', [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }]);
  (headless.spec as Record<string, unknown>).clusterIPs = ['None'];
  api.apply(headless);
  api.apply(
    endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [
      { ip: '10.1.0.1', node: 'node-a', pod: 'web-5d8f7c9b4-aaaaa' },
      { ip: '10.1.0.2', node: 'node-b', pod: 'web-5d8f7c9b4-bbbbb' },
      { ip: '10.1.0.9', node: 'node-b', pod: 'web-gone', ready: false },
    ]),
  );
  api.apply(endpointSlice('db-x1', 'shop', 'db', [{ name: 'tcp-pg', port: 5432 }], [{ ip: '10.1.0.3', node: 'node-a', pod: 'db-0' }]));
}

function split(docs: readonly Parsed[]) {
  return {
    services: new Map(docs.filter((p): p is ParsedService => p.kind === 'ServiceEntry').map((s) => [`${s.namespace}/${s.name}`, s])),
    workloads: new Map(docs.filter((p): p is ParsedWorkload => p.kind === 'WorkloadEntry').map((w) => [w.origin.name, w.workload])),
    nodes: new Map(docs.filter((p): p is ParsedNode => p.kind === 'Node').map((n) => [n.node.name, n.node])),
  };
}

test('first sync: synced flips once every resource is listed; services, workloads and nodes match the objects', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  seed(api);
  // Pages of 2 make every list take several requests (limit/continue).
  const r = makeDiscovery(t, kubeconfig, { informer: { ...FAST, pageSize: 2 } });
  assert.equal(r.d.synced, false);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_synced'), 0);
  r.d.start();
  assert.equal(r.d.synced, false, 'nothing is listed synchronously');
  assert.ok(r.d.unsynced().length > 0);
  await waitFor('the first sync', () => r.d.synced);
  assert.deepEqual(r.d.unsynced(), []);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_synced'), 1);
  assert.ok(api.count('list', '/api/v1/pods') >= 3, `pods listed in pages (${api.count('list', '/api/v1/pods')} requests)`);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_objects', { kind: 'Pod' }), 5);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_events_total', { kind: 'Pod', type: 'LIST' }), 1);
  await waitFor('onChange after the sync', () => r.changes > 0);

  const { services, workloads, nodes } = split(r.d.translate());
  const web = services.get('shop/web');
  assert.ok(web, 'Service shop/web is translated');
  assert.deepEqual(web.hosts.map((h) => h.value), ['web.shop.svc.cluster.local']);
  assert.deepEqual(web.addresses.map((a) => a.value), ['10.96.0.10']);
  assert.deepEqual(web.ports.map((p) => [p.name, p.number, p.targetPort]), [['http', 80, 8080]]);
  assert.equal(web.dataplane, 'proxy');
  // The not-ready endpoint is left out; the others carry their pods' identity.
  assert.deepEqual(
    web.endpoints?.map((e) => [e.address, e.ports.http, e.workload, e.serviceAccount, e.node]),
    [
      ['10.1.0.1', 8080, 'web', 'web-sa', 'node-a'],
      ['10.1.0.2', 8080, 'web', 'web-sa', 'node-b'],
    ],
  );
  const db = services.get('shop/db');
  assert.ok(db, 'the headless Service is translated');
  assert.deepEqual(db.addresses, [], 'a headless service has no VIP: its pods are reached by pod IP');
  assert.deepEqual(db.endpoints?.map((e) => [e.address, e.workload]), [['10.1.0.3', 'db']]);

  // Workload names from the owner chain: a ReplicaSet's Deployment, a StatefulSet, else the pod name.
  assert.deepEqual(
    [...workloads].map(([k, w]) => [k, w.name, w.address, w.node ?? '']).sort(),
    [
      ['plain/debug', 'debug', '10.1.0.4', ''],
      ['shop/db-0', 'db', '10.1.0.3', 'node-a'],
      ['shop/opted-out', 'opted-out', '10.1.0.5', ''],
      ['shop/web-5d8f7c9b4-aaaaa', 'web', '10.1.0.1', 'node-a'],
      ['shop/web-5d8f7c9b4-bbbbb', 'web', '10.1.0.2', 'node-b'],
    ],
  );
  assert.equal(workloads.get('shop/web-5d8f7c9b4-aaaaa')?.serviceAccount, 'web-sa');
  assert.deepEqual([...nodes].map(([n, v]) => [n, v.addresses]).sort(), [
    ['node-a', ['10.0.0.1']],
    ['node-b', ['10.0.0.2']],
  ]);
  // Opt-in: the meshed namespace's pods on this node, not the opted-out one or another namespace's.
  assert.deepEqual(r.d.meshedLocalPods().map((p) => p.meta.name), ['db-0', 'web-5d8f7c9b4-aaaaa']);

  // A watched change arrives and is translated.
  const before = r.changes;
  api.apply(
    endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.1.0.2', node: 'node-b', pod: 'web-5d8f7c9b4-bbbbb' }]),
  );
  await waitFor('the slice change', () => r.changes > before && split(r.d.translate()).services.get('shop/web')?.endpoints?.length === 1);
  assert.ok((await metric(r.registry, 'nodemesh_discovery_events_total', { kind: 'EndpointSlice', type: 'MODIFIED' }))! >= 1);
});

test('bookmarks arrive on the watches and move the last-event timestamp', { timeout: 20_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t, { bookmarkMs: 100 });
  api.apply(namespace('shop'));
  const r = await startSynced(t, kubeconfig);
  const first = (await metric(r.registry, 'nodemesh_discovery_last_event_timestamp_seconds'))!;
  assert.ok(first > Date.now() / 1000 - 30, 'set by the first list');
  await sleep(50);
  await waitFor('a bookmark on every core watch', async () => {
    for (const kind of ['Namespace', 'Node', 'Pod', 'Service', 'EndpointSlice']) {
      if (!((await metric(r.registry, 'nodemesh_discovery_events_total', { kind, type: 'BOOKMARK' })) ?? 0)) return false;
    }
    return true;
  });
  const later = (await metric(r.registry, 'nodemesh_discovery_last_event_timestamp_seconds'))!;
  assert.ok(later > first, `bookmarks move the timestamp (${first} → ${later})`);
  assert.ok(api.watchCount('/api/v1/pods') >= 1);
  // Bookmarks change nothing: no recomposition for them.
  const changes = r.changes;
  await sleep(300);
  assert.equal(r.changes, changes);
});

test('Istio CRDs missing is normal: synced, logged once at info; installed later they are picked up', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t, { istioCrds: false });
  api.apply(namespace('shop'));
  api.apply(service('reviews', 'shop', '10.96.0.20', [{ name: 'http', port: 80, targetPort: 9080 }]));
  const from = logs.length;
  const r = await startSynced(t, kubeconfig);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_synced'), 1);
  assert.equal(r.d.istio.candidates().size, 0);
  // Several slow retries (every 100 ms here) go by without a word more.
  await sleep(600);
  // (Without the CRD the path is unknown to the server, which counts the GET as a plain get.)
  const looks = api.count('get', '/apis/networking.istio.io/v1/virtualservices') + api.count('list', '/apis/networking.istio.io/v1/virtualservices');
  assert.ok(looks >= 3, `absent CRDs are looked for again (${looks} requests)`);
  const lines = linesSince(from);
  assert.deepEqual(lines.filter((l) => l.level >= WARN).map((l) => l.msg), [], 'no warning or error for absent CRDs');
  const absent = lines.filter((l) => /not installed/.test(l.msg ?? ''));
  assert.deepEqual(absent.map((l) => l.kind).sort(), ['AuthorizationPolicy', 'DestinationRule', 'PeerAuthentication', 'RequestAuthentication', 'ServiceEntry', 'Telemetry', 'VirtualService', 'WorkloadEntry']);

  // The CRDs get installed (and a VirtualService applied): the next slow retry lists them.
  api.apply(virtualService('reviews', 'shop', 'reviews.shop.svc.cluster.local'));
  api.istioCrds = true;
  await waitFor('the VirtualService after the CRDs appeared', () => r.d.istio.candidates().has('VirtualService shop/reviews'));
  assert.equal(r.d.synced, true);
  // And it is watched from then on.
  api.apply(virtualService('ratings', 'shop', 'reviews.shop.svc.cluster.local'));
  await waitFor('a VirtualService added later', () => r.d.istio.candidates().has('VirtualService shop/ratings'));
  assert.deepEqual(linesSince(from).filter((l) => l.level >= ERROR), []);
});

test('Istio CRDs taken away drop their objects; put back, the same objects come back', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  api.apply(namespace('shop'));
  api.apply(virtualService('reviews', 'shop', 'reviews.shop.svc.cluster.local'));
  const r = await startSynced(t, kubeconfig);
  await waitFor('the VirtualService', () => r.d.istio.candidates().has('VirtualService shop/reviews'));
  api.istioCrds = false;
  await waitFor('the VirtualService gone with its CRD', () => !r.d.istio.candidates().has('VirtualService shop/reviews'));
  // RBAC taken away and given back, or a CRD re-installed: the objects the API lists again are all there.
  api.istioCrds = true;
  await waitFor('the VirtualService back with its CRD', () => r.d.istio.candidates().has('VirtualService shop/reviews'));
  api.apply(virtualService('ratings', 'shop', 'reviews.shop.svc.cluster.local'));
  await waitFor('watched again', () => r.d.istio.candidates().has('VirtualService shop/ratings'));
});

test('without Istio kinds asked for, no Istio path is ever requested', { timeout: 20_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  const r = await startSynced(t, kubeconfig, { istio: false });
  assert.equal(r.d.synced, true);
  assert.equal(api.count('list', /istio/), 0);
  assert.equal(api.count('watch', /istio/), 0);
});
