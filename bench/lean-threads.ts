// What each thread of an idle agent loads and holds (issue 13, "lean", with proxy workers): the agent as
// `nodemesh agent --no-capture --no-kubernetes --config test/fixtures/basic.yaml --workers N` (the
// launcher's node flags, ports of its own), with a preload (lean-threads-probe.ts) that, BENCH_THREADS_AT
// ms (9,000) after the spawn, makes every thread write the project files, packages and node built-ins it
// has loaded and its heap (collected twice: the agent runs with --expose-gc); the main thread also reads the process's VmRSS first. Runs interleave the
// worker counts (BENCH_THREADS_WORKERS=1,2), BENCH_THREADS_RUNS (2) times. BENCH_THREADS_BUILD runs the
// agent of another build (a directory holding src/main.js, e.g. an earlier tree's dist/) under the same
// probe; BENCH_THREADS_BASE names an earlier results file to list what each thread loads no more.
// BENCH_THREADS_CAPTURE=1 runs the agent with capture instead (root; cgroups, eBPF and pins as
// bench/mesh.ts makes them for the other benches), the same config, no Kubernetes.
//   node dist/bench/lean-threads.js      (root for the VIP's port 80; writes bench/results/lean-threads.json)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentPaths, envInt, reportBench, runMain, say } from './harness';
import { launcherFlags } from './lean';
import type { ThreadSnapshot } from './lean-threads-probe';
import { cleanupMesh, startMesh } from './mesh';
import { freePorts, isRunning, startProcess, type Tracked } from './procs';

const BUILD = path.resolve(__dirname, '..');
const ROOT = path.resolve(BUILD, '..');

interface Run {
  readonly workers: number;
  readonly run: number;
  readonly main: ThreadSnapshot;
  readonly workerThreads: readonly ThreadSnapshot[];
}

/** Figures of one worker count over its runs, MiB with one decimal. */
export interface Summary {
  readonly workers: number;
  readonly rssMiB: readonly number[];
  readonly anonMiB: readonly number[];
  readonly fileMiB: readonly number[];
  /** Main thread's heap used after two full collections, and as it was. */
  readonly mainHeapGcMiB: readonly number[];
  readonly mainHeapMiB: readonly number[];
  /** Each worker's heap used after two full collections (all runs). */
  readonly workerHeapGcMiB: readonly number[];
  readonly mainFiles: number;
  readonly workerFiles: number;
}

const mib = (kb: number | undefined): number => Math.round(((kb ?? NaN) / 1024) * 10) / 10;

/** One summary per worker count, in the order they were first measured. Pure. */
export function summarize(runs: readonly Run[]): Summary[] {
  const counts = [...new Set(runs.map((r) => r.workers))];
  return counts.map((workers) => {
    const rs = runs.filter((r) => r.workers === workers);
    const files = (s: ThreadSnapshot | undefined): number => (s === undefined ? 0 : s.own.length + Object.values(s.packages).reduce((a, b) => a + b, 0));
    return {
      workers,
      rssMiB: rs.map((r) => mib(r.main.rssKb)),
      anonMiB: rs.map((r) => mib(r.main.anonKb)),
      fileMiB: rs.map((r) => mib(r.main.fileKb)),
      mainHeapGcMiB: rs.map((r) => mib(r.main.heapUsedGcKb)),
      mainHeapMiB: rs.map((r) => mib(r.main.heapUsedKb)),
      workerHeapGcMiB: rs.flatMap((r) => r.workerThreads.map((w) => mib(w.heapUsedGcKb))),
      mainFiles: files(rs[0]?.main),
      workerFiles: files(rs[0]?.workerThreads[0]),
    };
  });
}

/** What a thread loaded before (`base`) and loads no more, and what it loads now that it did not. Pure. */
export function moduleDiff(base: ThreadSnapshot, now: ThreadSnapshot): { removed: string[]; added: string[] } {
  const names = (s: ThreadSnapshot): Set<string> => new Set([...s.own, ...Object.keys(s.packages).map((p) => `package ${p} (${s.packages[p]} files)`), ...s.builtins.map((b) => `node:${b}`)]);
  const strip = (x: string): string => x.replace(/ \(\d+ files\)$/, '');
  const b = names(base);
  const n = names(now);
  const nStripped = new Set([...n].map(strip));
  const bStripped = new Set([...b].map(strip));
  return {
    removed: [...b].filter((x) => !nStripped.has(strip(x))),
    added: [...n].filter((x) => !bStripped.has(strip(x))),
  };
}

const PROBE = path.join(__dirname, 'lean-threads-probe.js');
const CONFIG = path.join(ROOT, 'test/fixtures/basic.yaml');

/** The agent without capture, as the task's command line runs it (ports of its own). */
async function startPlain(agentMain: string, workers: number, run: number, args: readonly string[]): Promise<Tracked> {
  const [metrics, ready, admin, tunnel] = await freePorts(4);
  const argv = [...launcherFlags(fs.readFileSync(path.join(ROOT, 'bin/nodemesh'), 'utf8')), '--expose-gc', '-r', PROBE, agentMain, 'agent',
    '--no-capture', '--no-kubernetes', '--config', CONFIG, '--workers', String(workers),
    '--admin-host', '127.0.0.1', '--metrics-port', String(metrics), '--ready-port', String(ready), '--admin-port', String(admin),
    '--tunnel-port', String(tunnel), '--dns-port', '0', ...args];
  return startProcess(`agent-w${workers}-r${run}`, process.execPath, argv);
}

