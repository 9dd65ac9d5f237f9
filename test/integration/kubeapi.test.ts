// The Kubernetes API stand-in, driven only through @kubernetes/client-node (the library the agent and the
// CA use): if the client cannot tell it from a real API server here, neither can they.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KubeApiServer, type KubeObject } from '../helpers/kubeapi';

let api: KubeApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let dir: string;

const pod = (ns: string, name: string, labels: Record<string, string> = {}, nodeName = 'node-0'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: { nodeName, serviceAccountName: 'default', containers: [{ name: 'c', image: 'app:1' }] },
  status: { phase: 'Running', podIP: '10.0.0.1' },
});

async function waitFor(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The HTTP status of a failed client call (ApiException.code), or of the 200 it was not. */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

function clientFor(server: KubeApiServer, file: string): k8s.KubeConfig {
  server.writeKubeconfig(path.join(dir, file));
  const c = new k8s.KubeConfig();
  c.loadFromFile(path.join(dir, file));
  return c;
}

/** A pod informer recording what it reports. */
function podInformer(ns: string) {
  const seen: string[] = [];
  const errors: unknown[] = [];
  const inf = k8s.makeInformer<k8s.V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, () => core.listNamespacedPod({ namespace: ns }));
  inf.on('add', (p) => seen.push(`add ${p.metadata!.name}`));
  inf.on('update', (p) => seen.push(`update ${p.metadata!.name} ${p.metadata!.labels?.v ?? ''}`));
  inf.on('delete', (p) => seen.push(`delete ${p.metadata!.name}`));
  // stop() aborts the watch request, which the client also reports as an error.
  inf.on('error', (e) => { if ((e as Error).name !== 'AbortError') errors.push(e); });
  const names = (): string[] => inf.list(ns).map((p) => p.metadata!.name!).sort();
  return { inf, seen, errors, names };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-kubeapi-'));
  api = await KubeApiServer.start({ bookmarkMs: 100 });
  kc = clientFor(api, 'kubeconfig');
  core = kc.makeApiClient(k8s.CoreV1Api);
});

after(async () => {
  await api.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a kubeconfig the client loads; requests without the token are refused with 401', async () => {
  assert.equal(kc.getCurrentCluster()?.server, api.url);
  const wrong = new k8s.KubeConfig();
  wrong.loadFromOptions({
    clusters: [{ name: 'c', server: api.url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-the-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  assert.equal(await statusOf(wrong.makeApiClient(k8s.CoreV1Api).listNamespace()), 401);
  assert.equal(await statusOf(core.listNamespace()), 200);
});

test('objects are real Kubernetes JSON: uid, resourceVersion, generation; lists carry their resourceVersion', async () => {
  const stored = api.apply(pod('crud', 'a', { app: 'web' }));
  assert.equal(stored.kind, 'Pod');
  assert.match(String(stored.metadata?.uid), /^[0-9a-f-]{36}$/);
  const got = await core.readNamespacedPod({ namespace: 'crud', name: 'a' });
  assert.equal(got.kind, 'Pod');
  assert.equal(got.apiVersion, 'v1');
  assert.equal(got.metadata?.resourceVersion, stored.metadata?.resourceVersion);
  assert.equal(got.metadata?.generation, 1);
  assert.ok(got.metadata?.creationTimestamp instanceof Date);
  const list = await core.listNamespacedPod({ namespace: 'crud' });
  assert.equal(list.kind, 'PodList');
  assert.equal(list.metadata?.resourceVersion, api.resourceVersion());
  assert.equal(list.items.length, 1);
  assert.equal(list.items[0]!.kind, undefined, 'list items carry no kind, as the real server sends them');
  assert.equal(list.items[0]!.spec?.nodeName, 'node-0');
});

test('create, conflict, replace (generation), patch, delete, not found', async () => {
  const body = pod('crud', 'b') as k8s.V1Pod;
  const created = await core.createNamespacedPod({ namespace: 'crud', body });
  assert.equal(created.metadata?.generation, 1);
  assert.equal(await statusOf(core.createNamespacedPod({ namespace: 'crud', body })), 409);
  created.spec!.containers[0]!.image = 'app:2';
  const replaced = await core.replaceNamespacedPod({ namespace: 'crud', name: 'b', body: created });
  assert.equal(replaced.metadata?.generation, 2);
  assert.equal(replaced.metadata?.uid, created.metadata?.uid);
  assert.ok(Number(replaced.metadata?.resourceVersion) > Number(created.metadata?.resourceVersion));
  assert.equal(await statusOf(core.replaceNamespacedPod({ namespace: 'crud', name: 'b', body: created })), 409, 'stale resourceVersion');
  const patched = await core.patchNamespacedPod({ namespace: 'crud', name: 'b', body: [{ op: 'add', path: '/metadata/labels/v', value: '2' }] });
  assert.equal(patched.metadata?.labels?.v, '2');
  await core.deleteNamespacedPod({ namespace: 'crud', name: 'b' });
  assert.equal(await statusOf(core.readNamespacedPod({ namespace: 'crud', name: 'b' })), 404);
  assert.equal(await statusOf(core.deleteNamespacedPod({ namespace: 'crud', name: 'b' })), 404);
  const ns = await core.createNamespace({ body: { metadata: { name: 'crud', labels: { 'istio.io/dataplane-mode': 'ambient' } } } });
  assert.deepEqual(ns.metadata?.labels, { 'istio.io/dataplane-mode': 'ambient', 'kubernetes.io/metadata.name': 'crud' });
  const cm = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'cfg' }, data: { k: 'v' } } });
  assert.equal(cm.data?.k, 'v');
});

