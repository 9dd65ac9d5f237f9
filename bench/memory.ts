// Memory given back after a big config (issue 10): an agent (--no-capture) loads a generated config of
// BENCH_MEMORY_SERVICES services with BENCH_MEMORY_ENDPOINTS endpoints each, serves a request on each of
// BENCH_MEMORY_TRAFFIC of them (loopback VIPs, so metric series, balancers and pools exist for them),
// then the config is replaced by a 4-service one. After BENCH_MEMORY_WAIT seconds its RSS is compared
// with a fresh agent's that only ever had the 4-service config (goal: within 20%). Also reports the
// metric series left for services that are gone. No root needed. Writes bench/results/memory.json.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { envInt, reportBench, runMain, say } from './harness';
import { freePorts, isRunning, readRssKb, startProcess, waitReady, type Tracked } from './procs';

interface Settings {
  readonly services: number;
  readonly endpoints: number;
  readonly traffic: number;
  readonly waitSec: number;
  readonly out: string;
}

function readSettings(): Settings {
  return {
    services: envInt('BENCH_MEMORY_SERVICES', 10_000, 4, 50_000),
    endpoints: envInt('BENCH_MEMORY_ENDPOINTS', 10, 1, 100),
    traffic: envInt('BENCH_MEMORY_TRAFFIC', 500, 0, 5_000),
    waitSec: envInt('BENCH_MEMORY_WAIT', 15, 1, 300),
    out: path.resolve(process.env.BENCH_MEMORY_OUT ?? 'bench/results/memory.json'),
  };
}

/** Loopback VIP of service i (the agent listens on each without capture). */
const vipOf = (i: number): string => `127.93.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/**
 * Service i: with a VIP onto the backend when it carries traffic (i < traffic), else only a host with
 * `endpoints` pod addresses (no VIP: without capture the agent would try to listen on each one).
 */
function serviceYaml(i: number, traffic: number, endpoints: number, backendPort: number): string {
  const withVip = i < traffic;
  const eps = withVip
    ? '[{ address: 127.0.0.1 }]'
    : `[${Array.from({ length: endpoints }, (_, k) => `{ address: 10.${(i >> 8) & 0xff}.${i & 0xff}.${k + 1}, labels: { app: svc-${i}, version: v${k % 3} } }`).join(', ')}]`;
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: svc-${i}, namespace: bench-${i % 50} }
spec:
  hosts: [svc-${i}.bench-${i % 50}.svc.cluster.local]
${withVip ? `  addresses: [${vipOf(i)}]\n` : ''}  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${backendPort} }]
  resolution: STATIC
  endpoints: ${eps}
`;
}

export function configYaml(services: number, traffic: number, endpoints: number, backendPort: number): string {
  return Array.from({ length: services }, (_, i) => serviceYaml(i, traffic, endpoints, backendPort)).join('---\n');
}

function request(host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port: 80, path: '/', agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

async function traffic(n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => request(vipOf(i + k))));
    ok += batch.filter((s) => s === 200).length;
  }
  return ok;
}

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`${url} timed out`)));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Agent {
  readonly t: Tracked;
  readonly metricsUrl: string;
}

async function startAgent(node: string, main: string, config: string): Promise<Agent> {
  const [metrics, ready, tunnel] = await freePorts(3);
  const t = startProcess('agent', node, [main, 'agent', '--no-capture', '--no-kubernetes', '--config', config, '--admin-host', '127.0.0.1',
    '--metrics-port', String(metrics), '--ready-port', String(ready), '--tunnel-port', String(tunnel), '--access-log', 'off']);
  await waitReady(t, `http://127.0.0.1:${ready}/healthz/ready`, 120_000);
  return { t, metricsUrl: `http://127.0.0.1:${metrics}/metrics` };
}

async function stopAgent(a: Agent): Promise<void> {
  if (!isRunning(a.t.child)) return;
  const exited = new Promise((r) => a.t.child.once('exit', r));
  a.t.child.kill('SIGTERM');
  await exited;
}

