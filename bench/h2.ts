// `make bench`, HTTP/2: h2load (-c16 -m100) against one h2c backend, three cases side by side:
//   direct · nginx (1 worker, grpc_pass) · nodemesh proxy (VIP port declared HTTP2, eBPF capture → agent).
// Prints a table and writes bench/results/h2.json. Root only (cgroups, bpf). Everything it starts is
// stopped by pid, and its cgroups and pins are removed, also on failure, on a signal or at the deadline.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot, stopChild } from '../test/helpers/sysenv';
import { H2_VIP, h2BackendNginxConf, h2MeshYaml, h2ProxyNginxConf } from './configs';
import { agentPaths, envInt, errText, runMain, say, settle, tryStartMesh, withBenchScope, writeResults } from './harness';
import { formatH2Table, h2Ratios, l7Note, okH2, parseH2load, sumMetric, unusable, withLog, type H2Outcome, type H2Report, type H2Result } from './h2load';
import { readLogLatency, runH2load, scrapeMetrics, waitReadyH2 } from './h2run';
import { probeVip } from './mesh';
import { freePorts, readCpuMs, readRssKb, sampleRss, startProcess, tcpListening, toolVersion } from './procs';

const CASES = [
  { key: 'direct', label: 'direct (h2c)' },
  { key: 'nginx', label: 'nginx (1 worker, grpc_pass)' },
  { key: 'nodemesh-proxy', label: 'nodemesh proxy (HTTP2 port)' },
] as const;
type CaseKey = (typeof CASES)[number]['key'];
/**
 * As before the main table moved to the agent's defaults: warn and no access log, like the nginx it is
 * compared with (BENCH_AGENT_LOG_LEVEL still overrides the level).
 */
const H2_AGENT_LOGGING = { logLevel: 'warn', accessLog: false } as const;
/**
 * Proxy workers of the agent (BENCH_H2_WORKERS, default 1): one event loop against nginx's one worker
 * process, and h2load and the backend keep the machine's other core. 0: the agent's own default.
 */
const h2Workers = (): number => envInt('BENCH_H2_WORKERS', 1, 0, 64);
/** Wait between the agent's readiness and its case (src/state/reclaim.ts: start-up reclaim after 5 s). */
const START_SETTLE_MS = 6_000;
/** The agent's per-request counter: it tells request-by-request proxying from opaque TCP carriage. */
const REQUESTS_METRIC = 'istio_requests_total';

interface Settings {
  readonly seconds: number;
  readonly warmup: number;
  readonly clients: number;
  readonly streams: number;
  readonly threads: number;
  /** Keep h2load's per-request log for p50/p90/p99 (BENCH_H2_LOG=0 turns it off). */
  readonly percentiles: boolean;
  readonly only: ReadonlySet<string> | undefined;
  readonly out: string;
}

function readSettings(): Settings {
  const alias: Record<string, string> = { proxy: 'nodemesh-proxy' };
  const only = process.env.BENCH_CASES?.split(',').map((s) => s.trim()).filter(Boolean).map((s) => alias[s] ?? s);
  const unknown = only?.filter((k) => !CASES.some((c) => c.key === k)) ?? [];
  if (unknown.length > 0) throw new Error(`BENCH_CASES: unknown case(s) ${unknown.join(', ')}; known: ${CASES.map((c) => c.key).join(', ')}`);
  const seconds = envInt('BENCH_SECONDS', 8, 1, 120);
  return {
    seconds,
    warmup: envInt('BENCH_WARMUP', 1, 0, 30),
    clients: envInt('BENCH_H2_CLIENTS', 16, 1, 256),
    streams: envInt('BENCH_H2_STREAMS', 100, 1, 1000),
    threads: envInt('BENCH_THREADS', 1, 1, 8),
    percentiles: process.env.BENCH_H2_LOG !== '0',
    only: only && only.length > 0 ? new Set(only) : undefined,
    out: path.resolve(process.env.BENCH_H2_OUT ?? 'bench/results/h2.json'),
  };
}

/** User + system CPU time of PIDS together, in ms; undefined when none can be read. */
function cpuMsOf(pids: readonly number[]): number | undefined {
  let sum: number | undefined;
  for (const p of pids) {
    const ms = readCpuMs(p);
    if (ms !== undefined) sum = (sum ?? 0) + ms;
  }
  return sum;
}

/** The child processes of PID (nginx's workers). */
function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The proxies' CPU time per request over the measured phase: on two shared cores it moves much less
 * between runs than req/s, since another process taking a core slows a proxy without making its
 * requests cost more.
 */
