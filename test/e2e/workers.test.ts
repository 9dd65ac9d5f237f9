// Two proxy workers behind one agent (--workers 2), against the real kernel: connections land on both
// (SO_REUSEPORT spreads them), /metrics sums the workers' counters, a reload reaches both, and a rate
// limit is exact across both (one shared table).
import assert from 'node:assert/strict';
import { metricSum, Mesh, rootTest, sleep } from './harness';
import { backend, closeAll, docs, serviceEntry, vip } from './fixtures';

const LIMIT = (maxTokens: number): string => `apiVersion: nodemesh.io/v1alpha1
kind: LocalRateLimit
metadata: {name: capped, namespace: e2e}
spec:
  host: capped.e2e.svc.cluster.local
  tokenBucket: {maxTokens: ${maxTokens}, tokensPerFill: ${maxTokens}, fillInterval: 300s}
`;

/** N requests, each on a new connection (a new source port: the kernel picks a worker per connection). */
async function each(mesh: Mesh, url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await mesh.curl('-o', '/dev/null', '-w', '%{http_code} ', url).then((s) => s.trim()).catch(() => 'failed'));
  return out;
}

/** Each curl prints the body only. */
async function bodies(mesh: Mesh, url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await mesh.curl(url).catch(() => 'failed'));
  return out;
}

const perWorker = (m: string): number[] => [0, 1].map((w) => metricSum(m, 'nodemesh_worker_requests_total', { worker: String(w) }));

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

rootTest('two workers: both serve, /metrics sums them, a reload reaches both, a rate limit holds across both', async (t) => {
  const [one, two] = [await backend('one'), await backend('two')];
  const [open, capped] = [vip(), vip()];
  const config = (b: number): string => docs(serviceEntry({ name: 'open', vip: open, ports: [b] }), serviceEntry({ name: 'capped', vip: capped, ports: [one.port] }), LIMIT(7));
  const mesh = new Mesh({ config: config(one.port), extraArgs: ['--workers', '2'] });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([one, two]);
  });
  await mesh.start();
  assert.match(mesh.logs, /"workers":2/);

  // Both serve: 40 connections spread by the reuseport hash; one worker taking all is 2^-39.
  const first = await bodies(mesh, `http://${open}/`, 40);
  assert.deepEqual(new Set(first), new Set(['one']));
  let m = await mesh.metrics();
  const [w0, w1] = perWorker(m);
  assert.ok(w0! > 0 && w1! > 0, `both workers served (worker 0: ${w0}, worker 1: ${w1})`);
  // One /metrics: the Istio counter is the workers' sum, counted once per request.
  assert.equal(w0! + w1!, 40);
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'open', response_code: '200' }), 40);
  // Main-thread metrics appear once, not once per worker.
  assert.equal(metricSum(m, 'nodemesh_config_last_reload_successful'), 1);

  // A reload reaches both: every new connection, whichever worker takes it, goes to the new endpoint.
  mesh.writeConfig(config(two.port));
  await waitFor(async () => (await mesh.curl(`http://${open}/`)) === 'two', 'the reload');
  const after = await bodies(mesh, `http://${open}/`, 30);
  assert.deepEqual(new Set(after), new Set(['two']), 'no worker kept the old config');
  m = await mesh.metrics();
  const [a0, a1] = perWorker(m);
  assert.ok(a0! > w0! && a1! > w1!, `both workers served after the reload (${w0}→${a0}, ${w1}→${a1})`);

  // One bucket of 7 tokens for both workers: exactly 7 of 20 requests pass, the others get 429.
  const codes = await each(mesh, `http://${capped}/`, 20);
  assert.equal(codes.filter((c) => c === '200').length, 7, `7 allowed across both workers: ${codes.join(' ')}`);
  assert.equal(codes.filter((c) => c === '429').length, 13);
  m = await mesh.metrics();
  assert.equal(metricSum(m, 'nodemesh_rate_limited_total', { service: 'e2e/capped' }), 13);
  const [c0, c1] = perWorker(m);
  assert.ok(c0! > a0! && c1! > a1!, 'both workers took part in the limited run');
});

rootTest('one worker: its listener is in nm_listeners, so captured connections go through it', async (t) => {
  const b = await backend('solo');
  const v = vip();
  const mesh = new Mesh({ config: serviceEntry({ name: 'solo', vip: v, ports: [b.port] }), extraArgs: ['--workers', '1'] });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b]);
  });
  await mesh.start();
  assert.deepEqual(new Set(await bodies(mesh, `http://${v}/`, 5)), new Set(['solo']));
  const m = await mesh.metrics();
  // Counted by the agent: connect4 saw a listener and redirected to it, not straight to the endpoint.
  assert.equal(metricSum(m, 'nodemesh_worker_requests_total', { worker: '0' }), 5);
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'solo' }), 5);
  assert.equal(metricSum(m, 'nodemesh_datapath_events_total', { event: 'connect_fallback' }), 0, 'no connect fell back to the kernel path');
});
