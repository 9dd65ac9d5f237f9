// WorkerPool over real worker threads running a stand-in worker (test/helpers/stub-worker.ts): a config
// reaches every worker in two phases, a rejection anywhere applies it nowhere, a worker that exits is
// restarted with the running config, scrapes collect every worker, an ejection reaches the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stubConfig, stubPool, until } from '../helpers/stub-pool';

interface StubState {
  index: number;
  running: string;
  told: unknown[];
}

test('worker pool: two-phase reloads, rejection, restart with the running config, scrape, shared ejections', async (t) => {
  const pool = await stubPool(2);
  t.after(() => pool.close(100));
  assert.equal(pool.size(), 2);
  assert.equal(pool.ready(), false, 'not ready before a config');

  assert.deepEqual(await pool.publish(stubConfig('one'), false), { ok: true });
  assert.equal(pool.ready(), true);
  const states = async (): Promise<StubState[]> => ((await pool.collect('state')) as StubState[]).sort((a, b) => a.index - b.index);
  assert.deepEqual((await states()).map((s) => s.running), ['one', 'one']);

  // Worker 1 cannot build it: nobody switches, the error names the worker.
  const r = await pool.publish(stubConfig('reject-1'), false);
  assert.equal(r.ok, false);
  assert.match((r as { error: string }).error, /worker-1: this worker cannot build it/);
  assert.deepEqual((await states()).map((s) => s.running), ['one', 'one'], 'the running config stays everywhere');

  // Worker 1 exits after switching: the pool starts another, which gets the running config.
  assert.deepEqual(await pool.publish(stubConfig('exit-1'), false), { ok: true });
  await until(() => pool.restarts() === 1, 'the exit');
  await until(async () => pool.size() === 2 && pool.ready() && (await states()).length === 2 && (await states()).every((s) => s.running === 'exit-1'), 'the restarted worker to run the config', 8000);

  // One exposition per worker.
  assert.equal((await pool.collect('scrape')).length, 2);

  // Worker 0 reports an ejection (on a series request); the main thread forwards it to worker 1 only.
  assert.deepEqual(await pool.publish(stubConfig('eject'), false), { ok: true });
  await states();
  await until(async () => (await states())[1]!.told.length === 1, 'the ejection at worker 1');
  const s = await states();
  assert.deepEqual(s[1]!.told, [{ cluster: 'c', key: '10.0.0.1:80', remainingMs: 1000, count: 1 }]);
  assert.deepEqual(s[0]!.told, [], 'not echoed back to the worker that decided it');
});
