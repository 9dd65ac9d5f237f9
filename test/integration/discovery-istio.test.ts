// Istio objects from the API, each validated on its own: an invalid one is rejected by name (log line,
// nodemesh_discovery_rejected_total, a Kubernetes Event on the object), its previous valid version keeps
// applying and every other object applies. Events refused by RBAC are logged once and break nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ParsedDestinationRule, ParsedVirtualService } from '../../src/config/kinds/types';
import type { KubeApiServer, KubeObject } from '../helpers/kubeapi';
import { namespace, service } from '../helpers/kubeobjects';
import { ERROR, linesSince, logs, metric, sleep, standIn, startSynced, virtualService, waitFor, type Running } from './discovery-harness';

const HOST = 'reviews.shop.svc.cluster.local';

function destinationRule(name: string, simple: string): KubeObject {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: 'shop' }, spec: { host: HOST, trafficPolicy: { loadBalancer: { simple } } } };
}

function seed(api: KubeApiServer): void {
  api.apply(namespace('shop'));
  api.apply(service('reviews', 'shop', '10.96.0.20', [{ name: 'http', port: 80, targetPort: 9080 }]));
  api.apply(virtualService('reviews', 'shop', HOST, '1s'));
  api.apply(virtualService('ratings', 'shop', HOST, '1s'));
  api.apply(destinationRule('reviews', 'ROUND_ROBIN'));
}

/** The timeout (ms) of the first route of the valid version of VirtualService shop/NAME discovery offers. */
function timeoutOf(r: Running, name: string): number | undefined {
  const p = r.d.istio.candidates().get(`VirtualService shop/${name}`)?.[0] as ParsedVirtualService | undefined;
  return p?.http[0]?.timeoutMs;
}

function lbOf(r: Running, name: string): string | undefined {
  const p = r.d.istio.candidates().get(`DestinationRule shop/${name}`)?.[0] as ParsedDestinationRule | undefined;
  return JSON.stringify(p?.rule.trafficPolicy?.loadBalancer);
}

const eventsOn = (api: KubeApiServer, kind: string, name: string) => api.events().filter((e) => e.regarding.kind === kind && e.regarding.name === name);

test('an invalid Istio object: rejected by name with a metric and an Event, its last valid version stays, others apply', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  seed(api);
  const r = await startSynced(t, kubeconfig);
  await waitFor('the valid objects', () => timeoutOf(r, 'reviews') === 1000 && timeoutOf(r, 'ratings') === 1000 && lbOf(r, 'reviews') !== undefined);
  const lbBefore = lbOf(r, 'reviews');
  const from = logs.length;

  const bad = api.apply(virtualService('reviews', 'shop', HOST, 'soon'));
  api.apply(destinationRule('reviews', 'FASTEST'));
  await waitFor('both rejections counted', async () => (await metric(r.registry, 'nodemesh_discovery_rejected_total')) === 2);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_rejected_total', { kind: 'VirtualService' }), 1);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_rejected_total', { kind: 'DestinationRule' }), 1);
  assert.equal(timeoutOf(r, 'reviews'), 1000, 'the previous valid VirtualService keeps applying');
  assert.equal(lbOf(r, 'reviews'), lbBefore, 'the previous valid DestinationRule keeps applying');

  // Named in the log, at error level, with the field.
  const said = linesSince(from).filter((l) => l.code === 'NM_E_KUBE_REJECTED');
  assert.deepEqual(said.map((l) => [l.level, l.kind, l.object]).sort(), [
    [ERROR, 'DestinationRule', 'shop/reviews'],
    [ERROR, 'VirtualService', 'shop/reviews'],
  ]);
  assert.match(String(said.find((l) => l.kind === 'VirtualService')?.msg), /spec\.http\[0\]\.timeout/);

  // A Warning Event on the very object version, as `kubectl describe` shows it.
  await waitFor('the Events', () => eventsOn(api, 'VirtualService', 'reviews').length === 1 && eventsOn(api, 'DestinationRule', 'reviews').length === 1);
  const ev = eventsOn(api, 'VirtualService', 'reviews')[0]!;
  assert.equal(ev.type, 'Warning');
  assert.equal(ev.reason, 'NodemeshInvalid');
  assert.equal(ev.namespace, 'shop');
  assert.equal(ev.regarding.uid, bad.metadata?.uid);
  assert.equal(ev.regarding.apiVersion, 'networking.istio.io/v1');
  assert.equal((ev.object.involvedObject as { resourceVersion?: string }).resourceVersion, bad.metadata?.resourceVersion);
  assert.match(ev.message, /spec\.http\[0\]\.timeout.*not a duration/);
  assert.equal((ev.object.source as { host?: string }).host, 'node-a');

  // Others apply meanwhile, new invalid objects are rejected too and never offered.
  api.apply(virtualService('ratings', 'shop', HOST, '2s'));
  api.apply(virtualService('broken', 'shop', HOST, 'never'));
  await waitFor('the ratings update', () => timeoutOf(r, 'ratings') === 2000);
  await waitFor('the new invalid one rejected', async () => (await metric(r.registry, 'nodemesh_discovery_rejected_total', { kind: 'VirtualService' })) === 2);
  assert.equal(r.d.istio.candidates().has('VirtualService shop/broken'), false);
  await waitFor('its Event', () => eventsOn(api, 'VirtualService', 'broken').length === 1);

  // Fixed, the new version applies; deleted, it is gone.
  api.apply(virtualService('reviews', 'shop', HOST, '3s'));
  await waitFor('the fixed version', () => timeoutOf(r, 'reviews') === 3000);
  api.remove('networking.istio.io/v1', 'VirtualService', 'shop', 'ratings');
  await waitFor('the deleted one gone', () => timeoutOf(r, 'ratings') === undefined);

  // A re-list (410) sees the same invalid versions again: not counted, logged or evented twice.
  const lists = api.count('list', '/apis/networking.istio.io/v1/virtualservices');
  api.expireWatches();
  await waitFor('the re-list', () => api.count('list', '/apis/networking.istio.io/v1/virtualservices') > lists && api.watchCount('/apis/networking.istio.io/v1/virtualservices') === 1);
  await sleep(200);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_rejected_total'), 3);
  assert.equal(eventsOn(api, 'VirtualService', 'broken').length, 1);
  assert.equal(api.events().length, 3);
});

