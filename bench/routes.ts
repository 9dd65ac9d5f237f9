// `make bench`, routing cost: one agent at its default settings (log level info, access log on, as in the
// main table's headline case), three HTTP/1.1 services onto the same nginx backend: `plain` (no
// VirtualService), `routed` (10 routes; a `GET /` matches only the last) and `edits` (one route with
// retries and request/response header edits). wrk as in bench/run.ts, in rounds that run every case once,
// every other round reversed (plain, routed, edits, edits, routed, plain, …); reports routed/plain and
// edits/plain of mean req/s and p99, and the agent's CPU per request. Writes bench/results/routes.json.
// Root only; everything started is removed on every way out.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EDIT_RESPONSE_HEADER, EDITS_VIP, PLAIN_VIP, routesMeshYaml, ROUTED_VIP } from './configs';
import { agentPaths, envInt, errText, runMain, say, settle, tryStartMesh, withBenchScope, writeResults, startBackendNginx, wrkBenchPreflight } from './harness';
import { probeVip, vipResponseHeaders } from './mesh';
import { freePorts, readCpuMs, runWrk, tcpListening, toolVersion } from './procs';
import { caseMean, compareMeans, describeAgentLogging, formatGrid, formatTarget, interleave, type CaseMean, type RunOf } from './tables';
import { formatMs, formatRps, parseWrk, type WrkResult } from './wrk';

const KEYS = ['plain', 'routed', 'edits'] as const;
type Key = (typeof KEYS)[number];
const VIPS: Record<Key, string> = { plain: PLAIN_VIP, routed: ROUTED_VIP, edits: EDITS_VIP };
/** The raw fast path must keep routed within this fraction of plain throughput. */
const TARGET = 0.95;
/** Retries and header edits on the one route: within this fraction of plain throughput. */
const TARGET_EDITS = 0.9;

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

/** True when the response headers carry the edits route's added header (so the route really applied). */
function hasResponseEdit(headers: string): boolean {
  const want = `${EDIT_RESPONSE_HEADER.name}: ${EDIT_RESPONSE_HEADER.value}`;
  return headers.split(/\r?\n/).some((l) => l.trim().toLowerCase() === want);
}

