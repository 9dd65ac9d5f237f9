import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../../src/config/model';
import { configSize, MemoryReclaimer, MIN_DROP, reclaimDue } from '../../../src/state/reclaim';

const cfg = (services: number, endpoints: number): { services: Service[]; workloads: [] } => ({
  services: Array.from({ length: services }, () => ({ endpoints: Array.from({ length: endpoints }) }) as unknown as Service),
  workloads: [],
});

test('configSize counts services, endpoints and workloads', () => {
  assert.equal(configSize(cfg(10, 3)), 40);
  assert.equal(configSize({ services: [], workloads: [{}, {}] as never }), 2);
});

test('reclaimDue: at least half of the peak and MIN_DROP objects gone', () => {
  const table: [number, number, boolean][] = [
    [110_000, 44, true],
    [110_000, 55_000, true],
    [110_000, 55_001, false],
    [MIN_DROP * 2, MIN_DROP, true],
    [MIN_DROP * 2 - 2, MIN_DROP - 1, false], // half, but too little to be worth a pause
    [0, 0, false],
  ];
  for (const [peak, now, want] of table) assert.equal(reclaimDue(peak, now), want, `${peak} → ${now}`);
});

test('MemoryReclaimer: one collection after a shrink, none after growth or a small change', async () => {
  let runs = 0;
  const r = new MemoryReclaimer({ delayMs: 20, collect: () => runs++ });
  r.applied(cfg(10_000, 10));
  r.applied(cfg(9_000, 10));
  r.applied(cfg(4, 1));
  r.applied(cfg(5, 1)); // a burst of reloads: still one collection
  await new Promise((res) => setTimeout(res, 60));
  assert.equal(runs, 1);
  r.applied(cfg(6, 1));
  await new Promise((res) => setTimeout(res, 60));
  assert.equal(runs, 1, 'the peak is now the small config');
  r.applied(cfg(10_000, 10));
  r.applied(cfg(4, 1));
  r.applied(cfg(10_000, 10)); // grown back before the delay: nothing to give back
  await new Promise((res) => setTimeout(res, 60));
  assert.equal(runs, 1);
  r.close();
});

test('MemoryReclaimer: one collection after the start; a shrink pending by then takes its place', async () => {
  let runs = 0;
  const r = new MemoryReclaimer({ delayMs: 20, startDelayMs: 20, collect: () => runs++ });
  r.applied(cfg(4, 1));
  r.started();
  r.started();
  r.applied(cfg(5, 1)); // a reload meanwhile does not cancel it
  await new Promise((res) => setTimeout(res, 60));
  assert.equal(runs, 1);
  r.started(); // only once
  await new Promise((res) => setTimeout(res, 60));
  assert.equal(runs, 1);
  r.close();

  let shrinkRuns = 0;
  const s = new MemoryReclaimer({ delayMs: 20, startDelayMs: 20, collect: () => shrinkRuns++ });
  s.applied(cfg(10_000, 10));
  s.applied(cfg(4, 1));
  s.started();
  await new Promise((res) => setTimeout(res, 60));
  assert.equal(shrinkRuns, 1);
  s.close();

  const c = new MemoryReclaimer({ startDelayMs: 20, collect: () => assert.fail('closed before it ran') });
  c.started();
  c.close();
  await new Promise((res) => setTimeout(res, 60));
});