/** The agent with capture (root: cgroups, eBPF programs and pins of bench/mesh.ts), the same config. */
async function startCaptured(dir: string, agentMain: string, workers: number, args: readonly string[]): Promise<Tracked> {
  const p = { ...agentPaths(dir, path.join(dir, 'agent.log')), agentMain, agentArgs: ['--no-kubernetes', '--workers', String(workers), '--admin-port', '0', '--tunnel-port', '0', '--dns-port', '0', ...args] };
  process.env.BENCH_AGENT_NODE_ARGS = `--expose-gc -r ${PROBE}`;
  try {
    return (await startMesh(p, 18080, 30_000, fs.readFileSync(CONFIG, 'utf8'))).agent;
  } finally {
    delete process.env.BENCH_AGENT_NODE_ARGS;
  }
}

async function measure(dir: string, agentMain: string, workers: number, run: number, atMs: number, args: readonly string[], capture: boolean): Promise<Run> {
  const file = path.join(dir, `w${workers}-r${run}`);
  process.env.LEAN_THREADS_FILE = file;
  process.env.LEAN_THREADS_AT = String(Date.now() + atMs);
  let t: Tracked;
  try {
    t = capture ? await startCaptured(dir, agentMain, workers, args) : await startPlain(agentMain, workers, run, args);
  } finally {
    delete process.env.LEAN_THREADS_FILE;
    delete process.env.LEAN_THREADS_AT;
  }
  const wanted = workers + 1;
  const deadline = Date.now() + atMs + 15_000;
  const found = (): string[] => fs.readdirSync(dir).filter((f) => f.startsWith(`w${workers}-r${run}.`) && f.endsWith('.json'));
  while (found().length < wanted && Date.now() < deadline) {
    if (!isRunning(t.child)) throw new Error(`agent exited: ${t.tail.why()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const snaps = found().map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ThreadSnapshot);
  if (capture) await cleanupMesh();
  else {
    const exited = new Promise((r) => t.child.once('exit', r));
    t.child.kill('SIGTERM');
    await exited;
  }
  const main = snaps.find((s) => s.main);
  if (main === undefined || snaps.length < wanted) throw new Error(`${snaps.length} of ${wanted} threads reported within ${atMs + 15_000} ms: ${t.tail.why()}`);
  return { workers, run, main, workerThreads: snaps.filter((s) => !s.main) };
}

async function main(): Promise<number> {
  const counts = (process.env.BENCH_THREADS_WORKERS ?? '1,2').split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) throw new Error(`BENCH_THREADS_WORKERS=${process.env.BENCH_THREADS_WORKERS}: expected integers in [1, 16]`);
  const runs = envInt('BENCH_THREADS_RUNS', 2, 1, 10);
  const atMs = envInt('BENCH_THREADS_AT', 9000, 1000, 60_000);
  const build = path.resolve(process.env.BENCH_THREADS_BUILD ?? BUILD);
  const agentMain = path.join(build, 'src/main.js');
  const args = (process.env.BENCH_THREADS_AGENT_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
  const capture = process.env.BENCH_THREADS_CAPTURE === '1';
  const out = process.env.BENCH_THREADS_OUT ?? path.join(ROOT, 'bench/results/lean-threads.json');
  const report: Record<string, unknown> = { at: new Date().toISOString(), build: path.relative(ROOT, build) || '.', capture, agentArgs: args, atMs };
  return reportBench(out, 60 + runs * counts.length * (atMs / 1000 + 20), report, async (dir) => {
    const all: Run[] = [];
    for (let r = 0; r < runs; r++)
      for (const w of counts) {
        const one = await measure(dir, agentMain, w, r, atMs, args, capture);
        say(`workers ${w} run ${r}: RSS ${mib(one.main.rssKb)} MiB, main heap ${mib(one.main.heapUsedGcKb)} MiB after collection, workers' ${one.workerThreads.map((x) => mib(x.heapUsedGcKb)).join(', ')} MiB`);
        all.push(one);
      }
    report.summary = summarize(all);
    // The lists of the first run of the first worker count: one main thread, one worker.
    const first = all[0];
    report.threads = first === undefined ? undefined : { main: first.main, worker: first.workerThreads[0] };
    const basePath = process.env.BENCH_THREADS_BASE;
    if (basePath !== undefined && first !== undefined) {
      const base = JSON.parse(fs.readFileSync(basePath, 'utf8')) as { threads?: { main: ThreadSnapshot; worker: ThreadSnapshot } };
      if (base.threads !== undefined) {
        report.diff = {
          main: moduleDiff(base.threads.main, first.main),
          ...(first.workerThreads[0] !== undefined ? { worker: moduleDiff(base.threads.worker, first.workerThreads[0]) } : {}),
        };
      }
    }
  });
}

if (require.main === module) runMain(main);
