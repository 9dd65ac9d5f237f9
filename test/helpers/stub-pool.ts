// A WorkerPool of stand-in workers (stub-worker.ts) for the pool's tests, with what they share: a
// config named by its hash (the stand-in's switch) and a wait loop.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { MeshConfig } from '../../src/config/model';
import type { AgentOptions } from '../../src/options';
import { WorkerPool, type PoolOptions } from '../../src/workers/pool';

export const stubConfig = (hash: string): MeshConfig =>
  ({ services: [], workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash } }) as MeshConfig;

/** A started pool of COUNT stand-in workers; close it in t.after. */
export async function stubPool(count = 2, more: Partial<PoolOptions> = {}): Promise<WorkerPool> {
  const pool = new WorkerPool({
    count,
    script: path.join(__dirname, 'stub-worker.js'),
    init: { opts: {} as AgentOptions, delivery: undefined, tunnelPort: 0 },
    certs: () => ({ root: undefined, held: [] }),
    rateTable: () => new SharedArrayBuffer(64),
    phaseTimeoutMs: 3000,
    ...more,
  });
  await pool.start();
  return pool;
}

export async function until(cond: () => Promise<boolean> | boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}