test('label and field selectors filter lists; a bad selector is 400', async () => {
  api.applyMany([
    pod('sel', 'p1', { app: 'web', tier: 'fe' }, 'node-1'),
    pod('sel', 'p2', { app: 'web', tier: 'db' }, 'node-2'),
    pod('sel', 'p3', { app: 'api', canary: 'yes' }, 'node-1'),
  ]);
  const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
    (await core.listNamespacedPod({ namespace: 'sel', labelSelector, fieldSelector })).items.map((p) => p.metadata!.name!).sort();
  assert.deepEqual(await names('app=web'), ['p1', 'p2']);
  assert.deepEqual(await names('app==web,tier!=db'), ['p1']);
  assert.deepEqual(await names('canary'), ['p3']);
  assert.deepEqual(await names('!canary'), ['p1', 'p2']);
  assert.deepEqual(await names('app in (api,other)'), ['p3']);
  assert.deepEqual(await names(undefined, 'spec.nodeName=node-1'), ['p1', 'p3']);
  assert.deepEqual(await names(undefined, 'metadata.name=p2'), ['p2']);
  assert.deepEqual(await names('app=web', 'spec.nodeName!=node-1'), ['p2']);
  const all = await core.listPodForAllNamespaces({ fieldSelector: 'metadata.namespace=sel' });
  assert.equal(all.items.length, 3);
  assert.equal(await statusOf(core.listNamespacedPod({ namespace: 'sel', labelSelector: 'a=(' })), 400);
  assert.equal(await statusOf(core.listNamespacedPod({ namespace: 'sel', fieldSelector: 'spec.bogus=1' })), 400);
});