/** RSS after `waitSec` (the agent gives a shrunk config's memory back 5 s after the shrink). */
async function rssAfterMb(pid: number | undefined, waitSec: number): Promise<number | undefined> {
  await sleep(waitSec * 1000);
  const kb = readRssKb(pid);
  return kb === undefined ? undefined : Math.round(kb / 1024);
}

const reloads = (text: string): number => Number(/^nodemesh_config_reloads_total\{result="applied"\} (\d+)$/m.exec(text)?.[1] ?? 0);

/** Metric lines naming a service of the big config that the small one does not have. */
const goneSeries = (text: string, keep: number): number =>
  text.split('\n').filter((l) => {
    const m = /svc-(\d+)\./.exec(l) ?? /"bench-\d+\/svc-(\d+)/.exec(l);
    return m !== null && Number(m[1]) >= keep;
  }).length;

async function measure(s: Settings, dir: string, report: Record<string, unknown>): Promise<void> {
  const node = process.execPath;
  const main = path.resolve(__dirname, '../src/main.js');
  const backend = http.createServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendPort = (backend.address() as { port: number }).port;
  try {
    const small = configYaml(4, 4, s.endpoints, backendPort);
    const big = configYaml(s.services, s.traffic, s.endpoints, backendPort);
    const cfgDir = path.join(dir, 'cfg');
    fs.mkdirSync(cfgDir);
    const cfg = path.join(cfgDir, 'mesh.yaml');

    fs.writeFileSync(cfg, small);
    say('fresh agent with the 4-service config');
    const fresh = await startAgent(node, main, cfg);
    await traffic(4);
    report.freshSmallMb = await rssAfterMb(fresh.t.child.pid, s.waitSec);
    await stopAgent(fresh);

    say(`agent with ${s.services} services × ${s.endpoints} endpoints (${Math.round(big.length / 1024)} KiB of YAML)`);
    fs.writeFileSync(cfg, big);
    const a = await startAgent(node, main, cfg);
    const pid = a.t.child.pid;
    report.bigLoadedMb = Math.round((readRssKb(pid) ?? 0) / 1024);
    report.trafficOk = await traffic(s.traffic);
    report.bigAfterTrafficMb = Math.round((readRssKb(pid) ?? 0) / 1024);
    const before = await fetchText(a.metricsUrl);
    report.goneSeriesBefore = goneSeries(before, 4);

    say('replacing it with the 4-service config');
    const tmp = path.join(cfgDir, '.mesh.yaml.tmp');
    fs.writeFileSync(tmp, small);
    fs.renameSync(tmp, cfg);
    const applied = reloads(before);
    const deadline = Date.now() + 60_000;
    while (reloads(await fetchText(a.metricsUrl)) <= applied) {
      if (Date.now() > deadline) throw new Error('the small config was not applied within 60 s');
      await sleep(250);
    }
    await traffic(4);
    report.afterSwapMb = await rssAfterMb(pid, s.waitSec);
    report.goneSeriesAfter = goneSeries(await fetchText(a.metricsUrl), 4);
    await stopAgent(a);
    const fresh0 = report.freshSmallMb as number | undefined;
    const after = report.afterSwapMb as number | undefined;
    if (fresh0 !== undefined && after !== undefined) {
      report.ratio = Math.round((after / fresh0) * 100) / 100;
      report.goalMet = after <= fresh0 * 1.2;
    }
  } finally {
    await new Promise<void>((r) => backend.close(() => r()));
  }
}

async function main(): Promise<number> {
  const s = readSettings();
  const report: Record<string, unknown> = { settings: { services: s.services, endpoints: s.endpoints, traffic: s.traffic, waitSec: s.waitSec } };
  return reportBench(s.out, 600, report, (dir) => measure(s, dir, report));
}

if (require.main === module) runMain(main);
