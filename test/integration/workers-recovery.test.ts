// A worker that exits is replaced with fresh counters; /metrics keeps what it had counted at its last
// scrape, so the sum over workers does not go down (a Prometheus counter reset). Stand-in workers
// (test/helpers/stub-worker.ts) answer a scrape with stub_requests_total 1 each. A worker whose event
// loop is stuck (it answers no ping) is replaced too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkerPool } from '../../src/workers/pool';
import { stubConfig, stubPool, until } from '../helpers/stub-pool';
import { aggregateRegistry, type MetricsJSON } from '../../src/telemetry/aggregate';

const total = async (pool: WorkerPool): Promise<number | undefined> => {
  const all = await aggregateRegistry((await pool.collect('scrape', 300)) as MetricsJSON[]).getMetricsAsJSON();
  return all.find((m) => m.name === 'stub_requests_total')?.values[0]?.value;
};

test('worker pool: the counters of a worker that exited stay in the scrape', async (t) => {
  const pool = await stubPool(2);
  t.after(() => pool.close(100));
  assert.deepEqual(await pool.publish(stubConfig('one'), false), { ok: true });
  assert.equal(await total(pool), 2);
  // Worker 1 exits after it switches to "exit-1" and a new worker 1 starts with its own counter.
  assert.deepEqual(await pool.publish(stubConfig('exit-1'), false), { ok: true });
  await until(() => pool.restarts() === 1, 'the exit');
  await until(async () => pool.ready() && (await pool.collect('state')).length === 2, 'the replacement to answer');
  assert.equal(await total(pool), 3, 'two live workers and the one that exited');
  assert.equal(await total(pool), 3, 'counted once, however often scraped');
});

test('worker pool: a worker that does not answer a scrape is counted with its last answer', async (t) => {
  const pool = await stubPool(2);
  t.after(() => pool.close(100));
  assert.deepEqual(await pool.publish(stubConfig('one'), false), { ok: true });
  assert.equal(await total(pool), 2);
  assert.deepEqual(await pool.publish(stubConfig('mute-0'), false), { ok: true });
  const parts = await pool.collect('scrape', 300);
  assert.equal(parts.length, 2, 'the silent worker is there with its last answer');
  assert.equal(await total(pool), 2);
});

test('worker pool: a worker whose event loop is stuck is replaced', async (t) => {
  const pool = await stubPool(2, { livenessTimeoutMs: 1500 });
  t.after(() => pool.close(100));
  assert.deepEqual(await pool.publish(stubConfig('one'), false), { ok: true });
  // Two quiet seconds: answering workers are left alone.
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(pool.restarts(), 0);
  // Worker 1 switches to "hang-1" and then never returns to its event loop.
  assert.deepEqual(await pool.publish(stubConfig('hang-1'), false), { ok: true });
  await until(() => pool.restarts() === 1, 'the stuck worker to be replaced');
  await until(async () => pool.ready() && (await pool.collect('state', 500)).length === 2, 'the replacement to answer');
});
