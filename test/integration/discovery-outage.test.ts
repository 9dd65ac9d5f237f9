// Discovery when the API is away or forgets: watch expiry (410) forces a re-list that reflects every
// change of the gap; a restarted API server leaves the last known state serving until the reconnect,
// which catches up; an API that stays away is retried with a backoff that grows and stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeApiServer } from '../helpers/kubeapi';
import { endpointSlice, namespace, pod, service } from '../helpers/kubeobjects';
import { linesSince, logs, metric, rewritingProxy, sleep, standIn, startSynced, waitFor, type Running } from './discovery-harness';

const WEB_PORTS = [{ name: 'http', port: 80, targetPort: 8080 }];

function seed(api: KubeApiServer): void {
  api.apply(namespace('shop'));
  for (let i = 1; i <= 3; i++) api.apply(pod({ name: `web-${i}`, namespace: 'shop', node: 'node-a', ip: `10.1.0.${i}`, labels: { app: 'web' } }));
  api.apply(service('web', 'shop', '10.96.0.10', WEB_PORTS));
  api.apply(service('old', 'shop', '10.96.0.11', WEB_PORTS));
  api.apply(endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [1, 2, 3].map((i) => ({ ip: `10.1.0.${i}`, node: 'node-a', pod: `web-${i}` }))));
}

/** Changes of the gap: one add, one update and one delete of each core kind the test seeded. */
function gapChanges(api: KubeApiServer): void {
  api.apply(pod({ name: 'web-4', namespace: 'shop', node: 'node-a', ip: '10.1.0.4', labels: { app: 'web' } }));
  api.apply(pod({ name: 'web-1', namespace: 'shop', node: 'node-a', ip: '10.1.0.1', labels: { app: 'web', version: 'v2' } }));
  api.remove('v1', 'Pod', 'shop', 'web-3');
  api.apply(service('new', 'shop', '10.96.0.12', WEB_PORTS));
  api.apply(service('web', 'shop', '10.96.0.20', WEB_PORTS));
  api.remove('v1', 'Service', 'shop', 'old');
  api.apply(endpointSlice('web-x1', 'shop', 'web', [{ name: 'http', port: 8080 }], [1, 2, 4].map((i) => ({ ip: `10.1.0.${i}`, node: 'node-a', pod: `web-${i}` }))));
}

function state(r: Running): { pods: string[]; services: string[]; endpoints: string[]; v2: string | undefined } {
  const v = r.d.snapshot();
  return {
    pods: [...v.pods.keys()].sort(),
    services: [...v.services.values()].map((s) => `${s.meta.name}=${s.clusterIPs.join(',')}`).sort(),
    endpoints: [...v.slices.values()].flatMap((s) => s.endpoints.flatMap((e) => e.addresses)).sort(),
    v2: v.pods.get('shop/web-1')?.meta.labels.version,
  };
}

const BEFORE = {
  pods: ['shop/web-1', 'shop/web-2', 'shop/web-3'],
  services: ['old=10.96.0.11', 'web=10.96.0.10'],
  endpoints: ['10.1.0.1', '10.1.0.2', '10.1.0.3'],
  v2: undefined,
};
const AFTER = {
  pods: ['shop/web-1', 'shop/web-2', 'shop/web-4'],
  services: ['new=10.96.0.12', 'web=10.96.0.20'],
  endpoints: ['10.1.0.1', '10.1.0.2', '10.1.0.4'],
  v2: 'v2',
};

test('410 Expired: every watch re-lists, and adds, updates and deletes of the gap are all reflected', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  seed(api);
  const r = await startSynced(t, kubeconfig, { istio: false });
  assert.deepEqual(state(r), BEFORE);
  const lists = api.count('list');
  // Compaction ends every watch with 410; the changes right after it reach no watch, only the re-list.
  api.expireWatches();
  gapChanges(api);
  await waitFor(() => `the gap's changes (now ${JSON.stringify(state(r))})`, () => JSON.stringify(state(r)) === JSON.stringify(AFTER));
  for (const p of ['/api/v1/pods', '/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices', '/api/v1/namespaces', '/api/v1/nodes']) {
    await waitFor(`a watch on ${p} again`, () => api.watchCount(p) === 1);
  }
  assert.ok(api.count('list') >= lists + 5, 'each resource was listed again');
  assert.equal(r.d.synced, true);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_synced'), 1);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_objects', { kind: 'Service' }), 2);
  // Watched from the new list on: a change after it arrives without another list.
  const relists = api.count('list');
  api.apply(pod({ name: 'web-5', namespace: 'shop', node: 'node-a', ip: '10.1.0.5' }));
  await waitFor('a pod added after the re-list', () => r.d.snapshot().pods.has('shop/web-5'));
  assert.equal(api.count('list'), relists);
});

