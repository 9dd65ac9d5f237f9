// `make bench`: one run, five cases side by side against the same nginx backend on 127.0.0.1:
//   direct · HAProxy (nbthread 1) · nginx (1 worker) · nodemesh proxy mode (eBPF capture to the agent)
//   · nodemesh kernel mode (VIP balanced in connect4, no agent hop).
// Prints a table and writes bench/results/latest.json. Root only (cgroups, bpf). Everything it starts is
// stopped by pid, and its cgroups and pins are removed, also on failure, on a signal or at the deadline.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot, stopChild } from '../test/helpers/sysenv';
import { backendNginxConf, haproxyConf, KERNEL_VIP, PROXY_VIP, proxyNginxConf } from './configs';
import { envInt, errText, runMain, say, withBenchScope, writeResults } from './harness';
import { meshUnavailable, probeVip, startMesh, type Mesh } from './mesh';
import { freePorts, readRssKb, runWrk, sampleRss, startProcess, tcpListening, toolVersion, waitReady } from './procs';
import { formatTable, okResult, parseWrk, ratios, type CaseOutcome, type CaseReport, type WrkResult } from './wrk';

interface Settings {
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
  readonly warmup: number;
  /** Keys to run (BENCH_CASES=direct,haproxy); undefined runs all. */
  readonly only: ReadonlySet<string> | undefined;
  readonly out: string;
}

const CASES = [
  { key: 'direct', label: 'direct' },
  { key: 'haproxy', label: 'haproxy (nbthread 1)' },
  { key: 'nginx', label: 'nginx (1 worker)' },
  { key: 'nodemesh-proxy', label: 'nodemesh proxy (eBPF capture)' },
  { key: 'nodemesh-kernel', label: 'nodemesh kernel (connect4)' },
] as const;
type CaseKey = (typeof CASES)[number]['key'];

function readSettings(): Settings {
  // "proxy" and "kernel" are accepted for the two nodemesh cases.
  const alias: Record<string, string> = { proxy: 'nodemesh-proxy', kernel: 'nodemesh-kernel' };
  const only = process.env.BENCH_CASES?.split(',').map((s) => s.trim()).filter(Boolean).map((s) => alias[s] ?? s);
  const unknown = only?.filter((k) => !CASES.some((c) => c.key === k)) ?? [];
  if (unknown.length > 0) throw new Error(`BENCH_CASES: unknown case(s) ${unknown.join(', ')}; known: ${CASES.map((c) => c.key).join(', ')}`);
  return {
    seconds: envInt('BENCH_SECONDS', 8, 1, 120),
    connections: envInt('BENCH_CONNECTIONS', 32, 1, 1024),
    threads: envInt('BENCH_THREADS', 1, 1, 8),
    warmup: envInt('BENCH_WARMUP', 1, 0, 30),
    only: only && only.length > 0 ? new Set(only) : undefined,
    out: path.resolve(process.env.BENCH_OUT ?? 'bench/results/latest.json'),
  };
}


/** A warm-up run (discarded: fills connection pools, lets V8 optimise) and then the measured run. */
async function measure(s: Settings, url: string, cgroup?: string): Promise<WrkResult> {
  const base = { url, connections: s.connections, threads: s.threads, ...(cgroup !== undefined && { cgroup }) };
  if (s.warmup > 0) await runWrk({ ...base, seconds: s.warmup });
  return parseWrk(await runWrk({ ...base, seconds: s.seconds }));
}

/** Starts a server, waits until it answers on 127.0.0.1:port, runs `fn`, and stops it by pid. */
async function withServer<T>(cmd: string, args: readonly string[], port: number, fn: (url: string) => Promise<T>): Promise<T> {
  const url = `http://127.0.0.1:${port}/`;
  const server = startProcess(cmd, cmd, args);
  try {
    await waitReady(server, url, 5000);
    return await fn(url);
  } finally {
    await stopChild(server.child, 3000);
  }
}

