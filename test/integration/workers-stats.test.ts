// The admin API's stats after a worker crash: they are read from the same scrape as /metrics, with the
// counters of the worker that exited kept (workers/retired.ts), so the summed requests never go down
// and `nodemesh stat` shows a rate for every interval through the exit and the restart. Real worker
// threads running a stand-in that counts (test/helpers/counting-worker.ts: +10 requests per scrape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { snapshot, type AdminSource } from '../../src/telemetry/admin-api';
import type { StatsSnapshot } from '../../src/telemetry/admin-proto';
import type { WorkerPool } from '../../src/workers/pool';
import { statRows } from '../../src/cli/stat-view';
import { stubConfig, stubPool, until } from '../helpers/stub-pool';
import type { Service } from '../../src/config/model';

const CART = { key: 'shop/cart', id: 1, name: 'cart', namespace: 'shop', hosts: ['cart.shop.svc.cluster.local'], dataplane: 'proxy' } as unknown as Service;

function source(pool: WorkerPool): AdminSource {
  return {
    node: 'n1', trustDomain: 'cluster.local', startedAt: 1_000, series: () => pool.stats(1000),
    config: () => ({ ...stubConfig('one'), services: [CART] }), generation: () => 1, datapath: () => undefined, datapathEvents: () => ({}),
    certificates: () => ({ root: undefined, held: [] }),
  };
}

test('worker stats: the summed requests do not go down when a worker exits and is replaced', { timeout: 30_000 }, async (t) => {
  const pool = await stubPool(2, { script: path.join(__dirname, '../helpers/counting-worker.js') });
  t.after(() => pool.close(100));
  assert.deepEqual(await pool.publish(stubConfig('one'), false), { ok: true });
  const total = async (): Promise<number> => [...(await pool.stats(1000)).requests].reduce((n, c) => n + c.value, 0);
  assert.equal(await total(), 20, 'two workers, 10 each');
  assert.equal(await total(), 40);

  // Worker 1 exits after it switches to "exit-1" (it counted 20 at its last scrape); its replacement starts from zero.
  assert.deepEqual(await pool.publish(stubConfig('exit-1'), false), { ok: true });
  const seen: number[] = [];
  await until(async () => {
    seen.push(await total());
    return pool.restarts() === 1 && pool.ready() && (await pool.collect('state', 1000)).length === 2;
  }, 'the replacement');
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `went down: ${seen.join(' ')}`);
  const before = await total();
  const after = await total();
  assert.equal(after - before, 20, 'both live workers count again');
  assert.ok(before >= 40 + 20, 'the exited worker\'s 20 are still in the sum');
});

test('worker stats: nodemesh stat has a rate for every interval through a worker exit', { timeout: 30_000 }, async (t) => {
  const pool = await stubPool(2, { script: path.join(__dirname, '../helpers/counting-worker.js') });
  t.after(() => pool.close(100));
  assert.deepEqual(await pool.publish(stubConfig('one'), false), { ok: true });
  let clock = 10_000;
  const src = source(pool);
  const sample = async (): Promise<StatsSnapshot> => {
    const s = await snapshot(src);
    clock += 1000;
    return { ...s, agent: { ...s.agent, now_unix_ms: clock } };
  };
  let prev = await sample();
  const rates: (number | undefined)[] = [];
  const step = async (): Promise<void> => {
    const cur = await sample();
    rates.push(statRows(prev, cur).find((r) => r.name === 'cart')?.requestsPerSec);
    prev = cur;
  };
  await step();
  void pool.publish(stubConfig('exit-1'), false);
  await until(async () => {
    await step();
    return pool.restarts() === 1 && pool.ready() && (await pool.collect('state', 1000)).length === 2;
  }, 'the replacement');
  await step();
  assert.ok(rates.length >= 3);
  for (const r of rates) assert.ok(r !== undefined && r >= 0 && r <= 20, `rates: ${rates.join(' ')}`);
  assert.equal(rates.at(-1), 20, 'two workers, 10 requests each per sample');
});