test('pagination: limit and continue give a consistent snapshot; a compacted continue is 410', async () => {
  api.applyMany(Array.from({ length: 25 }, (_, i) => pod('page', `p${String(i).padStart(2, '0')}`)));
  const first = await core.listNamespacedPod({ namespace: 'page', limit: 10 });
  assert.equal(first.items.length, 10);
  assert.equal(first.metadata?.remainingItemCount, 15);
  api.apply(pod('page', 'p99'));
  api.remove('v1', 'Pod', 'page', 'p20');
  const names = first.items.map((p) => p.metadata!.name!);
  let token = first.metadata?._continue;
  while (token) {
    const next = await core.listNamespacedPod({ namespace: 'page', limit: 10, _continue: token });
    assert.equal(next.metadata?.resourceVersion, first.metadata?.resourceVersion, 'every page is of the same snapshot');
    names.push(...next.items.map((p) => p.metadata!.name!));
    token = next.metadata?._continue;
  }
  assert.deepEqual(names, Array.from({ length: 25 }, (_, i) => `p${String(i).padStart(2, '0')}`));
  const again = await core.listNamespacedPod({ namespace: 'page', limit: 5 });
  api.expireWatches();
  assert.equal(await statusOf(core.listNamespacedPod({ namespace: 'page', limit: 5, _continue: again.metadata!._continue! })), 410);
});

test('an informer (list + watch) sees adds, updates and deletes', async () => {
  api.apply(pod('inf', 'x'));
  const { inf, seen, names } = podInformer('inf');
  await inf.start();
  await waitFor('initial list', () => seen.includes('add x'));
  await waitFor('the watch', () => api.watchCount('/api/v1/namespaces/inf/pods') === 1);
  api.apply(pod('inf', 'y'));
  api.apply(pod('inf', 'x', { v: '2' }));
  await core.deleteNamespacedPod({ namespace: 'inf', name: 'y' });
  api.apply(pod('other', 'z'));
  await waitFor('events', () => seen.includes('delete y'));
  assert.deepEqual(seen, ['add x', 'add y', 'update x 2', 'delete y']);
  assert.deepEqual(names(), ['x']);
  await inf.stop();
});

test('a watch with allowWatchBookmarks gets BOOKMARKs; a watch from a resourceVersion replays what followed', async () => {
  api.apply(pod('bm', 'a'));
  const rv = api.resourceVersion();
  api.apply(pod('bm', 'b'));
  const events: Array<{ type: string; name?: string; rv?: string; kind?: string }> = [];
  let ended = false;
  const w = new k8s.Watch(kc);
  const req = await w.watch('/api/v1/namespaces/bm/pods', { allowWatchBookmarks: true, resourceVersion: rv },
    (type, obj: KubeObject) => events.push({ type, name: obj.metadata?.name, rv: obj.metadata?.resourceVersion, kind: obj.kind }),
    () => { ended = true; });
  await waitFor('a bookmark', () => events.some((e) => e.type === 'BOOKMARK'));
  assert.deepEqual(events[0], { type: 'ADDED', name: 'b', rv: api.get('v1', 'Pod', 'bm', 'b')!.metadata!.resourceVersion, kind: 'Pod' });
  const bm = events.find((e) => e.type === 'BOOKMARK')!;
  assert.equal(bm.kind, 'Pod');
  assert.ok(Number(bm.rv) >= Number(rv));
  api.remove('v1', 'Pod', 'bm', 'b');
  await waitFor('the deletion', () => events.some((e) => e.type === 'DELETED'));
  assert.deepEqual(events.find((e) => e.type === 'DELETED'), { type: 'DELETED', name: 'b', rv: api.resourceVersion(), kind: 'Pod' }, 'a deletion carries its own resourceVersion');
  req.abort();
  await waitFor('the end', () => ended);

  // timeoutSeconds ends the watch cleanly (done without an error).
  let doneErr: unknown = 'pending';
  await w.watch('/api/v1/namespaces/bm/pods', { timeoutSeconds: 1 }, () => {}, (err) => { doneErr = err; });
  await waitFor('the timeout', () => doneErr !== 'pending', 5000);
  assert.equal(doneErr, null);
});

