// What one more V8 isolate costs (issue 13, "lean", with proxy workers): a child node process that
// starts workers one by one, each loading only the proxy path (dist/src/dataplane.js, which brings the
// outbound listeners, the tunnel and prom-client), and RSS read after each (main only, +1, +2 workers).
// Variants: worker resourceLimits, V8 flags, a malloc arena cap, a memory-reducing collection in each
// worker after it loaded. No agent, no sockets: the isolate and its modules only (lean-isolate-worker.ts).
//   node dist/bench/lean-isolates.js            (BENCH_ISOLATES_WORKERS=2, BENCH_ISOLATES_SETTLE=3 s)
// Writes bench/results/lean-isolates.json.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { envInt, runMain, say } from './harness';
import { launcherFlags } from './lean';
import { statusKb } from './lean-probe';

/** What each worker loads: the module a proxy worker starts from, and prom-client's index (the worker's metrics import it). */
const WORKER_MODULES = ['../src/dataplane.js', 'prom-client'];
/** The same with the metric classes only (telemetry/promlite.ts), as the data plane imports them. */
const LITE_MODULES = ['../src/dataplane.js', '../src/telemetry/promlite.js'];

interface Variant {
  readonly name: string;
  readonly nodeArgs: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly resourceLimits?: ResourceLimits;
  /** A memory-reducing collection in each worker once it loaded (what state/reclaim.ts does on the main thread). */
  readonly reclaim?: boolean;
  /** What each worker loads (default WORKER_MODULES). */
  readonly modules?: readonly string[];
}

const ROOT = path.resolve(__dirname, '../..');
const LAUNCHER = ((): string[] => {
  try {
    return launcherFlags(fs.readFileSync(path.join(ROOT, 'bin/nodemesh'), 'utf8'));
  } catch {
    return [];
  }
})();

const VARIANTS: readonly Variant[] = [
  { name: 'launcher flags', nodeArgs: LAUNCHER },
  { name: 'no flags', nodeArgs: [] },
  { name: 'launcher + reclaim in worker', nodeArgs: LAUNCHER, reclaim: true },
  { name: 'launcher + MALLOC_ARENA_MAX=2', nodeArgs: LAUNCHER, env: { MALLOC_ARENA_MAX: '2' } },
  { name: 'launcher + reclaim + metric classes only', nodeArgs: LAUNCHER, reclaim: true, modules: LITE_MODULES },
  { name: 'launcher + MALLOC_ARENA_MAX=2 + reclaim', nodeArgs: LAUNCHER, env: { MALLOC_ARENA_MAX: '2' }, reclaim: true },
  { name: 'launcher + worker young gen 8 MiB', nodeArgs: LAUNCHER, resourceLimits: { maxYoungGenerationSizeMb: 8 } },
  { name: 'launcher + worker stack 1 MiB', nodeArgs: LAUNCHER, resourceLimits: { stackSizeMb: 1 } },
  { name: '--max-semi-space-size=32', nodeArgs: ['--max-semi-space-size=32'] },
  { name: 'launcher + --v8-pool-size=1', nodeArgs: [...LAUNCHER, '--v8-pool-size=1'] },
  { name: 'launcher + --single-threaded-gc', nodeArgs: [...LAUNCHER, '--single-threaded-gc'] },
  { name: 'launcher + --max-lazy', nodeArgs: [...LAUNCHER, '--max-lazy'] },
  { name: 'launcher + --no-opt --no-maglev (reference only)', nodeArgs: [...LAUNCHER, '--no-opt', '--no-maglev'] },
];

