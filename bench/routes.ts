// `make bench`, routing cost: one agent, two HTTP/1.1 services onto the same nginx backend: `plain` (no
// VirtualService) and `routed` (10 routes; a `GET /` matches only the last). wrk as in bench/run.ts, runs
// in the order plain, routed, routed, plain, …; reports routed/plain of mean req/s and p99. Writes
// bench/results/routes.json. Root only; everything started is removed on every way out.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot } from '../test/helpers/sysenv';
import { backendNginxConf, PLAIN_VIP, routesMeshYaml, ROUTED_VIP } from './configs';
import { agentPaths, envInt, errText, runMain, say, settle, tryStartMesh, withBenchScope, writeResults } from './harness';
import { probeVip } from './mesh';
import { freePorts, readCpuMs, runWrk, startProcess, tcpListening, toolVersion, waitReady } from './procs';
import { alternate, caseMean, compareMeans, formatGrid, type RunOf } from './tables';
import { formatMs, formatRps, parseWrk, type WrkResult } from './wrk';

type Key = 'plain' | 'routed';
const VIPS: Record<Key, string> = { plain: PLAIN_VIP, routed: ROUTED_VIP };
/** The raw fast path must keep routed within this fraction of plain throughput. */
const TARGET = 0.95;

interface Settings {
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly routes: number;
  readonly out: string;
}

function readSettings(): Settings {
  return {
    seconds: envInt('BENCH_SECONDS', 8, 1, 120),
    connections: envInt('BENCH_CONNECTIONS', 32, 1, 1024),
    threads: envInt('BENCH_THREADS', 1, 1, 8),
    warmup: envInt('BENCH_WARMUP', 1, 0, 30),
    rounds: envInt('BENCH_ROUTES_ROUNDS', 4, 1, 10),
    routes: envInt('BENCH_ROUTES', 10, 1, 100),
    out: path.resolve(process.env.BENCH_ROUTES_OUT ?? 'bench/results/routes.json'),
  };
}