test('expireWatches: the informer re-lists (410) and ends with the right objects, deletions in the gap reported', async () => {
  api.applyMany([pod('exp', 'keep'), pod('exp', 'gone'), pod('exp', 'edit')]);
  const { inf, seen, errors, names } = podInformer('exp');
  await inf.start();
  await waitFor('initial list', () => names().length === 3);
  await waitFor('the watch', () => api.watchCount('/api/v1/namespaces/exp/pods') === 1);
  const lists = api.count('list', '/api/v1/namespaces/exp/pods');
  api.expireWatches();
  await waitFor('a re-list', () => api.count('list', '/api/v1/namespaces/exp/pods') === lists + 1);
  await waitFor('the new watch', () => api.watchCount('/api/v1/namespaces/exp/pods') === 1);

  // The client away while changes happen and the history is compacted: its resourceVersion is too old.
  await inf.stop();
  api.remove('v1', 'Pod', 'exp', 'gone');
  api.apply(pod('exp', 'edit', { v: '2' }));
  api.apply(pod('exp', 'new'));
  api.expireWatches();
  seen.length = 0;
  await inf.start();
  await waitFor('the gap reported', () => seen.includes('delete gone') && seen.includes('add new') && seen.includes('update edit 2'));
  assert.deepEqual(names(), ['edit', 'keep', 'new']);
  assert.equal(api.count('list', '/api/v1/namespaces/exp/pods'), lists + 2);
  assert.deepEqual(errors, []);
  await inf.stop();
});

test('restart() during a watch loses nothing once the client reconnects', async () => {
  api.applyMany([pod('rs', 'a'), pod('rs', 'b')]);
  const { inf, seen, errors, names } = podInformer('rs');
  await inf.start();
  await waitFor('initial list', () => names().length === 2);
  await waitFor('the watch', () => api.watchCount('/api/v1/namespaces/rs/pods') === 1);
  const lists = api.count('list', '/api/v1/namespaces/rs/pods');
  const port = api.port;
  const restarted = api.restart(300);
  api.remove('v1', 'Pod', 'rs', 'a');
  api.apply(pod('rs', 'c'));
  await restarted;
  assert.equal(api.port, port);
  // ListWatch stops on an error that is not 410; the owner starts it again (the agent does, with backoff).
  await waitFor('the broken watch reported', () => errors.length > 0 || api.watchCount('/api/v1/namespaces/rs/pods') === 1);
  if (errors.length > 0) await inf.start();
  await waitFor('changes while down', () => seen.includes('delete a') && seen.includes('add c'));
  api.apply(pod('rs', 'd'));
  await waitFor('a change after', () => seen.includes('add d'));
  assert.deepEqual(names(), ['b', 'c', 'd']);
  assert.equal(api.count('list', '/api/v1/namespaces/rs/pods'), lists, 'resumed from its resourceVersion, no re-list');
  await inf.stop();
});

