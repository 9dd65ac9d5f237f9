// `make bench`: one run, six cases side by side against the same nginx backend on 127.0.0.1:
//   direct · HAProxy (nbthread 1) · nginx (1 worker) · nodemesh proxy mode (eBPF capture to the agent, at
//   the agent's defaults: access log on) · the same with the access log off · nodemesh kernel mode (VIP
//   balanced in connect4, no agent hop).
// Prints a table and the target ratios, and writes bench/results/latest.json. Root only (cgroups, bpf).
// Everything it starts is stopped by pid, and its cgroups and pins are removed, also on failure, on a
// signal or at the deadline.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopChild } from '../test/helpers/sysenv';
import { haproxyConf, KERNEL_VIP, meshYaml, PROXY_VIP, proxyNginxConf } from './configs';
import { agentPaths, envInt, errText, runMain, say, settle, tryStartMesh, withBenchScope, writeResults, startBackendNginx, wrkBenchPreflight } from './harness';
import { cleanupMesh, probeVip, type Mesh } from './mesh';
import { freePorts, readCpuMs, readRssKb, runWrk, sampleRss, startProcess, tcpListening, toolVersion, waitReady } from './procs';
import { scrapeMetrics } from './h2run';
import { bypassReason, requestDeltas, workerRequests } from './workers-report';
import { accessLogOn, describeAgentLogging, formatTarget, type AgentLogging, type TargetRatio } from './tables';
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
  { key: 'nodemesh-proxy-nolog', label: 'nodemesh proxy, access log off' },
  { key: 'nodemesh-kernel', label: 'nodemesh kernel (connect4)' },
] as const;
type CaseKey = (typeof CASES)[number]['key'];

/** Proxy mode at the agent's defaults (access log on) over HAProxy, mean req/s. */
const TARGET_VS_HAPROXY = 0.8;
/** What the access log may cost: proxy mode with it on over with it off. */
const TARGET_LOG_ON_OFF = 0.9;

/**
 * The agents of the mesh cases, one after the other, each with its own cgroups and pins (the first is
 * removed before the second starts): the agent's defaults for the headline case and kernel mode, then
 * the same agent with `--access-log off`. Kernel mode goes first so the two proxy cases run back to back.
 */
const AGENTS = [
  { id: 'default', name: 'agent (defaults, access log on)', logFile: 'agent.log', logging: {}, cases: ['nodemesh-kernel', 'nodemesh-proxy'] },
  { id: 'nolog', name: 'agent (access log off)', logFile: 'agent-nolog.log', logging: { accessLog: false }, cases: ['nodemesh-proxy-nolog'] },
] as const satisfies readonly { id: string; name: string; logFile: string; logging: AgentLogging; cases: readonly CaseKey[] }[];
type AgentId = (typeof AGENTS)[number]['id'];