interface Step {
  readonly workers: number;
  readonly rssKb: number;
  readonly anonKb: number;
  readonly fileKb: number;
  /** Heap used and committed of the last worker's isolate, KiB. */
  readonly workerHeapUsedKb?: number;
  readonly workerHeapTotalKb?: number;
  readonly workerFiles?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** In the child process: main only, then one worker at a time; prints the steps as JSON. */
async function childMain(): Promise<void> {
  const n = Number(process.env.LEAN_ISOLATES_WORKERS ?? 2);
  const settle = Number(process.env.LEAN_ISOLATES_SETTLE_MS ?? 3000);
  const limits = process.env.LEAN_ISOLATES_LIMITS ? (JSON.parse(process.env.LEAN_ISOLATES_LIMITS) as ResourceLimits) : undefined;
  const reclaim = process.env.LEAN_ISOLATES_RECLAIM === '1';
  const modules = process.env.LEAN_ISOLATES_MODULES ? (JSON.parse(process.env.LEAN_ISOLATES_MODULES) as string[]) : WORKER_MODULES;
  // The main thread of the agent loads these too (pino, prom-client, yaml), so a worker is measured on top.
  require('prom-client');
  const steps: Step[] = [];
  const sample = (workers: number, w?: { used: number; total: number; files: number }): void => {
    const st = statusKb(fs.readFileSync('/proc/self/status', 'utf8'));
    steps.push({ workers, ...st, workerHeapUsedKb: w?.used, workerHeapTotalKb: w?.total, workerFiles: w?.files });
  };
  await sleep(settle);
  sample(0);
  for (let i = 1; i <= n; i++) {
    const w = new Worker(path.join(__dirname, 'lean-isolate-worker.js'), { workerData: { modules, reclaim }, resourceLimits: limits });
    const got = await new Promise<{ used: number; total: number; files: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    w.unref();
    await sleep(settle);
    sample(i, got);
  }
  process.stdout.write(JSON.stringify(steps));
  process.exit(0);
}

function runVariant(v: Variant, n: number, settleMs: number): Step[] | { error: string } {
  const env: Record<string, string | undefined> = { ...process.env, ...v.env, LEAN_ISOLATES_CHILD: '1', LEAN_ISOLATES_WORKERS: String(n), LEAN_ISOLATES_SETTLE_MS: String(settleMs) };
  if (v.resourceLimits) env.LEAN_ISOLATES_LIMITS = JSON.stringify(v.resourceLimits);
  if (v.reclaim) env.LEAN_ISOLATES_RECLAIM = '1';
  if (v.modules) env.LEAN_ISOLATES_MODULES = JSON.stringify(v.modules);
  const r = spawnSync(process.execPath, [...v.nodeArgs, __filename], { env, encoding: 'utf8', timeout: 120_000 });
  try {
    return JSON.parse(r.stdout) as Step[];
  } catch {
    return { error: (r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' ') };
  }
}

const mib = (kb: number | undefined): string => (kb === undefined ? '-' : (kb / 1024).toFixed(1));

async function main(): Promise<number> {
  const n = envInt('BENCH_ISOLATES_WORKERS', 2, 1, 8);
  const settleMs = envInt('BENCH_ISOLATES_SETTLE', 3, 1, 60) * 1000;
  const out = path.resolve(process.env.BENCH_ISOLATES_OUT ?? 'bench/results/lean-isolates.json');
  const only = process.env.BENCH_ISOLATES_ONLY;
  const report: Record<string, unknown> = {};
  const lines = [`${'variant'.padEnd(48)} ${Array.from({ length: n + 1 }, (_, i) => (i === 0 ? 'main' : `+${i}w`).padStart(7)).join(' ')}   per worker (anon)  worker heap used/total`];
  for (const v of VARIANTS) {
    if (only !== undefined && !v.name.includes(only)) continue;
    say(`isolates: ${v.name}`);
    const steps = runVariant(v, n, settleMs);
    report[v.name] = { nodeArgs: v.nodeArgs, env: v.env, resourceLimits: v.resourceLimits, reclaim: v.reclaim ?? false, modules: v.modules ?? WORKER_MODULES, steps };
    if ('error' in steps) {
      lines.push(`${v.name.padEnd(48)} error: ${steps.error}`);
      continue;
    }
    const first = steps[0] as Step;
    const last = steps[steps.length - 1] as Step;
    const per = (last.rssKb - first.rssKb) / (steps.length - 1);
    const perAnon = (last.anonKb - first.anonKb) / (steps.length - 1);
    lines.push(
      `${v.name.padEnd(48)} ${steps.map((s) => mib(s.rssKb).padStart(7)).join(' ')}   ${mib(per).padStart(6)} (${mib(perAnon)})       ${mib(last.workerHeapUsedKb)}/${mib(last.workerHeapTotalKb)} MiB`,
    );
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
  process.stdout.write(`RSS MiB of a process with a main thread and N workers loading the proxy path\n${lines.join('\n')}\n`);
  return 0;
}

if (process.env.LEAN_ISOLATES_CHILD === '1') void childMain();
else if (require.main === module) runMain(main);
