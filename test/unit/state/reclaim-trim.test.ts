// A proxy worker's reclaimer (trim: false) collects but never runs malloc_trim, so it never loads
// ffi-napi (loaded by a worker thread before the main thread, it crashes the process when that worker
// exits). Own file: the check is on this process's module cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../../src/config/model';
import { MemoryReclaimer } from '../../../src/state/reclaim';

const cfg = (services: number): { services: Service[]; workloads: [] } => ({
  services: Array.from({ length: services }, () => ({ endpoints: [] }) as unknown as Service),
  workloads: [],
});

test('MemoryReclaimer with trim: false collects after a shrink without loading ffi-napi', async () => {
  const r = new MemoryReclaimer({ delayMs: 10, trim: false });
  r.applied(cfg(10_000));
  r.applied(cfg(4));
  await new Promise((res) => setTimeout(res, 200));
  r.close();
  assert.equal(r.runs, 1);
  assert.equal(Object.keys(require.cache).some((f) => /[\\/]ffi-napi[\\/]/.test(f)), false);
});