function readSettings(): Settings {
  // Short names are accepted for the nodemesh cases.
  const alias: Record<string, string> = { proxy: 'nodemesh-proxy', nolog: 'nodemesh-proxy-nolog', kernel: 'nodemesh-kernel' };
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

interface AgentStats {
  /** How this agent logged (`default settings (…)` when nothing was changed). */
  logging?: string;
  rssIdleKb?: number;
  rssLoadPeakKb?: number;
  rssAfterKb?: number;
  /** Agent CPU (user + system) per request of the proxy-mode run, µs. */
  cpuUsPerRequest?: number;
  unavailable?: string;
}

/**
 * A warm-up run (discarded: fills connection pools, lets V8 optimise) and then the measured run. With
 * `agent`, its CPU time over the measured run per request goes into `stats`.
 */
async function measure(s: Settings, url: string, cgroup?: string, agent?: { pid: number | undefined; stats: AgentStats }): Promise<WrkResult> {
  const base = { url, connections: s.connections, threads: s.threads, ...(cgroup !== undefined && { cgroup }) };
  if (s.warmup > 0) await runWrk({ ...base, seconds: s.warmup });
  const cpu0 = readCpuMs(agent?.pid);
  const result = parseWrk(await runWrk({ ...base, seconds: s.seconds }));
  const cpu1 = readCpuMs(agent?.pid);
  if (agent && cpu0 !== undefined && cpu1 !== undefined && result.requests > 0) {
    agent.stats.cpuUsPerRequest = ((cpu1 - cpu0) * 1000) / result.requests;
  }
  return result;
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

type Attempt = (key: CaseKey, fn: () => Promise<WrkResult>, note?: () => string | undefined) => Promise<void>;

/** Nothing may listen on a VIP: a listener there would take the traffic without any capture. */
const vipNote = (vip: string) => (): string | undefined => (tcpListening(vip, 80) ? `a socket listens on ${vip}:80: traffic may bypass capture` : undefined);

/** The cases one running agent serves, with its RSS (idle, peak under load, after) and CPU per request. */
async function agentCases(
  s: Settings, m: Mesh, cases: readonly CaseKey[], stats: AgentStats, attempt: Attempt, extraNote?: string,
): Promise<void> {
  const pid = m.agent.child.pid;
  await settle(); // let start-up garbage settle before "idle"
  const idle = readRssKb(pid);
  if (idle !== undefined) stats.rssIdleKb = idle;
  for (const key of cases) {
    if (key === 'nodemesh-kernel') {
      await attempt(key, async () => {
        await probeVip(m, `http://${KERNEL_VIP}/`);
        return measure(s, `http://${KERNEL_VIP}/`, m.podsCg);
      }, vipNote(KERNEL_VIP));
      continue;
    }
    await attempt(key, async () => {
      const url = `http://${PROXY_VIP}/`;
      await probeVip(m, url);
      const counted = async (): Promise<Record<string, number> | undefined> => {
        const text = await scrapeMetrics(m.ports.metrics);
        return text === undefined ? undefined : workerRequests(text);
      };
      const before = await counted();
      const stop = sampleRss(pid);
      let result: WrkResult;
      try {
        result = await measure(s, url, m.podsCg, { pid, stats });
      } finally {
        const rss = stop();
        if (rss.peakKb !== undefined) stats.rssLoadPeakKb = rss.peakKb;
      }
      // A load the agent did not see (no listener in nm_listeners: connect4 fails open to the backend)
      // would be the backend's figures under the agent's name.
      const after = await counted();
      const bypass = before && after ? bypassReason(requestDeltas(before, after), result.requests) : undefined;
      if (bypass !== undefined) throw new Error(bypass);
      return result;
    }, () => [vipNote(PROXY_VIP)(), extraNote].filter(Boolean).join('; ') || undefined);
  }
  const after = readRssKb(pid);
  if (after !== undefined) stats.rssAfterKb = after;
}

async function main(): Promise<number> {
  const wrkVersion = wrkBenchPreflight();
  if (wrkVersion === undefined) return 2;
  const s = readSettings();
  const wanted = CASES.filter((c) => !s.only || s.only.has(c.key));
  // Per case: warm-up + run + generous start/stop time; the whole run stops itself past this.
  const budgetSec = envInt('BENCH_TIMEOUT', wanted.length * (s.warmup + s.seconds + 30) + 60, 10, 3600);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });

  const reports: CaseReport[] = [];
  const agents: Partial<Record<AgentId, AgentStats>> = {};
  const midWarnings: string[] = [];
  const startedAt = new Date().toISOString();
  const record = (key: CaseKey, outcome: CaseOutcome): void => {
    const label = CASES.find((c) => c.key === key)?.label ?? key;
    if (outcome.status === 'ok') say(`${label}: ${Math.round(outcome.result.rps)} req/s`);
    else say(`${label}: unavailable: ${outcome.reason}`);
    reports.push({ key, label, outcome });
  };
  const want = (k: CaseKey): boolean => wanted.some((c) => c.key === k);
  const attempt: Attempt = async (key, fn, note) => {
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
    const { url: backendUrl, proc: backend } = await startBackendNginx(dir, backendPort);
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

    for (const spec of AGENTS) {
      const cases = spec.cases.filter(want);
      if (cases.length === 0) continue;
      const paths = agentPaths(dir, path.join(path.dirname(s.out), spec.logFile), spec.logging);
      const stats: AgentStats = (agents[spec.id] = { logging: describeAgentLogging(paths) });
      say(`${spec.name}: ${stats.logging}; log: ${path.relative(process.cwd(), paths.logFile) || paths.logFile}`);
      // The headline case is meant to run at the defaults; BENCH_AGENT_LOG_LEVEL can silence its access log.
      const extraNote = spec.id === 'default' && !accessLogOn(paths)
        ? `BENCH_AGENT_LOG_LEVEL=${paths.logLevel ?? ''} (${stats.logging}): not the agent's defaults`
        : undefined;
      const m = await tryStartMesh(paths, backendPort, meshYaml(backendPort));
      if ('why' in m) {
        stats.unavailable = m.why;
        for (const key of cases) record(key, { status: 'unavailable', reason: m.why });
      } else {
        await agentCases(s, m, cases, stats, attempt, extraNote);
      }
      // One agent at a time: the next one gets fresh cgroups and pins, and the CPUs to itself.
      midWarnings.push(...(await cleanupMesh()));
    }
  });

  const order = (r: CaseReport): number => CASES.findIndex((c) => c.key === r.key);
  reports.sort((a, b) => order(a) - order(b));
  process.stdout.write(`\n${formatTable(reports)}\n`);

  const haproxy = okResult(reports, 'haproxy');
  const proxy = okResult(reports, 'nodemesh-proxy');
  const nolog = okResult(reports, 'nodemesh-proxy-nolog');
  const target = (name: string, num: WrkResult | undefined, den: WrkResult | undefined, goal: number): TargetRatio => {
    const r = num ? ratios(num, den) : undefined;
    return { name, value: r?.rps, target: goal, ...(r && { p99: r.p99 }) };
  };
  const targets = [
    target('agent (access log on) / haproxy', proxy, haproxy, TARGET_VS_HAPROXY),
    target('access log on / off', proxy, nolog, TARGET_LOG_ON_OFF),
  ];
  process.stdout.write(`\n${targets.map(formatTarget).join('\n')}\n`);

  const mb = (kb: number | undefined): string => (kb === undefined ? '-' : `${(kb / 1024).toFixed(1)} MiB`);
  if (Object.keys(agents).length > 0) process.stdout.write('\n');
  for (const spec of AGENTS) {
    const a = agents[spec.id];
    if (!a) continue;
    if (a.unavailable) {
      process.stdout.write(`${spec.name} RSS: unavailable (${a.unavailable})\n`);
      continue;
    }
    const cpu = a.cpuUsPerRequest === undefined ? '' : `; CPU per request ${a.cpuUsPerRequest.toFixed(2)} µs`;
    process.stdout.write(`${spec.name} RSS: idle ${mb(a.rssIdleKb)}, peak under load ${mb(a.rssLoadPeakKb)}, after ${mb(a.rssAfterKb)}${cpu}\n`);
  }
  const allWarnings = [...midWarnings, ...warnings];
  for (const w of allWarnings) say(`warning: ${w}`);

  const direct = okResult(reports, 'direct');
  const json = {
    version: 2,
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
    targets: targets.map((t) => ({ ...t, met: t.value === undefined ? undefined : t.value >= t.target })),
    agent: agents.default,
    agentAccessLogOff: agents.nolog,
    warnings: allWarnings,
  };
  writeResults(s.out, json);
  return want('direct') && !direct ? 1 : 0;
}

runMain(main);