test('a restarted API server: the last known state stays while it is down, the reconnect catches up', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  seed(api);
  const r = await startSynced(t, kubeconfig, { istio: false });
  const lists = api.count('list');
  const restarted = api.restart(1500);
  // Changes while it is down (the store keeps them, as etcd does): the watches resume after them.
  gapChanges(api);
  await sleep(800);
  assert.deepEqual(state(r), BEFORE, 'nothing is removed while the API is away');
  assert.equal(r.d.synced, true);
  assert.equal(await metric(r.registry, 'nodemesh_discovery_synced'), 1, 'still synced while reconnecting');
  await restarted;
  await waitFor(() => `the changes made while it was down (now ${JSON.stringify(state(r))})`, () => JSON.stringify(state(r)) === JSON.stringify(AFTER));
  assert.equal(api.count('list'), lists, 'resumed from the last resourceVersion: no re-list needed');
});

test('a restart that also compacted: the resume gets 410 and the re-list removes what went away', { timeout: 30_000 }, async (t) => {
  const { api, kubeconfig } = await standIn(t);
  seed(api);
  const r = await startSynced(t, kubeconfig, { istio: false });
  const restarted = api.restart(1000);
  gapChanges(api);
  api.expireWatches();
  await sleep(500);
  assert.deepEqual(state(r), BEFORE);
  await restarted;
  await waitFor(() => `the re-listed state (now ${JSON.stringify(state(r))})`, () => JSON.stringify(state(r)) === JSON.stringify(AFTER));
  assert.equal(r.d.synced, true);
});

test('an API that stays away: reconnects back off, growing up to the cap; back, it catches up', { timeout: 40_000 }, async (t) => {
  const { api, dir } = await standIn(t);
  seed(api);
  const proxy = await rewritingProxy(t, api, dir);
  const base = 50;
  const max = 800;
  const r = await startSynced(t, proxy.kubeconfig, { istio: false, informer: { backoffMs: { base, max } } });
  // Every connection reset: the open watches break, and every reconnect is refused.
  const from = logs.length;
  proxy.down = true;
  proxy.cut();
  const downFor = 5000;
  await sleep(downFor);
  gapChanges(api);
  proxy.down = false;
  const attempts = proxy.refused.get('/api/v1/pods') ?? [];
  const gaps = attempts.slice(1).map((v, i) => v - attempts[i]!);
  // Without growth, a 50 ms backoff would try about 100 times in 5 s; growing to 800 ms it is a handful.
  assert.ok(attempts.length >= 3 && attempts.length <= 20, `reconnects while down: ${attempts.length} (gaps ${gaps.join(', ')} ms)`);
  assert.ok(gaps.at(-1)! > gaps[0]!, `the waits grow (${gaps.join(', ')} ms)`);
  assert.ok(Math.max(...gaps) <= max * 1.5 + 500, `and stay under the cap with its jitter (${gaps.join(', ')} ms)`);
  assert.deepEqual(state(r), BEFORE, 'the last known state stays');
  assert.equal(r.d.synced, true);
  // Said once per kind (again only when the error changes), not once per attempt.
  const said = linesSince(from).filter((l) => l.code === 'NM_E_KUBE_API' && l.kind === 'Pod');
  assert.ok(said.length >= 1 && said.length <= 3, `warnings for Pod: ${said.map((l) => String(l.err)).join(' | ')}`);
  // Back: within one capped wait the watches resume and bring the changes.
  const back = Date.now();
  await waitFor(() => `the changes after the API came back (now ${JSON.stringify(state(r))})`, () => JSON.stringify(state(r)) === JSON.stringify(AFTER));
  assert.ok(Date.now() - back < max * 1.5 + 2000, `caught up ${Date.now() - back} ms after the API came back`);
});