async function main(): Promise<number> {
  if (!isRoot()) {
    say('must run as root: it creates cgroups, loads eBPF programs and pins them under /sys/fs/bpf (try: sudo make bench)');
    return 2;
  }
  const s = readSettings();
  const wrkVersion = toolVersion('wrk', '--version');
  if (!wrkVersion) {
    say('wrk is not installed (Debian package "wrk"; scripts/bootstrap.sh installs it)');
    return 2;
  }
  const order = alternate<Key>('plain', 'routed', s.rounds);
  const budgetSec = envInt('BENCH_TIMEOUT', order.length * (s.warmup + s.seconds + 20) + 90, 10, 3600);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });
  const logFile = path.join(path.dirname(s.out), 'routes-agent.log');

  const runs: RunOf<Key>[] = [];
  /** Agent CPU (user + system) per request of each run, µs: the cost routing adds, less noisy than req/s. */
  const cpuPerRequest: { key: Key; us: number }[] = [];
  const notes: string[] = [];
  let unavailable: string | undefined;
  const startedAt = new Date().toISOString();

  const warnings = await withBenchScope(budgetSec, async (dir) => {
    const [backendPort] = (await freePorts(1)) as [number];
    const backendUrl = `http://127.0.0.1:${backendPort}/`;
    fs.writeFileSync(path.join(dir, 'backend.conf'), backendNginxConf(dir, backendPort));
    const backend = startProcess('backend nginx', 'nginx', ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'backend.conf')]);
    await waitReady(backend, backendUrl, 5000);

    const m = await tryStartMesh(agentPaths(dir, logFile), backendPort, routesMeshYaml(backendPort, s.routes));
    if ('why' in m) {
      unavailable = m.why;
      return;
    }
    await settle();
    for (const key of ['plain', 'routed'] as const) {
      try {
        await probeVip(m, `http://${VIPS[key]}/`);
      } catch (e) {
        unavailable = `${key}: ${errText(e)}`;
        return;
      }
      if (tcpListening(VIPS[key], 80)) notes.push(`a socket listens on ${VIPS[key]}:80: traffic may bypass capture`);
    }
    say(`backend nginx on ${backendUrl}; ${s.routes}-route VirtualService on routed; ${order.join(', ')}, ${s.seconds}s each`);
    for (const [i, key] of order.entries()) {
      const base = { url: `http://${VIPS[key]}/`, connections: s.connections, threads: s.threads, cgroup: m.podsCg };
      if (s.warmup > 0) await runWrk({ ...base, seconds: s.warmup });
      const cpu0 = readCpuMs(m.agent.child.pid);
      const result: WrkResult = parseWrk(await runWrk({ ...base, seconds: s.seconds }));
      const cpu1 = readCpuMs(m.agent.child.pid);
      if (cpu0 !== undefined && cpu1 !== undefined && result.requests > 0) cpuPerRequest.push({ key, us: ((cpu1 - cpu0) * 1000) / result.requests });
      say(`${key} #${Math.floor(i / 2) + 1}: ${Math.round(result.rps)} req/s`);
      runs.push({ key, result });
    }
  });

  const plain = caseMean(runs, 'plain');
  const routed = caseMean(runs, 'routed');
  const cmp = compareMeans(plain, routed);
  process.stdout.write(`\nrouting cost, wrk -t${s.threads} -c${s.connections} -d${s.seconds}s, ${s.routes} routes (request matches the last)\n`);
  if (unavailable) process.stdout.write(`unavailable: ${unavailable}\n`);
  const rows = runs.map((r, i) => [
    `${r.key} #${Math.floor(i / 2) + 1}`, formatRps(r.result.rps), formatMs(r.result.p50Ms), formatMs(r.result.p99Ms),
    String(r.result.socketErrors + r.result.non2xx),
  ]);
  for (const [key, c] of [['plain', plain], ['routed', routed]] as const) {
    if (c) rows.push([`${key} (mean of ${c.runs})`, formatRps(c.rps), formatMs(c.p50Ms), formatMs(c.p99Ms), String(c.errors)]);
  }
  if (rows.length > 0) process.stdout.write(`${formatGrid(['run', 'req/s', 'p50', 'p99', 'errors'], rows)}\n`);
  if (cmp) {
    const verdict = cmp.rps >= TARGET ? 'within' : 'OUTSIDE';
    process.stdout.write(`\nrouted/plain: req/s ${cmp.rps.toFixed(3)}x, p99 ${cmp.p99.toFixed(3)}x (${verdict} the ${Math.round((1 - TARGET) * 100)}% budget on req/s)\n`);
  }
  const cpuOf = (key: Key): number | undefined => {
    const xs = cpuPerRequest.filter((c) => c.key === key).map((c) => c.us);
    return xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const [cpuPlain, cpuRouted] = [cpuOf('plain'), cpuOf('routed')];
  if (cpuPlain !== undefined && cpuRouted !== undefined) {
    process.stdout.write(`agent CPU per request: plain ${cpuPlain.toFixed(2)} µs, routed ${cpuRouted.toFixed(2)} µs (${((cpuRouted / cpuPlain - 1) * 100).toFixed(1)}%)\n`);
  }
  if ((plain?.errors ?? 0) + (routed?.errors ?? 0) > 0) notes.push('socket errors or non-2xx/3xx responses: figures are suspect');
  for (const n of notes) process.stdout.write(`${n}\n`);
  for (const w of warnings) say(`warning: ${w}`);

  const json = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { cpus: os.cpus().length, kernel: os.release(), node: process.version },
    tools: { wrk: wrkVersion, nginx: toolVersion('nginx', '-v') },
    settings: { seconds: s.seconds, connections: s.connections, threads: s.threads, warmupSeconds: s.warmup, rounds: s.rounds, routes: s.routes },
    ...(unavailable !== undefined && { unavailable }),
    runs: runs.map((r) => ({ key: r.key, ...r.result })),
    plain,
    routed,
    routedVsPlain: cmp,
    agentCpuPerRequestUs: { plain: cpuPlain, routed: cpuRouted, runs: cpuPerRequest },
    target: { rps: TARGET },
    notes,
    warnings,
  };
  writeResults(s.out, json);
  // Unavailable is a reported outcome, not a failure: the next bench in `make bench` still runs.
  return 0;
}

runMain(main);