test('Events refused (RBAC): logged once, rejections still counted, nothing breaks', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t, { forbid: { events: true } });
  seed(api);
  const from = logs.length;
  const r = await startSynced(t, kubeconfig);
  await waitFor('the valid objects', () => timeoutOf(r, 'reviews') === 1000);
  for (const [name, timeout] of [['reviews', 'soon'], ['ratings', 'later'], ['reviews', 'someday']] as const) {
    api.apply(virtualService(name, 'shop', HOST, timeout));
  }
  await waitFor('three rejections', async () => (await metric(r.registry, 'nodemesh_discovery_rejected_total')) === 3);
  await waitFor('the refusal logged', () => linesSince(from, 'discovery.events').length > 0);
  await sleep(300);
  const refusals = linesSince(from, 'discovery.events');
  assert.equal(refusals.length, 1, 'said once');
  assert.match(String(refusals[0]!.msg), /cannot write Kubernetes Events/);
  assert.ok(refusals[0]!.level < ERROR, 'a warning, not an error');
  assert.ok(api.count('create', '/api/v1/namespaces/shop/events') >= 3, 'each rejection tried');
  assert.deepEqual(api.events(), []);
  // Nothing broke: still synced, valid versions still apply.
  assert.equal(r.d.synced, true);
  assert.equal(timeoutOf(r, 'reviews'), 1000);
  api.apply(virtualService('ratings', 'shop', HOST, '5s'));
  await waitFor('a valid update after the refusals', () => timeoutOf(r, 'ratings') === 5000);
  // Granted again: the next rejection gets its Event.
  api.forbid.events = false;
  api.apply(virtualService('ratings', 'shop', HOST, 'nope'));
  await waitFor('an Event once allowed', () => eventsOn(api, 'VirtualService', 'ratings').length === 1);
  assert.equal(linesSince(from, 'discovery.events').length, 1);
});

test('an Event message is capped at 1 KiB, whatever the object says', { timeout: 20_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  seed(api);
  const r = await startSynced(t, kubeconfig);
  const vs = virtualService('long', 'shop', HOST, '1s') as { spec: { http: unknown[] } };
  vs.spec.http = Array.from({ length: 200 }, (_, i) => ({ timeout: `bad-${i}`, route: [{ destination: { host: HOST } }] }));
  api.apply(vs as KubeObject);
  await waitFor('its Event', () => eventsOn(api, 'VirtualService', 'long').length === 1);
  const ev = eventsOn(api, 'VirtualService', 'long')[0]!;
  assert.ok(ev.message.length <= 1024, `${ev.message.length} characters`);
  assert.match(ev.message, /spec\.http\[0\]\.timeout/);
  assert.equal(r.d.istio.candidates().has('VirtualService shop/long'), false);
});