interface AgentStats {
  rssIdleKb?: number;
  rssLoadPeakKb?: number;
  rssAfterKb?: number;
  unavailable?: string;
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
  const wanted = CASES.filter((c) => !s.only || s.only.has(c.key));
  // Per case: warm-up + run + generous start/stop time; the whole run stops itself past this.
  const budgetSec = envInt('BENCH_TIMEOUT', wanted.length * (s.warmup + s.seconds + 30) + 60, 10, 3600);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });

  const reports: CaseReport[] = [];
  const agent: AgentStats = {};
  const startedAt = new Date().toISOString();
  const record = (key: CaseKey, outcome: CaseOutcome): void => {
    const label = CASES.find((c) => c.key === key)?.label ?? key;
    if (outcome.status === 'ok') say(`${label}: ${Math.round(outcome.result.rps)} req/s`);
    else say(`${label}: unavailable: ${outcome.reason}`);
    reports.push({ key, label, outcome });
  };
  const want = (k: CaseKey): boolean => wanted.some((c) => c.key === k);
  const attempt = async (key: CaseKey, fn: () => Promise<WrkResult>, note?: () => string | undefined): Promise<void> => {
    try {
      const result = await fn();
      const n = note?.();
      record(key, n ? { status: 'ok', result, note: n } : { status: 'ok', result });
    } catch (e) {
      record(key, { status: 'unavailable', reason: errText(e) });
    }
  };

  const warnings = await withBenchScope(budgetSec, async (dir) => {
    const [backendPort, haPort, ngPort] = (await freePorts(3)) as [number, number, number];
    const backendUrl = `http://127.0.0.1:${backendPort}/`;
    fs.writeFileSync(path.join(dir, 'backend.conf'), backendNginxConf(dir, backendPort));
    const backend = startProcess('backend nginx', 'nginx', ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'backend.conf')]);
    await waitReady(backend, backendUrl, 5000);
    say(`backend nginx on ${backendUrl} (pid ${backend.child.pid}); ${s.seconds}s per case, ${s.connections} connections`);

    if (want('direct')) await attempt('direct', () => measure(s, backendUrl));

    // Each proxy runs only during its own case, so it never competes with another for the 2 cores.
    if (want('haproxy')) {
      await attempt('haproxy', async () => {
        if (!toolVersion('haproxy', '-v')) throw new Error('haproxy is not installed');
        fs.writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConf(haPort, backendPort));
        return withServer('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], haPort, (url) => measure(s, url));
      });
    }
    if (want('nginx')) {
      await attempt('nginx', async () => {
        fs.writeFileSync(path.join(dir, 'proxy.conf'), proxyNginxConf(dir, ngPort, backendPort));
        const args = ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'proxy.conf')];
        return withServer('nginx', args, ngPort, (url) => measure(s, url));
      });
    }

    if (want('nodemesh-proxy') || want('nodemesh-kernel')) {
      const paths = {
        agentMain: path.resolve(__dirname, '../src/main.js'),
        bpfObjects: path.resolve(process.env.BENCH_BPF_OBJECTS ?? 'build/bpf'),
        dir,
        logFile: path.join(path.dirname(s.out), 'agent.log'),
        logLevel: process.env.BENCH_AGENT_LOG_LEVEL ?? 'warn',
      };
      let mesh: Mesh | undefined;
      let why = meshUnavailable(paths);
      if (!why) {
        try {
          mesh = await startMesh(paths, backendPort);
        } catch (e) {
          why = `agent did not become ready: ${errText(e)} (log: ${paths.logFile})`;
        }
      }
      if (!mesh) {
        agent.unavailable = why ?? 'unknown';
        if (want('nodemesh-proxy')) record('nodemesh-proxy', { status: 'unavailable', reason: agent.unavailable });
        if (want('nodemesh-kernel')) record('nodemesh-kernel', { status: 'unavailable', reason: agent.unavailable });
      } else {
        const m = mesh;
        const pid = m.agent.child.pid;
        await new Promise((r) => setTimeout(r, 1000)); // let start-up garbage settle before "idle"
        const idle = readRssKb(pid);
        if (idle !== undefined) agent.rssIdleKb = idle;
        // Nothing may listen on a VIP: a listener there would take the traffic without any capture.
        const vipNote = (vip: string) => () => (tcpListening(vip, 80) ? `a socket listens on ${vip}:80: traffic may bypass capture` : undefined);
        if (want('nodemesh-proxy')) {
          await attempt('nodemesh-proxy', async () => {
            const url = `http://${PROXY_VIP}/`;
            await probeVip(m, url);
            const stop = sampleRss(pid);
            try {
              return await measure(s, url, m.podsCg);
            } finally {
              const rss = stop();
              if (rss.peakKb !== undefined) agent.rssLoadPeakKb = rss.peakKb;
            }
          }, vipNote(PROXY_VIP));
        }
        if (want('nodemesh-kernel')) {
          await attempt('nodemesh-kernel', async () => {
            const url = `http://${KERNEL_VIP}/`;
            await probeVip(m, url);
            return measure(s, url, m.podsCg);
          }, vipNote(KERNEL_VIP));
        }
        const after = readRssKb(pid);
        if (after !== undefined) agent.rssAfterKb = after;
      }
    }
  });

  const table = formatTable(reports);
  process.stdout.write(`\n${table}\n`);
  const mb = (kb: number | undefined): string => (kb === undefined ? '-' : `${(kb / 1024).toFixed(1)} MiB`);
  if (agent.unavailable) process.stdout.write(`\nagent RSS: unavailable (${agent.unavailable})\n`);
  else if (agent.rssIdleKb !== undefined) {
    process.stdout.write(`\nagent RSS: idle ${mb(agent.rssIdleKb)}, peak under load ${mb(agent.rssLoadPeakKb)}, after ${mb(agent.rssAfterKb)}\n`);
  }
  for (const w of warnings) say(`warning: ${w}`);

  const direct = okResult(reports, 'direct');
  const haproxy = okResult(reports, 'haproxy');
  const json = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { cpus: os.cpus().length, kernel: os.release(), node: process.version },
    tools: { wrk: wrkVersion, haproxy: toolVersion('haproxy', '-v'), nginx: toolVersion('nginx', '-v') },
    settings: { seconds: s.seconds, connections: s.connections, threads: s.threads, warmupSeconds: s.warmup },
    cases: reports.map((r) =>
      r.outcome.status === 'ok'
        ? { key: r.key, label: r.label, status: 'ok', ...r.outcome.result, note: r.outcome.note,
            vsDirect: ratios(r.outcome.result, direct), vsHaproxy: ratios(r.outcome.result, haproxy) }
        : { key: r.key, label: r.label, status: 'unavailable', reason: r.outcome.reason }),
    agent,
    warnings,
  };
  writeResults(s.out, json);
  return want('direct') && !direct ? 1 : 0;
}

runMain(main);