test('Istio resources: served with the CRDs, 404 without them', async () => {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const vs = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'r' }, spec: { hosts: ['web'] } };
  await custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: 'shop', plural: 'virtualservices', body: vs });
  const list = (await custom.listClusterCustomObject({ group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' })) as { items: KubeObject[] };
  assert.deepEqual(list.items.map((o) => o.metadata?.name), ['r']);
  const ap = { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny', namespace: 'shop' }, spec: { action: 'DENY' } };
  api.apply(ap);
  const got = (await custom.getNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'shop', plural: 'authorizationpolicies', name: 'deny' })) as KubeObject;
  assert.equal(got.kind, 'AuthorizationPolicy');

  api.istioCrds = false;
  assert.equal(await statusOf(custom.listClusterCustomObject({ group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' })), 404);
  api.istioCrds = true;
  const bare = await KubeApiServer.start({ istioCrds: false });
  try {
    const c = clientFor(bare, 'bare').makeApiClient(k8s.CustomObjectsApi);
    assert.equal(await statusOf(c.listClusterCustomObject({ group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' })), 404);
    assert.equal(await statusOf(c.listNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'x', plural: 'peerauthentications' })), 404);
    assert.equal(await statusOf(c.listClusterCustomObject({ group: 'nothing.example', version: 'v1', plural: 'things' })), 404);
    assert.equal(await statusOf(clientFor(bare, 'bare2').makeApiClient(k8s.CoreV1Api).listNamespace()), 200);
  } finally {
    await bare.stop();
  }
});

test('TokenReview: users, audiences, unknown tokens, RBAC refusal', async () => {
  api.addToken('sa-token', { username: 'system:serviceaccount:nodemesh:agent', uid: 'u1', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/node-name': ['node-1'] }, audiences: ['nodemesh-ca'] });
  const auth = kc.makeApiClient(k8s.AuthenticationV1Api);
  const ask = (token: string, audiences?: string[]) => auth.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } });
  const ok = await ask('sa-token', ['nodemesh-ca']);
  assert.equal(ok.status?.authenticated, true);
  assert.equal(ok.status?.user?.username, 'system:serviceaccount:nodemesh:agent');
  assert.deepEqual(ok.status?.user?.extra, { 'authentication.kubernetes.io/node-name': ['node-1'] });
  assert.deepEqual(ok.status?.audiences, ['nodemesh-ca']);
  const wrongAud = await ask('sa-token', ['other']);
  assert.equal(wrongAud.status?.authenticated, false);
  assert.match(wrongAud.status?.error ?? '', /audiences/);
  const unknown = await ask('nope');
  assert.equal(unknown.status?.authenticated, false);
  assert.ok(unknown.status?.error);
  api.forbid.tokenReviews = true;
  try {
    assert.equal(await statusOf(ask('sa-token', ['nodemesh-ca'])), 403);
  } finally {
    api.forbid.tokenReviews = false;
  }
});

test('Events through both APIs are stored; RBAC may refuse them', async () => {
  await core.createNamespacedEvent({ namespace: 'shop', body: {
    metadata: { name: 'vs.1' }, involvedObject: { kind: 'VirtualService', namespace: 'shop', name: 'bad' }, reason: 'Rejected', message: 'spec.http: invalid', type: 'Warning',
  } });
  const ev = kc.makeApiClient(k8s.EventsV1Api);
  await ev.createNamespacedEvent({ namespace: 'shop', body: {
    metadata: { generateName: 'dr.' }, eventTime: new Date(), regarding: { kind: 'DestinationRule', namespace: 'shop', name: 'dr' }, reason: 'Rejected', note: 'bad subset', type: 'Warning',
    action: 'Validate', reportingController: 'nodemesh.io/agent', reportingInstance: 'node-0',
  } });
  const seen = api.events().filter((e) => e.namespace === 'shop');
  assert.deepEqual(seen.map((e) => [e.apiVersion, e.reason, e.regarding.name, e.message]), [
    ['v1', 'Rejected', 'bad', 'spec.http: invalid'],
    ['events.k8s.io/v1', 'Rejected', 'dr', 'bad subset'],
  ]);
  assert.match(seen[1]!.name, /^dr\.[0-9a-f]{5}$/);
  api.forbid.events = true;
  try {
    assert.equal(await statusOf(core.createNamespacedEvent({ namespace: 'shop', body: { metadata: { name: 'x' }, involvedObject: {} } })), 403);
  } finally {
    api.forbid.events = false;
  }
});

test('a malformed body is a 400 Status, an unknown path a 404 Status, and the stand-in keeps serving', async () => {
  // The client never sends bad JSON, so this one request is written by hand, with the client's credentials.
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const raw = (method: string, p: string, body?: string): Promise<{ code: number; json: { kind?: string; code?: number } }> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${api.url}${p}`, { method, headers: { ...opts.headers, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const bad = await raw('POST', '/api/v1/namespaces/crud/pods', '{"metadata": ');
  assert.deepEqual([bad.code, bad.json.kind, bad.json.code], [400, 'Status', 400]);
  const missing = await raw('GET', '/apis/nothing.example/v1/things');
  assert.deepEqual([missing.code, missing.json.kind], [404, 'Status']);
  assert.equal((await raw('POST', '/api/v1/pods', '{}')).code, 405);
  assert.equal(await statusOf(core.listNamespace()), 200);
});
