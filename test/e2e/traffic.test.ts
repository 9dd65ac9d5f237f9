// Traffic management through the captured path (connect4 → agent → endpoints): VirtualService routes
// and splits, retries and their budget, outlier ejection and return, consistent hashing.
import assert from 'node:assert/strict';
import type { BatchResult } from './clients/batch';
import { backend, closeAll, docs, labeledService, scriptedBackend, vip, type Backend } from './fixtures';
import { metricSum, Mesh, rootTest, sleep } from './harness';
import { batch, waitFor } from './traffic-helpers';

const count = (rs: readonly BatchResult[], pred: (r: BatchResult) => boolean): number => rs.filter(pred).length;

const subsetsRule = (name: string, extra = ''): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: e2e}
spec:
  host: ${name}.e2e.svc.cluster.local${extra}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
`;

rootTest('VirtualService: a header match always wins and a 90/10 split holds over 1000 requests', async (t) => {
  const [v1, v2] = [await backend('v1'), await backend('v2')];
  const v = vip();
  const mesh = new Mesh({
    config: docs(
      labeledService({ name: 'reviews', vip: v, endpoints: [{ port: v1.port, labels: { version: 'v1' } }, { port: v2.port, labels: { version: 'v2' } }] }),
      subsetsRule('reviews'),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: e2e}
spec:
  hosts: [reviews.e2e.svc.cluster.local]
  http:
  - name: canary-header
    match:
    - headers:
        x-canary: {exact: "yes"}
    route:
    - destination: {host: reviews.e2e.svc.cluster.local, subset: v2}
  - name: split
    route:
    - destination: {host: reviews.e2e.svc.cluster.local, subset: v1}
      weight: 90
    - destination: {host: reviews.e2e.svc.cluster.local, subset: v2}
      weight: 10
`,
    ),
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([v1, v2]);
  });
  await mesh.start();

  const split = await batch(mesh, Array.from({ length: 1000 }, () => ({ url: `http://${v}/` })), 4);
  assert.equal(count(split, (r) => r.status === 200), 1000);
  const toV2 = count(split, (r) => r.body === 'v2');
  // Binomial(1000, 0.1): mean 100, sd 9.5; ±5 sd is a bound a correct split fails about once in 3.5 million runs.
  assert.ok(toV2 >= 52 && toV2 <= 148, `v2 got ${toV2} of 1000, expected 100 ± 48`);

  const canary = await batch(mesh, Array.from({ length: 100 }, () => ({ url: `http://${v}/`, headers: { 'x-canary': 'yes' } })), 4);
  assert.equal(count(canary, (r) => r.body === 'v2'), 100, 'the header-matched route always goes to v2');

  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'reviews', response_code: '200' }), 1100);
});