function cpuPerRequestLine(reports: readonly H2Report[]): string | undefined {
  const us = (k: CaseKey): number | undefined => {
    const r = reports.find((x) => x.key === k)?.outcome;
    return r?.status === 'ok' ? r.result.cpuUsPerRequest : undefined;
  };
  const ng = us('nginx');
  const ag = us('nodemesh-proxy');
  if (ng === undefined && ag === undefined) return undefined;
  const f = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)} µs`);
  const ratio = ng !== undefined && ag !== undefined && ag > 0 ? `; nginx / agent ${(ng / ag).toFixed(2)}x (above 1: the agent spends less)` : '';
  return `CPU per request (user + system, measured phase): nginx ${f(ng)}, agent ${f(ag)}${ratio}`;
}

/** Why nginx cannot be this bench's h2c backend and proxy, or undefined. */
function nginxH2Missing(): string | undefined {
  const r = spawnSync('nginx', ['-V'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return 'nginx is not installed';
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return text.includes('--with-http_v2_module') ? undefined : 'this nginx is built without http_v2 (nginx -V has no --with-http_v2_module)';
}

async function main(): Promise<number> {
  if (!isRoot()) {
    say('must run as root: it creates cgroups, loads eBPF programs and pins them under /sys/fs/bpf (try: sudo make bench)');
    return 2;
  }
  const s = readSettings();
  const h2loadVersion = toolVersion('h2load', '--version');
  if (!h2loadVersion) {
    // Skipped, not failed: the benches after this one in `make bench` still run.
    say('h2load is not installed (Debian package "nghttp2-client"): the HTTP/2 bench is SKIPPED');
    return 0;
  }
  const noNginx = nginxH2Missing();
  if (noNginx) {
    say(`${noNginx}: the HTTP/2 bench needs nginx as its h2c backend and proxy; SKIPPED`);
    return 0;
  }
  const wanted = CASES.filter((c) => !s.only || s.only.has(c.key));
  const want = (k: CaseKey): boolean => wanted.some((c) => c.key === k);
  const budgetSec = envInt('BENCH_TIMEOUT', wanted.length * (s.warmup + s.seconds + 30) + 60, 10, 3600);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });
  const logFile = path.join(path.dirname(s.out), 'h2-agent.log');

  const reports: H2Report[] = [];
  const agent: { rssIdleKb?: number; rssLoadPeakKb?: number; unavailable?: string } = {};
  const startedAt = new Date().toISOString();
  const record = (key: CaseKey, outcome: H2Outcome): void => {
    const label = CASES.find((c) => c.key === key)?.label ?? key;
    if (outcome.status === 'ok') say(`${label}: ${Math.round(outcome.result.rps)} req/s`);
    else say(`${label}: unavailable: ${outcome.reason}`);
    reports.push({ key, label, outcome });
  };
  const attempt = async (key: CaseKey, fn: () => Promise<H2Result>, note?: () => string | undefined): Promise<void> => {
    try {
      const result = await fn();
      const n = note?.();
      record(key, n ? { status: 'ok', result, note: n } : { status: 'ok', result });
    } catch (e) {
      record(key, { status: 'unavailable', reason: errText(e) });
    }
  };

  const warnings = await withBenchScope(budgetSec, async (dir) => {
    /** PROXY: the proxy's processes, whose CPU time over the measured phase is divided by its requests. */
    const measure = async (url: string, cgroup?: string, proxy?: () => number[]): Promise<H2Result> => {
      const log = s.percentiles ? path.join(dir, 'h2load.tsv') : undefined;
      const cpu = (): number | undefined => (proxy === undefined ? undefined : cpuMsOf(proxy()));
      let cpuFrom: number | undefined;
      // h2load leaves its warm-up out of its figures; the CPU time is read from the end of it too.
      const mark = setTimeout(() => (cpuFrom = cpu()), s.warmup * 1000);
      let out: string;
      try {
        out = await runH2load({
          url, seconds: s.seconds, warmup: s.warmup, clients: s.clients, streams: s.streams, threads: s.threads,
          ...(log !== undefined && { logFile: log }), ...(cgroup !== undefined && { cgroup }),
        });
      } finally {
        clearTimeout(mark);
      }
      const cpuTo = cpu();
      const r = withLog(parseH2load(out), readLogLatency(log));
      // No request got through: not a figure at all (a partial failure stays a figure, flagged in the table).
      if (r.succeeded === 0) throw new Error(unusable(r) ?? 'no request succeeded');
      if (cpuFrom === undefined || cpuTo === undefined) return r;
      return { ...r, cpuUsPerRequest: ((cpuTo - cpuFrom) * 1000) / r.succeeded };
    };

    const [backendPort, ngPort] = (await freePorts(2)) as [number, number];
    const backendUrl = `http://127.0.0.1:${backendPort}/`;
    fs.writeFileSync(path.join(dir, 'h2backend.conf'), h2BackendNginxConf(dir, backendPort));
    const backend = startProcess('h2c backend nginx', 'nginx', ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'h2backend.conf')]);
    await waitReadyH2(backend, backendUrl, 5000);
    say(`h2c backend nginx on ${backendUrl} (pid ${backend.child.pid}); ${s.seconds}s per case, -c${s.clients} -m${s.streams}`);

    if (want('direct')) await attempt('direct', () => measure(backendUrl));

    if (want('nginx')) {
      await attempt('nginx', async () => {
        fs.writeFileSync(path.join(dir, 'h2proxy.conf'), h2ProxyNginxConf(dir, ngPort, backendPort, s.clients * s.streams));
        const proxy = startProcess('nginx h2 proxy', 'nginx', ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'h2proxy.conf')]);
        try {
          const url = `http://127.0.0.1:${ngPort}/`;
          await waitReadyH2(proxy, url, 5000);
          const master = proxy.child.pid;
          return await measure(url, undefined, () => (master === undefined ? [] : [master, ...childPids(master)]));
        } finally {
          await stopChild(proxy.child, 3000); // only during its own case: it never competes with the agent
        }
      });
    }

    if (want('nodemesh-proxy')) {
      const m = await tryStartMesh({ ...agentPaths(dir, logFile, H2_AGENT_LOGGING), agentArgs: h2Workers() > 0 ? ['--workers', String(h2Workers())] : [] }, backendPort, h2MeshYaml(backendPort));
      if ('why' in m) {
        agent.unavailable = m.why;
        record('nodemesh-proxy', { status: 'unavailable', reason: m.why });
      } else {
        // Past the agent's one start-up memory reclaim (a last-resort GC 5 s after the start, pausing it
        // for a few hundred ms under load), so the measured phase does not take it.
        await settle(START_SETTLE_MS);
        const pid = m.agent.child.pid;
        const idle = readRssKb(pid);
        if (idle !== undefined) agent.rssIdleKb = idle;
        // Nothing may listen on the VIP: a listener there would take the traffic without any capture.
        const note = (): string | undefined => (tcpListening(H2_VIP, 80) ? `a socket listens on ${H2_VIP}:80: traffic may bypass capture` : undefined);
        let handled: string | undefined;
        await attempt('nodemesh-proxy', async () => {
          const url = `http://${H2_VIP}/`;
          await probeVip(m, url, ['--http2-prior-knowledge']);
          const counted = async (): Promise<number | undefined> => {
            const text = await scrapeMetrics(m.ports.metrics);
            return text === undefined ? undefined : (sumMetric(text, REQUESTS_METRIC) ?? 0);
          };
          const before = await counted();
          const stop = sampleRss(pid);
          let r: H2Result;
          try {
            r = await measure(url, m.podsCg, () => (pid === undefined ? [] : [pid]));
          } finally {
            const peak = stop().peakKb;
            if (peak !== undefined) agent.rssLoadPeakKb = peak;
          }
          const after = await counted();
          handled = l7Note(before === undefined || after === undefined ? undefined : after - before, r.succeeded);
          return r;
        }, () => [note(), handled].filter(Boolean).join('; ') || undefined);
      }
    }
  });

  process.stdout.write(`\nHTTP/2, h2load -c${s.clients} -m${s.streams} -t${s.threads} -D ${s.seconds} (warm-up ${s.warmup}s); agent --workers ${h2Workers() || 'default'}\n`);
  process.stdout.write(`${formatH2Table(reports)}\n`);
  if (!s.percentiles) process.stdout.write('(BENCH_H2_LOG=0: no per-request log, so no percentiles; latency ratios use the mean)\n');
  const mb = (kb: number | undefined): string => (kb === undefined ? '-' : `${(kb / 1024).toFixed(1)} MiB`);
  if (agent.unavailable) process.stdout.write(`\nagent: unavailable (${agent.unavailable})\n`);
  else if (agent.rssIdleKb !== undefined) process.stdout.write(`\nagent RSS: idle ${mb(agent.rssIdleKb)}, peak under load ${mb(agent.rssLoadPeakKb)}\n`);
  const cpuLine = cpuPerRequestLine(reports);
  if (cpuLine !== undefined) process.stdout.write(`${cpuLine}\n`);
  for (const w of warnings) say(`warning: ${w}`);

  const direct = okH2(reports, 'direct');
  const nginx = okH2(reports, 'nginx');
  const json = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { cpus: os.cpus().length, kernel: os.release(), node: process.version },
    tools: { h2load: h2loadVersion, nginx: toolVersion('nginx', '-v') },
    settings: { seconds: s.seconds, warmupSeconds: s.warmup, clients: s.clients, streams: s.streams, threads: s.threads, percentiles: s.percentiles, agentWorkers: h2Workers() },
    nginxUpstream: 'grpc_pass',
    cases: reports.map((r) =>
      r.outcome.status === 'ok'
        ? { key: r.key, label: r.label, status: 'ok', ...r.outcome.result, note: r.outcome.note, suspect: unusable(r.outcome.result),
            vsDirect: h2Ratios(r.outcome.result, direct), vsNginx: h2Ratios(r.outcome.result, nginx) }
        : { key: r.key, label: r.label, status: 'unavailable', reason: r.outcome.reason }),
    agent,
    warnings,
  };
  writeResults(s.out, json);
  return want('direct') && !direct ? 1 : 0;
}

runMain(main);
