// Pod-side request batches and polling for the traffic e2e tests.
import * as path from 'node:path';
import { runInCgroup } from '../helpers/sysenv';
import type { BatchResult } from './clients/batch';
import { NODE, sleep, type Mesh } from './harness';

const BATCH = path.join(__dirname, 'clients/batch.js');

/** Runs requests from inside the pods' cgroup (captured by the kernel) and returns their results. */
export async function batch(mesh: Mesh, requests: { url: string; headers?: Record<string, string>; method?: string }[], concurrency = 1, keep: string[] = []): Promise<BatchResult[]> {
  const out = await runInCgroup(mesh.pods, NODE, [BATCH, JSON.stringify({ requests, concurrency, keep })]);
  return JSON.parse(out) as BatchResult[];
}

/** Polls until `check` holds (bounded), for config reloads that land asynchronously. */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for: ${what}`);
}
