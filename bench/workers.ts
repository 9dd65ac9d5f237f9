// Proxy workers under load: one run, the same wrk load and captured path as `make bench`'s nodemesh proxy
// case (eBPF capture to the agent, at its defaults: access log on), once with `--workers 1`, then with
// `--workers 2`, each agent started fresh and stopped before the next; and direct (wrk → backend) as the
// anchor. Per case: req/s, p50/p99, requests per worker (nodemesh_worker_requests_total over the measured
// phase), the agent's CPU (utime + stime of the process, all threads) and CPU per request.
// On a 2-vCPU machine wrk, the agent and the backend share the cores: scaling cannot show, and the
// output says so. Writes bench/results/workers.json. Root only (cgroups, bpf).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { meshYaml, PROXY_VIP } from './configs';
import { scrapeMetrics } from './h2run';
import { agentPaths, envInt, errText, runMain, say, settle, tryStartMesh, withBenchScope, writeResults, startBackendNginx, wrkBenchPreflight } from './harness';
import { cleanupMesh, probeVip, type Mesh } from './mesh';
import { freePorts, readCpuMs, readRssKb, runWrk, tcpListening, toolVersion } from './procs';
import { describeAgentLogging } from './tables';
import {
  bypassReason, cpuUsPerRequest, formatWorkersTable, requestDeltas, scalingCaveat, workerRequests, workersRatios, type WorkersCase,
} from './workers-report';
import { parseWrk, type WrkResult } from './wrk';

interface Settings {
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
  readonly warmup: number;
  /** Worker counts, in order (BENCH_WORKERS=1,2). */
  readonly workers: readonly number[];
  readonly out: string;
}

function readSettings(): Settings {
  const raw = process.env.BENCH_WORKERS ?? '1,2';
  const workers = raw.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (workers.length === 0 || workers.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) {
    throw new Error(`BENCH_WORKERS=${raw}: expected worker counts in [1, 64], comma-separated`);
  }
  return {
    seconds: envInt('BENCH_SECONDS', 8, 1, 120),
    connections: envInt('BENCH_CONNECTIONS', 32, 1, 1024),
    threads: envInt('BENCH_THREADS', 1, 1, 8),
    warmup: envInt('BENCH_WARMUP', 1, 0, 30),
    workers,
    out: path.resolve(process.env.BENCH_WORKERS_OUT ?? 'bench/results/workers.json'),
  };
}

/** A discarded warm-up run, then the measured one, with `around` called just before and after it. */
async function measure(s: Settings, url: string, cgroup?: string, around?: () => Promise<void>): Promise<WrkResult> {
  const base = { url, connections: s.connections, threads: s.threads, ...(cgroup !== undefined && { cgroup }) };
  if (s.warmup > 0) await runWrk({ ...base, seconds: s.warmup });
  await around?.();
  const result = parseWrk(await runWrk({ ...base, seconds: s.seconds }));
  await around?.();
  return result;
}

/** One agent case: the proxy path's load, with the counters read around the measured phase. */
async function agentCase(s: Settings, m: Mesh, workers: number): Promise<Omit<WorkersCase, 'key' | 'label'>> {
  const pid = m.agent.child.pid;
  await settle();
  const rssIdleKb = readRssKb(pid);
  const url = `http://${PROXY_VIP}/`;
  await probeVip(m, url);
  const marks: { cpuMs?: number; counts?: Record<string, number> }[] = [];
  const counts = async (): Promise<Record<string, number> | undefined> => {
    const text = await scrapeMetrics(m.ports.metrics);
    return text === undefined ? undefined : workerRequests(text);
  };
  // wrk is not running around the measured phase, so the counters do not move there; the scrapes are
  // kept outside the CPU window (scrape, then CPU before; CPU, then scrape after).
  const result = await measure(s, url, m.podsCg, async () => {
    const first = marks.length === 0;
    const c0 = first ? await counts() : undefined;
    const cpu = readCpuMs(pid);
    const c1 = first ? c0 : await counts();
    marks.push({ ...(cpu !== undefined && { cpuMs: cpu }), ...(c1 && { counts: c1 }) });
  });
  if (tcpListening(PROXY_VIP, 80)) throw new Error(`a socket listens on ${PROXY_VIP}:80: traffic may bypass capture`);
  const [b, a] = marks;
  const cpuMs = b?.cpuMs !== undefined && a?.cpuMs !== undefined ? a.cpuMs - b.cpuMs : undefined;
  const perWorker = b?.counts && a?.counts && Object.keys(a.counts).length > 0 ? requestDeltas(b.counts, a.counts) : undefined;
  const bypass = bypassReason(perWorker, result.requests);
  if (bypass !== undefined) throw new Error(bypass);
  const cpu = cpuUsPerRequest(cpuMs, result.requests);
  return {
    outcome: { status: 'ok', result },
    workers,
    ...(perWorker && { perWorker }),
    ...(cpuMs !== undefined && { cpuMs }),
    ...(cpu !== undefined && { cpuUsPerRequest: cpu }),
    ...(rssIdleKb !== undefined && { rssIdleKb }),
  };
}

