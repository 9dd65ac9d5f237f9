// A worker's own metrics: requests, event-loop lag and heap, each labelled by worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerWorkerMetrics } from '../../../src/workers/metrics';

test('worker metrics: requests, event-loop lag and heap, labelled by worker', async (t) => {
  const registry = new Registry();
  let requests = 5;
  const own = registerWorkerMetrics(registry, 3, () => requests);
  t.after(() => own.close());
  // Let the sampler see a few turns of the event loop, one of them held up for ~30 ms.
  await new Promise((r) => setTimeout(r, 30));
  const end = Date.now() + 30;
  while (Date.now() < end);
  await new Promise((r) => setTimeout(r, 30));
  const byName = async (): Promise<Map<string, { labels: object; value: number }[]>> =>
    new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, m.values.map((v) => ({ labels: v.labels, value: v.value }))]));
  let m = await byName();
  assert.deepEqual(m.get('nodemesh_worker_requests_total'), [{ labels: { worker: '3' }, value: 5 }]);
  const lag = m.get('nodemesh_worker_eventloop_lag_p99_seconds')!;
  assert.deepEqual(lag[0]!.labels, { worker: '3' });
  assert.ok(lag[0]!.value >= 0.01, `the held-up turn shows in the lag: ${lag[0]!.value}`);
  const heap = m.get('nodemesh_worker_heap_used_bytes')!;
  assert.deepEqual(heap[0]!.labels, { worker: '3' });
  assert.ok(heap[0]!.value > 1e6);
  requests = 7;
  m = await byName();
  assert.deepEqual(m.get('nodemesh_worker_requests_total'), [{ labels: { worker: '3' }, value: 7 }], 'read at each scrape');
});
