// MeshSources: the ConfigMap (all or nothing, with its reload metric) composed with Kubernetes discovery
// (Services, EndpointSlices and Istio objects from the API, each on its own). A ConfigMap VirtualService
// may name a discovered Service's host; a bad ConfigMap is refused whole while the discovered view keeps
// applying; an API object that does not fit the rest is left out by name with an Event.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadResult } from '../../src/config/load';
import type { MeshConfig } from '../../src/config/model';
import type { KPod } from '../../src/discovery/objects';
import { MeshSources } from '../../src/discovery/sources';
import type { KubeApiServer } from '../helpers/kubeapi';
import { AMBIENT, endpointSlice, namespace, pod, service } from '../helpers/kubeobjects';
import { makeDiscovery, standIn, virtualService, waitFor, type Running } from './discovery-harness';

const LEGACY = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.example.com]
  addresses: [10.96.1.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.2.0.1}]
`;

const cmVirtualService = (name: string, host: string): string => `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: shop}
spec:
  hosts: [${host}]
  http: [{timeout: 7s, route: [{destination: {host: ${host}}}]}]
`;

function seed(api: KubeApiServer): void {
  api.apply(namespace('shop', AMBIENT));
  api.apply(pod({ name: 'web-1', namespace: 'shop', node: 'node-a', ip: '10.1.0.1', deployment: 'web' }));
  api.apply(pod({ name: 'web-2', namespace: 'shop', node: 'node-b', ip: '10.1.0.2', deployment: 'web' }));
  api.apply(service('web', 'shop', '10.96.0.10', [{ name: 'http', port: 80, targetPort: 8080 }]));
  api.apply(service('reviews', 'shop', '10.96.0.20', [{ name: 'http', port: 80, targetPort: 9080 }]));
  api.apply(endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.1.0.1', node: 'node-a', pod: 'web-1' }]));
  // Istio's short-name rule: `reviews` in namespace shop is reviews.shop.svc.cluster.local.
  api.apply(virtualService('reviews-api', 'shop', 'reviews', '1s'));
}

interface World {
  readonly api: KubeApiServer;
  readonly r: Running;
  readonly sources: MeshSources;
  readonly file: string;
  readonly applied: MeshConfig[];
  readonly reloads: boolean[];
  readonly meshed: string[][];
}

/** Writes the ConfigMap the way an editor or kubelet replaces it: a new file renamed into place. */
function writeConfigMap(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function world(t: TestContext, configMap: string): Promise<World> {
  const { api, kubeconfig, dir } = await standIn(t);
  seed(api);
  const file = path.join(dir, 'mesh.yaml');
  writeConfigMap(file, configMap);
  const applied: MeshConfig[] = [];
  const reloads: boolean[] = [];
  const meshed: string[][] = [];
  let sources: MeshSources | undefined;
  const r = makeDiscovery(t, kubeconfig, { onChange: () => sources?.changed() });
  sources = new MeshSources({
    config: file,
    discovery: r.d,
    hooks: {
      apply: async (result: LoadResult) => {
        assert.ok(result.ok);
        applied.push(result.config);
        return true;
      },
      reloaded: (ok) => reloads.push(ok),
      syncMeshed: (pods: readonly KPod[] | undefined) => {
        meshed.push((pods ?? []).map((p) => p.meta.name));
        return [];
      },
    },
  });
  t.after(() => sources?.stop());
  await sources.start();
  return { api, r, sources, file, applied, reloads, meshed };
}

const last = (w: World): MeshConfig | undefined => w.applied.at(-1);
const serviceKeys = (c: MeshConfig | undefined): string[] => (c?.services ?? []).map((s) => s.key).sort();
const routes = (c: MeshConfig | undefined): string[] => (c?.traffic?.virtualServices ?? []).map((v) => `${v.namespace}/${v.name}→${v.services.join(',')}`).sort();
const endpoints = (c: MeshConfig | undefined, key: string): string[] => (c?.services.find((s) => s.key === key)?.endpoints ?? []).map((e) => e.address);

test('the ConfigMap and discovery compose: a ConfigMap VirtualService may name a discovered host; a bad ConfigMap is refused whole while discovery keeps applying', { timeout: 40_000 }, async (t) => {
  const w = await world(t, LEGACY);
  await waitFor(() => `a config with the discovered services (last: ${serviceKeys(last(w)).join(', ')})`, () => serviceKeys(last(w)).includes('shop/web'));
  assert.deepEqual(serviceKeys(last(w)), ['shop/legacy', 'shop/reviews', 'shop/web']);
  assert.deepEqual(routes(last(w)), ['shop/reviews-api→shop/reviews'], 'an API VirtualService with a short host applies to the discovered Service');
  assert.deepEqual(w.reloads, [true]);
  assert.deepEqual(w.sources.pending(), []);
  assert.deepEqual(w.meshed.at(-1), ['web-1'], 'the meshed pods of this node go to the kernel table');

  // A ConfigMap VirtualService routing a discovered Service: accepted.
  writeConfigMap(w.file, LEGACY + cmVirtualService('web-cm', 'web.shop.svc.cluster.local'));
  await waitFor('the ConfigMap VirtualService applied', () => routes(last(w)).includes('shop/web-cm→shop/web'));
  assert.deepEqual(w.reloads, [true, true]);
  assert.equal(last(w)?.traffic?.virtualServices.find((v) => v.name === 'web-cm')?.http[0]?.timeoutMs, 7000);

  // A ConfigMap naming a host nobody has: refused whole (its valid new ServiceEntry too), reported false.
  const extra = LEGACY.replaceAll('legacy', 'extra').replace('10.96.1.1', '10.96.1.2').replace('10.2.0.1', '10.2.0.2');
  writeConfigMap(w.file, LEGACY + cmVirtualService('web-cm', 'web.shop.svc.cluster.local') + '---' + extra + cmVirtualService('ghost', 'nothere.shop.svc.cluster.local'));
  await waitFor('the refusal reported', () => w.reloads.length === 3);
  assert.equal(w.reloads[2], false);
  // Discovery keeps applying on top of the last good ConfigMap.
  const n = w.applied.length;
  w.api.apply(endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [1, 2].map((i) => ({ ip: `10.1.0.${i}`, node: `node-${'ab'[i - 1]}`, pod: `web-${i}` }))));
  await waitFor('the endpoint change applied', () => w.applied.length > n && endpoints(last(w), 'shop/web').length === 2);
  assert.deepEqual(serviceKeys(last(w)), ['shop/legacy', 'shop/reviews', 'shop/web'], 'nothing of the refused ConfigMap');
  assert.ok(routes(last(w)).includes('shop/web-cm→shop/web'), 'the last good ConfigMap stays');
  assert.deepEqual(w.reloads, [true, true, false], 'discovery changes are not reloads');

  // A ConfigMap that does not even parse: refused too; fixed, it applies.
  writeConfigMap(w.file, 'apiVersion: [unclosed\n');
  await waitFor('the parse error reported', () => w.reloads.length === 4);
  assert.equal(w.reloads[3], false);
  writeConfigMap(w.file, LEGACY + '---' + extra);
  await waitFor('the fixed ConfigMap', () => serviceKeys(last(w)).includes('shop/extra'));
  assert.deepEqual(w.reloads, [true, true, false, false, true]);
  assert.deepEqual(routes(last(w)), ['shop/reviews-api→shop/reviews']);
});

test('an API object that does not fit the rest is left out by name, with an Event; the others apply', { timeout: 30_000 }, async (t) => {
  const w = await world(t, LEGACY);
  await waitFor('the first composed config', () => routes(last(w)).includes('shop/reviews-api→shop/reviews'));
  // Valid on its own, but its host is no service: left out, with a Conflict Event; the rest applies.
  w.api.apply(virtualService('ghost', 'shop', 'nothere.shop.svc.cluster.local', '1s'));
  w.api.apply(virtualService('web-api', 'shop', 'web', '2s'));
  await waitFor('the fitting one applied', () => routes(last(w)).includes('shop/web-api→shop/web'));
  assert.ok(!routes(last(w)).some((r) => r.startsWith('shop/ghost')));
  await waitFor('the Conflict Event', () => w.api.events().some((e) => e.regarding.name === 'ghost' && e.reason === 'NodemeshConflict'));
  assert.deepEqual(w.reloads, [true], 'an API object is no ConfigMap reload');
  // The Service it names appears: it fits now and applies.
  w.api.apply(service('nothere', 'shop', '10.96.0.30', [{ name: 'http', port: 80, targetPort: 80 }]));
  await waitFor('the object applied once it fits', () => routes(last(w)).includes('shop/ghost→shop/nothere'));
});

// Known problem (compose.ts/sources.ts): the first read is composed before discovery synced, refused as
// "does not fit" (reload reported false, an error logged), then applied once discovery synced without the
// reload being reported again, so nodemesh_config_last_reload_successful stays 0 while the ConfigMap serves.
test('a ConfigMap read before the first sync that names a discovered host applies once discovery synced', { timeout: 30_000 }, async (t) => {
  const w = await world(t, LEGACY + cmVirtualService('web-cm', 'web.shop.svc.cluster.local'));
  await waitFor('the ConfigMap VirtualService applied', () => routes(last(w)).includes('shop/web-cm→shop/web'));
  assert.deepEqual(serviceKeys(last(w)), ['shop/legacy', 'shop/reviews', 'shop/web']);
  // What the reload metric says in the end matches what serves.
  assert.equal(w.reloads.at(-1), true, `reloads reported: ${JSON.stringify(w.reloads)}`);
});