async function main(): Promise<number> {
  const wrkVersion = wrkBenchPreflight();
  if (wrkVersion === undefined) return 2;
  const s = readSettings();
  const order = interleave(KEYS, s.rounds);
  const round = (i: number): number => Math.floor(i / KEYS.length) + 1;
  const budgetSec = envInt('BENCH_TIMEOUT', order.length * (s.warmup + s.seconds + 20) + 90, 10, 3600);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });
  const logFile = path.join(path.dirname(s.out), 'routes-agent.log');

  const runs: RunOf<Key>[] = [];
  /** Agent CPU (user + system) per request of each run, µs: the cost routing adds, less noisy than req/s. */
  const cpuPerRequest: { key: Key; us: number }[] = [];
  const notes: string[] = [];
  let unavailable: string | undefined;
  const startedAt = new Date().toISOString();
  // The agent's defaults (BENCH_AGENT_LOG_LEVEL, when set, overrides the level).
  const logging = describeAgentLogging(agentPaths('', logFile));

  const warnings = await withBenchScope(budgetSec, async (dir) => {
    const [backendPort] = (await freePorts(1)) as [number];
    const { url: backendUrl } = await startBackendNginx(dir, backendPort);

    const m = await tryStartMesh(agentPaths(dir, logFile), backendPort, routesMeshYaml(backendPort, s.routes));
    if ('why' in m) {
      unavailable = m.why;
      return;
    }
    await settle();
    for (const key of KEYS) {
      try {
        await probeVip(m, `http://${VIPS[key]}/`);
      } catch (e) {
        unavailable = `${key}: ${errText(e)}`;
        return;
      }
      if (tcpListening(VIPS[key], 80)) notes.push(`a socket listens on ${VIPS[key]}:80: traffic may bypass capture`);
    }
    // A route that silently did not apply would make `edits` measure plain proxying.
    const headers = await vipResponseHeaders(m, `http://${EDITS_VIP}/`).catch((e: unknown) => errText(e));
    if (!hasResponseEdit(headers)) notes.push(`edits: the response lacks ${EDIT_RESPONSE_HEADER.name}: the route's header edits did not apply, its figures are not the edits'`);
    say(`backend nginx on ${backendUrl}; agent at ${logging}; ${s.routes}-route VirtualService on routed, retries + header edits on edits; ${order.join(', ')}, ${s.seconds}s each`);
    for (const [i, key] of order.entries()) {
      const base = { url: `http://${VIPS[key]}/`, connections: s.connections, threads: s.threads, cgroup: m.podsCg };
      if (s.warmup > 0) await runWrk({ ...base, seconds: s.warmup });
      const cpu0 = readCpuMs(m.agent.child.pid);
      const result: WrkResult = parseWrk(await runWrk({ ...base, seconds: s.seconds }));
      const cpu1 = readCpuMs(m.agent.child.pid);
      if (cpu0 !== undefined && cpu1 !== undefined && result.requests > 0) cpuPerRequest.push({ key, us: ((cpu1 - cpu0) * 1000) / result.requests });
      say(`${key} #${round(i)}: ${Math.round(result.rps)} req/s`);
      runs.push({ key, result });
    }
  });

  const means: Record<Key, CaseMean | undefined> = { plain: caseMean(runs, 'plain'), routed: caseMean(runs, 'routed'), edits: caseMean(runs, 'edits') };
  const cmp = compareMeans(means.plain, means.routed);
  const cmpEdits = compareMeans(means.plain, means.edits);
  process.stdout.write(`\nrouting cost, wrk -t${s.threads} -c${s.connections} -d${s.seconds}s, ${s.routes} routes (request matches the last); edits: retries + header edits\n`);
  process.stdout.write(`agent: ${logging}\n`);
  if (unavailable) process.stdout.write(`unavailable: ${unavailable}\n`);
  const rows = runs.map((r, i) => [
    `${r.key} #${round(i)}`, formatRps(r.result.rps), formatMs(r.result.p50Ms), formatMs(r.result.p99Ms),
    String(r.result.socketErrors + r.result.non2xx),
  ]);
  for (const key of KEYS) {
    const c = means[key];
    if (c) rows.push([`${key} (mean of ${c.runs})`, formatRps(c.rps), formatMs(c.p50Ms), formatMs(c.p99Ms), String(c.errors)]);
  }
  if (rows.length > 0) process.stdout.write(`${formatGrid(['run', 'req/s', 'p50', 'p99', 'errors'], rows)}\n`);
  const targets = [
    { name: 'routed/plain', value: cmp?.rps, target: TARGET, ...(cmp && { p99: cmp.p99 }) },
    { name: 'edits/plain', value: cmpEdits?.rps, target: TARGET_EDITS, ...(cmpEdits && { p99: cmpEdits.p99 }) },
  ];
  if (runs.length > 0) process.stdout.write(`\n${targets.map(formatTarget).join('\n')}\n`);
  const cpuOf = (key: Key): number | undefined => {
    const xs = cpuPerRequest.filter((c) => c.key === key).map((c) => c.us);
    return xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const cpu: Record<Key, number | undefined> = { plain: cpuOf('plain'), routed: cpuOf('routed'), edits: cpuOf('edits') };
  if (cpu.plain !== undefined) {
    const base = cpu.plain;
    const rel = (key: Key): string => {
      const v = cpu[key];
      return v === undefined ? `${key} -` : `${key} ${v.toFixed(2)} µs (${v >= base ? '+' : ''}${((v / base - 1) * 100).toFixed(1)}%)`;
    };
    process.stdout.write(`agent CPU per request: plain ${base.toFixed(2)} µs, ${rel('routed')}, ${rel('edits')}\n`);
  }
  if (KEYS.some((k) => (means[k]?.errors ?? 0) > 0)) notes.push('socket errors or non-2xx/3xx responses: figures are suspect');
  for (const n of notes) process.stdout.write(`${n}\n`);
  for (const w of warnings) say(`warning: ${w}`);

  const json = {
    version: 2,
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { cpus: os.cpus().length, kernel: os.release(), node: process.version },
    tools: { wrk: wrkVersion, nginx: toolVersion('nginx', '-v') },
    settings: { seconds: s.seconds, connections: s.connections, threads: s.threads, warmupSeconds: s.warmup, rounds: s.rounds, routes: s.routes },
    agent: { logging },
    ...(unavailable !== undefined && { unavailable }),
    runs: runs.map((r) => ({ key: r.key, ...r.result })),
    ...means,
    routedVsPlain: cmp,
    editsVsPlain: cmpEdits,
    agentCpuPerRequestUs: { ...cpu, runs: cpuPerRequest },
    target: { rps: TARGET, editsRps: TARGET_EDITS },
    targets: targets.map((t) => ({ ...t, met: t.value === undefined ? undefined : t.value >= t.target })),
    notes,
    warnings,
  };
  writeResults(s.out, json);
  // Unavailable is a reported outcome, not a failure: the next bench in `make bench` still runs.
  return 0;
}

runMain(main);