async function main(): Promise<number> {
  const wrkVersion = wrkBenchPreflight();
  if (wrkVersion === undefined) return 2;
  const s = readSettings();
  const budgetSec = envInt('BENCH_TIMEOUT', (s.workers.length + 1) * (s.warmup + s.seconds + 40) + 60, 10, 3600);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });
  const startedAt = new Date().toISOString();
  const loadStart = os.loadavg();
  const cpus = os.availableParallelism();
  const cases: WorkersCase[] = [];
  const midWarnings: string[] = [];

  const warnings = await withBenchScope(budgetSec, async (dir) => {
    const [backendPort] = (await freePorts(1)) as [number];
    const { url: backendUrl } = await startBackendNginx(dir, backendPort);
    say(`backend nginx on ${backendUrl}; ${s.seconds}s per case, ${s.connections} connections; load ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);

    try {
      cases.push({ key: 'direct', label: 'direct', outcome: { status: 'ok', result: await measure(s, backendUrl) } });
    } catch (e) {
      cases.push({ key: 'direct', label: 'direct', outcome: { status: 'unavailable', reason: errText(e) } });
    }

    for (const n of s.workers) {
      const key = `workers-${n}`;
      const label = `nodemesh proxy, --workers ${n}`;
      const paths = { ...agentPaths(dir, path.join(path.dirname(s.out), `workers-${n}-agent.log`)), agentArgs: ['--workers', String(n)] };
      say(`${label}: ${describeAgentLogging(paths)}`);
      const m = await tryStartMesh(paths, backendPort, meshYaml(backendPort));
      if ('why' in m) {
        cases.push({ key, label, workers: n, outcome: { status: 'unavailable', reason: m.why } });
      } else {
        try {
          const c = await agentCase(s, m, n);
          cases.push({ key, label, ...c });
          if (c.outcome.status === 'ok') say(`${label}: ${Math.round(c.outcome.result.rps)} req/s`);
        } catch (e) {
          cases.push({ key, label, workers: n, outcome: { status: 'unavailable', reason: errText(e) } });
        }
      }
      // One agent at a time: the next one gets fresh cgroups and pins, and the CPUs to itself.
      midWarnings.push(...(await cleanupMesh()));
    }
  });

  const caveat = scalingCaveat(cpus);
  process.stdout.write(`\nproxy workers, wrk -t${s.threads} -c${s.connections} -d${s.seconds}s (warm-up ${s.warmup}s) through the captured path\n`);
  process.stdout.write(`${formatWorkersTable(cases)}\n\nnote: ${caveat}\n`);
  const loadEnd = os.loadavg();
  process.stdout.write(`load average: ${loadStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadEnd.map((l) => l.toFixed(2)).join(' ')} at end\n`);
  const allWarnings = [...midWarnings, ...warnings];
  for (const w of allWarnings) say(`warning: ${w}`);

  writeResults(s.out, {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { cpus, kernel: os.release(), node: process.version, loadAverage: { start: loadStart, end: loadEnd } },
    tools: { wrk: wrkVersion, nginx: toolVersion('nginx', '-v') },
    settings: { seconds: s.seconds, connections: s.connections, threads: s.threads, warmupSeconds: s.warmup, workers: s.workers },
    caveat,
    cases: cases.map((c) =>
      c.outcome.status === 'ok'
        ? { key: c.key, label: c.label, status: 'ok', workers: c.workers, ...c.outcome.result, perWorker: c.perWorker,
            cpuMs: c.cpuMs, cpuUsPerRequest: c.cpuUsPerRequest, rssIdleKb: c.rssIdleKb }
        : { key: c.key, label: c.label, status: 'unavailable', workers: c.workers, reason: c.outcome.reason }),
    ratios: workersRatios(cases),
    warnings: allWarnings,
  });
  return cases.some((c) => c.outcome.status === 'ok' && c.workers !== undefined) ? 0 : 1;
}

runMain(main);