rootTest('retries hide a backend failing every other request; with maxRetries or the retry budget reached, failures surface', async (t) => {
  const flaky = await scriptedBackend('flaky', (n) => ({ status: n % 2 === 0 ? 503 : 200 }));
  const v = vip();
  const vs = (attempts: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky, namespace: e2e}
spec:
  hosts: [flaky.e2e.svc.cluster.local]
  http:
  - route:
    - destination: {host: flaky.e2e.svc.cluster.local}
    retries:
      attempts: ${attempts}
      perTryTimeout: 2s
      retryOn: 5xx
`;
  const service = labeledService({ name: 'flaky', vip: v, endpoints: [{ port: flaky.port }] });
  const mesh = new Mesh({ config: docs(service, vs(3)) });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([flaky]);
  });
  await mesh.start();

  const rs = await batch(mesh, Array.from({ length: 100 }, () => ({ url: `http://${v}/` })));
  assert.equal(count(rs, (r) => r.status === 200), 100, `client sees 100% success: ${JSON.stringify(rs.filter((r) => r.status !== 200).slice(0, 3))}`);
  let m = await mesh.metrics();
  const sent = metricSum(m, 'nodemesh_retries_total', { service: 'e2e/flaky', outcome: 'sent' });
  assert.ok(sent >= 90 && sent <= 110, `about one retry per request, got ${sent}`);
  assert.equal(flaky.hits, 100 + sent);

  // An always-failing backend and a DestinationRule allowing no concurrent retries: the 503s reach
  // the client and the backend sees each request once — retries do not multiply an outage.
  const dead = await scriptedBackend('dead', () => ({ status: 503, delayMs: 20 }));
  t.after(() => closeAll([dead]));
  const v2 = vip();
  mesh.writeConfig(
    docs(
      labeledService({ name: 'flaky', vip: v2, endpoints: [{ port: dead.port }] }),
      vs(3),
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky, namespace: e2e}
spec:
  host: flaky.e2e.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http: {maxRetries: 0}
`,
    ),
  );
  await waitFor(async () => (await batch(mesh, [{ url: `http://${v2}/` }]))[0]?.status === 503, 'reload to the dead backend');
  const before = dead.hits;
  const failing = await batch(mesh, Array.from({ length: 40 }, () => ({ url: `http://${v2}/` })), 8);
  assert.equal(count(failing, (r) => r.status === 503), 40, 'failures surface');
  assert.equal(dead.hits - before, 40, 'no request was retried');
  m = await mesh.metrics();
  assert.ok(metricSum(m, 'nodemesh_retries_total', { service: 'e2e/flaky', outcome: 'limit' }) >= 40);

  // Without that limit the retry budget still holds: concurrent retries stay within 20% of the
  // requests in flight (at least 3), so 20 clients hammering a dead backend cannot triple its load.
  const applied = async (): Promise<number> => metricSum(await mesh.metrics(), 'nodemesh_config_reloads_total', { result: 'applied' });
  const reloads = await applied();
  mesh.writeConfig(docs(labeledService({ name: 'flaky', vip: v2, endpoints: [{ port: dead.port }] }), vs(3)));
  await waitFor(async () => (await applied()) > reloads, 'reload without the DestinationRule');
  const start = dead.hits;
  const budgetBefore = metricSum(await mesh.metrics(), 'nodemesh_retries_total', { service: 'e2e/flaky', outcome: 'budget' });
  const hammer = await batch(mesh, Array.from({ length: 60 }, () => ({ url: `http://${v2}/` })), 20);
  assert.equal(count(hammer, (r) => r.status === 503), 60);
  const load = (dead.hits - start) / 60;
  assert.ok(load < 2.5, `the budget keeps the load on a dead backend well under the 4× of 3 retries each, got ${load.toFixed(2)}×`);
  m = await mesh.metrics();
  assert.ok(metricSum(m, 'nodemesh_retries_total', { service: 'e2e/flaky', outcome: 'budget' }) > budgetBefore, 'retries refused by the budget are counted');
});

rootTest('outlier detection ejects an endpoint answering 5xx and brings it back after baseEjectionTime', async (t) => {
  let broken = true;
  const bad = await scriptedBackend('bad', () => (broken ? { status: 500 } : { status: 200 }));
  const good = await backend('good');
  const v = vip();
  const mesh = new Mesh({
    config: docs(
      labeledService({ name: 'od', vip: v, endpoints: [{ port: bad.port }, { port: good.port }] }),
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: od, namespace: e2e}
spec:
  host: od.e2e.svc.cluster.local
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 2s
      maxEjectionPercent: 100
`,
    ),
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([bad, good]);
  });
  await mesh.start();

  const first = await batch(mesh, Array.from({ length: 40 }, () => ({ url: `http://${v}/` })));
  const failures = count(first, (r) => r.status === 500);
  assert.equal(failures, 3, 'three consecutive 5xx eject the endpoint; no traffic reaches it afterwards');
  assert.equal(bad.hits, 3);
  let m = await mesh.metrics();
  assert.equal(metricSum(m, 'nodemesh_outlier_ejections_total', { service: 'e2e/od' }), 1);

  broken = false;
  await sleep(2500);
  const after = await batch(mesh, Array.from({ length: 20 }, () => ({ url: `http://${v}/` })));
  assert.equal(count(after, (r) => r.status === 200), 20);
  assert.ok(bad.hits > 3, 'the endpoint gets traffic again after its ejection time');
  m = await mesh.metrics();
  assert.ok(metricSum(m, 'istio_requests_total', { destination_service_name: 'od', response_code: '200' }) >= 57);
});

rootTest('consistentHash keeps a key on one endpoint; removing one of five endpoints remaps about a fifth', async (t) => {
  const bs: Backend[] = [];
  for (let i = 0; i < 5; i++) bs.push(await backend(`e${i}`));
  const v = vip();
  const rule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sticky, namespace: e2e}
spec:
  host: sticky.e2e.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpHeaderName: x-user
        ringHash: {minimumRingSize: 4096}
`;
  const config = (eps: readonly Backend[]): string => docs(labeledService({ name: 'sticky', vip: v, endpoints: eps.map((b) => ({ port: b.port })) }), rule);
  const mesh = new Mesh({ config: config(bs) });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll(bs);
  });
  await mesh.start();

  const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);
  const place = async (): Promise<string[]> => (await batch(mesh, keys.map((k) => ({ url: `http://${v}/`, headers: { 'x-user': k } })), 4)).map((r) => r.body);
  const before = await place();
  assert.deepEqual(await place(), before, 'every key stays on its endpoint');
  const spread = new Set(before);
  assert.equal(spread.size, 5, 'keys spread over all endpoints');

  mesh.writeConfig(config(bs.slice(0, 4)));
  await waitFor(async () => !(await place()).includes('e4'), 'reload without e4');
  const after = await place();
  const moved = keys.filter((_, i) => after[i] !== before[i]);
  const wasOnE4 = before.filter((b) => b === 'e4').length;
  assert.equal(moved.length, wasOnE4, `only the keys of the removed endpoint moved (${moved.length} moved, ${wasOnE4} were on e4)`);
  assert.ok(moved.length < 300 * 0.35, `about 1/5 of keys remapped, got ${moved.length}/300`);
});
