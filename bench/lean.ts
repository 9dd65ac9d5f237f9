// What an idle agent costs (issue 13, "lean"): RSS and heap of a fresh agent (--no-capture, 10
// services), per service (1,000 services against 10), per idle connection (N keep-alive connections that
// made one request each, and N that sent nothing yet, on a fresh agent's loopback VIP listener), and
// what each big dependency costs when a bare node loads it. Heap figures come from a preload
// (lean-probe.ts) that collects garbage on SIGUSR2; RSS is /proc/PID/status VmRSS. The agent runs with
// the node flags of bin/nodemesh (BENCH_LEAN_NODE_ARGS overrides them). No root needed; as root the
// descriptor limit is raised with prlimit for the largest N. Writes bench/results/lean.json.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { envInt, reportBench, runMain, say } from './harness';
import { statusKb } from './lean-probe';
import { freePorts, isRunning, readRssKb, startProcess, waitReady, type Tracked } from './procs';

interface Settings {
  readonly conns: readonly number[];
  readonly services: number;
  readonly settleMs: number;
  readonly idleWaitMs: number;
  readonly nodeArgs: readonly string[];
  /** Extra agent flags for every agent of the run (BENCH_LEAN_AGENT_ARGS). */
  readonly agentArgs: readonly string[];
  readonly modules: boolean;
  readonly out: string;
}

const ROOT = path.resolve(__dirname, '../..');

/** The node flags the launcher runs the agent with (bin/nodemesh's exec line). */
export function launcherFlags(script: string): string[] {
  const line = script.split('\n').find((l) => /^exec "\$node" /.test(l));
  return line === undefined ? [] : [...line.matchAll(/(?<=\s)(--[\w-]+(?:=\S+)?)/g)].map((m) => m[1] as string);
}

function readSettings(): Settings {
  const conns = (process.env.BENCH_LEAN_CONNS ?? '2000,10000').split(',').filter((s) => s.trim() !== '').map(Number);
  if (conns.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000)) throw new Error(`BENCH_LEAN_CONNS=${process.env.BENCH_LEAN_CONNS}: expected integers in [1, 20000]`);
  const given = process.env.BENCH_LEAN_NODE_ARGS;
  let launcher: string[] = [];
  try {
    launcher = launcherFlags(fs.readFileSync(path.join(ROOT, 'bin/nodemesh'), 'utf8'));
  } catch {
    launcher = [];
  }
  return {
    conns: [...conns].sort((a, b) => a - b),
    services: envInt('BENCH_LEAN_SERVICES', 1000, 20, 20_000),
    settleMs: envInt('BENCH_LEAN_SETTLE', 3, 1, 60) * 1000,
    // Past the agent's one collection 5 s after its start (state/reclaim.ts).
    idleWaitMs: envInt('BENCH_LEAN_IDLE_WAIT', 8, 1, 120) * 1000,
    nodeArgs: given !== undefined ? given.split(/\s+/).filter((s) => s !== '') : launcher,
    agentArgs: (process.env.BENCH_LEAN_AGENT_ARGS ?? '').split(/\s+/).filter((s) => s !== ''),
    modules: process.env.BENCH_LEAN_MODULES !== '0',
    out: path.resolve(process.env.BENCH_LEAN_OUT ?? 'bench/results/lean.json'),
  };
}

/** The bench's VIP (a loopback address the agent listens on without capture). */
const VIP = '127.95.0.1';

/** One service with a VIP onto the backend, then services-1 with a host and two pod endpoints each. */
export function leanConfig(services: number, backendPort: number): string {
  const docs = [`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: lean-0, namespace: lean }
spec:
  hosts: [lean-0.lean.svc.cluster.local]
  addresses: [${VIP}]
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${backendPort} }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`];
  for (let i = 1; i < services; i++) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: lean-${i}, namespace: lean-${i % 20} }
spec:
  hosts: [lean-${i}.lean-${i % 20}.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 10.${(i >> 8) & 0xff}.${i & 0xff}.1, labels: { app: lean-${i} } }, { address: 10.${(i >> 8) & 0xff}.${i & 0xff}.2, labels: { app: lean-${i} } }]
`);
  }
  return docs.join('---\n');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (kb: number | undefined): number | undefined => (kb === undefined ? undefined : Math.round((kb / 1024) * 10) / 10);

interface Probe {
  readonly rssKb: number;
  readonly anonKb: number;
  readonly fileKb: number;
  readonly heapUsedKb: number;
  readonly heapTotalKb: number;
  readonly externalKb: number;
  readonly arrayBuffersKb: number;
  readonly packages: Record<string, number>;
}

interface Agent {
  readonly t: Tracked;
  readonly probeFile: string;
}

async function startAgent(s: Settings, dir: string, name: string, config: string, extra: readonly string[] = []): Promise<Agent> {
  const cfg = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(cfg, config);
  const [metrics, ready, tunnel] = await freePorts(3);
  const probeFile = path.join(dir, `${name}.probe.json`);
  const args = [...s.nodeArgs, '--expose-gc', '-r', path.resolve(__dirname, 'lean-probe.js'), path.resolve(__dirname, '../src/main.js'), 'agent',
    '--no-capture', '--no-kubernetes', '--config', cfg, '--admin-host', '127.0.0.1', '--metrics-port', String(metrics), '--ready-port', String(ready),
    '--tunnel-port', String(tunnel), '--dns-port', '0', '--access-log', 'off', ...s.agentArgs, ...extra];
  process.env.LEAN_PROBE_FILE = probeFile;
  const t = startProcess(`agent-${name}`, process.execPath, args);
  delete process.env.LEAN_PROBE_FILE;
  await waitReady(t, `http://127.0.0.1:${ready}/healthz/ready`, 120_000);
  return { t, probeFile };
}

async function stopAgent(a: Agent): Promise<void> {
  if (!isRunning(a.t.child)) return;
  const exited = new Promise((r) => a.t.child.once('exit', r));
  a.t.child.kill('SIGTERM');
  await exited;
}

/** VmRSS as it is (no collection forced), then the probe's figures after two full collections. */
async function measure(a: Agent, label: string): Promise<{ label: string; rssKb: number | undefined; anonKb?: number; fileKb?: number; probe: Probe | undefined }> {
  const rssKb = readRssKb(a.t.child.pid);
  let split: { anonKb?: number; fileKb?: number } = {};
  try {
    const st = statusKb(fs.readFileSync(`/proc/${a.t.child.pid}/status`, 'utf8'));
    split = { anonKb: st.anonKb, fileKb: st.fileKb };
  } catch {
    split = {};
  }
  fs.rmSync(a.probeFile, { force: true });
  a.t.child.kill('SIGUSR2');
  let probe: Probe | undefined;
  for (let i = 0; i < 100 && probe === undefined; i++) {
    await sleep(100);
    try {
      probe = JSON.parse(fs.readFileSync(a.probeFile, 'utf8')) as Probe;
    } catch {
      probe = undefined;
    }
  }
  say(`${label}: RSS ${mib(rssKb)} MiB (anon ${mib(split.anonKb)}, file ${mib(split.fileKb)}); after gc RSS ${mib(probe?.rssKb)} MiB, heap used ${mib(probe?.heapUsedKb)} MiB of ${mib(probe?.heapTotalKb)}, external ${mib(probe?.externalKb)}`);
  return { label, rssKb, ...split, probe };
}

/** A browser-sized head (about 1 KiB: agent, accept lists, a session cookie), as idle clients leave them. */
const REQUEST = Buffer.from(
  `GET /api/v1/items?page=1 HTTP/1.1\r\nHost: lean-0.lean.svc.cluster.local\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\r\n` +
    `Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n` +
    `Cookie: session=${'s'.repeat(512)}; theme=dark\r\nX-Request-Id: 5f0c6a4e-2b1d-4c3e-9a8f-7e6d5c4b3a29\r\n\r\n`,
);

/** One connection to the VIP; with `request`, one keep-alive request is answered before it idles. */
function openOne(request: boolean, into: net.Socket[]): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: VIP, port: 80 });
    let got = '';
    const done = (ok: boolean): void => {
      s.removeAllListeners('data');
      if (ok) into.push(s);
      else s.destroy();
      resolve(ok);
    };
    s.on('error', () => done(false));
    s.setTimeout(10_000, () => done(false));
    s.once('connect', () => {
      s.setTimeout(0);
      if (!request) return done(true);
      s.write(REQUEST);
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = /content-length:\s*(\d+)/i.exec(got.slice(0, end));
        const complete = len ? got.length - end - 4 >= Number(len[1]) : got.endsWith('0\r\n\r\n');
        if (complete) done(got.startsWith('HTTP/1.1 200'));
      });
    });
  });
}

/** Opens until `into` holds `target` connections, 200 at a time; resolves to the failures. */
async function openUntil(target: number, request: boolean, into: net.Socket[]): Promise<number> {
  let failed = 0;
  while (into.length < target && failed < 100) {
    const batch = Math.min(200, target - into.length);
    const r = await Promise.all(Array.from({ length: batch }, () => openOne(request, into)));
    failed += r.filter((ok) => !ok).length;
  }
  return failed;
}

/** Raises this process's descriptor limit (its children inherit it) when it is below `want`. */
function raiseFdLimit(want: number): string {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? Infinity);
  if (soft >= want) return `descriptor limit ${soft}`;
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { encoding: 'utf8' });
  if (r.status !== 0) return `descriptor limit ${soft} (prlimit to ${want} failed: ${(r.stderr ?? String(r.error)).trim()})`;
  return `descriptor limit raised to ${want}`;
}

/** RSS and heap of a bare node after loading each group of packages (separate processes). */
const MODULE_GROUPS = ['@kubernetes/client-node', 'reflect-metadata+@peculiar/x509', '@grpc/grpc-js', '@grpc/grpc-js+@grpc/proto-loader', 'jose', 'pino', 'prom-client', 'yaml', 'ffi-napi+ref-napi'];

const MODULE_SCRIPT = `
const fs = require('fs');
const m = () => { gc(); gc(); const s = fs.readFileSync('/proc/self/status', 'utf8'); const u = process.memoryUsage();
  return { rssKb: +/VmRSS:\\s+(\\d+)/.exec(s)[1], anonKb: +/RssAnon:\\s+(\\d+)/.exec(s)[1], heapUsedKb: Math.round(u.heapUsed / 1024) }; };
const before = m(); const t = process.hrtime.bigint(); const n0 = Object.keys(require.cache).length;
for (const p of process.argv[1].split('+')) require(require.resolve(p, { paths: [process.argv[2]] }));
const ms = Number(process.hrtime.bigint() - t) / 1e6; const after = m();
process.stdout.write(JSON.stringify({ rssKb: after.rssKb - before.rssKb, anonKb: after.anonKb - before.anonKb, heapUsedKb: after.heapUsedKb - before.heapUsedKb, loadMs: Math.round(ms), files: Object.keys(require.cache).length - n0 }));`;

function moduleCosts(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const g of MODULE_GROUPS) {
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', MODULE_SCRIPT, g, ROOT], { encoding: 'utf8', timeout: 60_000 });
    try {
      out[g] = JSON.parse(r.stdout);
    } catch {
      out[g] = { error: (r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-1)[0] };
    }
  }
  return out;
}

/**
 * Flags for a mesh CA that is never asked: with no workload on the node nothing is signed, which is
 * how an agent of a fresh node idles (its root and token files must exist).
 */
async function caFlags(dir: string): Promise<string[]> {
  const { createRootCa } = await import('../src/identity/certs');
  const root = path.join(dir, 'ca-root.pem');
  const token = path.join(dir, 'node-token');
  fs.writeFileSync(root, (await createRootCa('cluster.local')).certPem);
  fs.writeFileSync(token, 'lean\n');
  const [port] = await freePorts(1);
  return ['--ca', `127.0.0.1:${port}`, '--ca-root', root, '--node-token', token];
}

const perKb = (a: number | undefined, b: number | undefined, n: number): number | undefined =>
  a === undefined || b === undefined ? undefined : Math.round(((a - b) / n) * 100) / 100;

async function run(s: Settings, dir: string, report: Record<string, unknown>): Promise<void> {
  const maxN = s.conns[s.conns.length - 1] ?? 0;
  report.fdLimit = raiseFdLimit(2 * maxN + 4096);
  const backend = http.createServer({ keepAliveTimeout: 300_000 }, (_req, res) => res.end('ok\n'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendPort = (backend.address() as net.AddressInfo).port;
  const sockets: net.Socket[] = [];
  try {
    if (s.modules) {
      say('module costs in a bare node');
      report.modules = moduleCosts();
    }
    say('fresh agent, 10 services');
    const long = ['--idle-timeout', '600s', '--header-timeout', '600s'];
    const a = await startAgent(s, dir, 'small', leanConfig(10, backendPort), long);
    await sleep(s.idleWaitMs);
    const idle = await measure(a, 'idle, 10 services');
    report.idle = idle;
    report.packagesAtIdle = idle.probe?.packages;
    const conns: Record<string, unknown>[] = [];
    for (const n of s.conns) {
      const failed = await openUntil(n, true, sockets);
      await sleep(s.settleMs);
      const m = await measure(a, `${sockets.length} idle keep-alive connections`);
      conns.push({
        connections: sockets.length,
        failed,
        rssKb: m.rssKb,
        probe: m.probe,
        rssKbPerConn: perKb(m.rssKb, idle.rssKb, sockets.length),
        rssKbPerConnAfterGc: perKb(m.probe?.rssKb, idle.probe?.rssKb, sockets.length),
        heapKbPerConn: perKb(m.probe?.heapUsedKb, idle.probe?.heapUsedKb, sockets.length),
        externalKbPerConn: perKb(m.probe?.externalKb, idle.probe?.externalKb, sockets.length),
      });
    }
    report.keepAlive = conns;
    for (const c of sockets.splice(0)) c.destroy();
    await sleep(s.settleMs);
    const closed = await measure(a, 'after closing them');
    report.afterClose = closed;
    // Connections that have sent nothing yet (waiting for a request head), on top of the same agent.
    const silentN = s.conns[0] ?? 0;
    if (silentN > 0) {
      const failed = await openUntil(silentN, false, sockets);
      await sleep(s.settleMs);
      const m = await measure(a, `${sockets.length} connections that sent nothing`);
      report.silent = {
        connections: sockets.length,
        failed,
        rssKbPerConn: perKb(m.rssKb, closed.rssKb, sockets.length),
        rssKbPerConnAfterGc: perKb(m.probe?.rssKb, closed.probe?.rssKb, sockets.length),
        heapKbPerConn: perKb(m.probe?.heapUsedKb, closed.probe?.heapUsedKb, sockets.length),
      };
      for (const c of sockets.splice(0)) c.destroy();
    }
    await stopAgent(a);

    say(`fresh agent, ${s.services} services`);
    const b = await startAgent(s, dir, 'big', leanConfig(s.services, backendPort));
    await sleep(s.idleWaitMs);
    const big = await measure(b, `idle, ${s.services} services`);
    await stopAgent(b);
    say('fresh agent, 10 services, with a mesh CA (--ca) instead of the embedded one');
    const c = await startAgent(s, dir, 'ca', leanConfig(10, backendPort), await caFlags(dir));
    await sleep(s.idleWaitMs);
    report.idleWithCa = await measure(c, 'idle, 10 services, --ca');
    await stopAgent(c);
    report.services = {
      services: s.services,
      big,
      rssKbPerService: perKb(big.rssKb, idle.rssKb, s.services - 10),
      rssKbPerServiceAfterGc: perKb(big.probe?.rssKb, idle.probe?.rssKb, s.services - 10),
      heapKbPerService: perKb(big.probe?.heapUsedKb, idle.probe?.heapUsedKb, s.services - 10),
    };
  } finally {
    for (const c of sockets) c.destroy();
    const closed = new Promise<void>((r) => backend.close(() => r()));
    backend.closeAllConnections();
    await closed;
  }
}

function table(report: Record<string, unknown>): string {
  const idle = report.idle as { rssKb?: number; anonKb?: number; fileKb?: number; probe?: Probe } | undefined;
  const withCa = report.idleWithCa as { rssKb?: number; anonKb?: number; fileKb?: number; probe?: Probe } | undefined;
  const lines = [
    `idle agent (10 services): RSS ${mib(idle?.rssKb)} MiB = anon ${mib(idle?.anonKb)} + file ${mib(idle?.fileKb)} (after gc ${mib(idle?.probe?.rssKb)} MiB), heap used ${mib(idle?.probe?.heapUsedKb)} MiB (goal RSS ≤ 60 MiB)`,
    `idle agent with --ca: RSS ${mib(withCa?.rssKb)} MiB = anon ${mib(withCa?.anonKb)} + file ${mib(withCa?.fileKb)} (after gc ${mib(withCa?.probe?.rssKb)} MiB), heap used ${mib(withCa?.probe?.heapUsedKb)} MiB`,
  ];
  for (const c of (report.keepAlive as Record<string, number>[] | undefined) ?? []) {
    lines.push(`${c.connections} idle keep-alive connections: ${c.rssKbPerConn} KiB RSS each (after gc ${c.rssKbPerConnAfterGc}), heap ${c.heapKbPerConn} KiB, external ${c.externalKbPerConn} KiB (goal ≤ 30 KiB)`);
  }
  const silent = report.silent as Record<string, number> | undefined;
  if (silent) lines.push(`${silent.connections} connections that sent nothing: ${silent.rssKbPerConn} KiB RSS each (after gc ${silent.rssKbPerConnAfterGc}), heap ${silent.heapKbPerConn} KiB`);
  const sv = report.services as Record<string, number> | undefined;
  if (sv) lines.push(`per service (${sv.services} against 10): ${sv.rssKbPerService} KiB RSS (after gc ${sv.rssKbPerServiceAfterGc}), heap ${sv.heapKbPerService} KiB`);
  const mods = report.modules as Record<string, Record<string, number>> | undefined;
  if (mods) {
    lines.push('package (bare node, separately)          RSS KiB   anon KiB   heap KiB   load ms');
    for (const [k, v] of Object.entries(mods)) lines.push(`${k.padEnd(40)} ${String(v.rssKb).padStart(8)} ${String(v.anonKb).padStart(10)} ${String(v.heapUsedKb).padStart(10)} ${String(v.loadMs).padStart(9)}`);
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const s = readSettings();
  const report: Record<string, unknown> = { settings: { conns: s.conns, services: s.services, settleMs: s.settleMs, idleWaitMs: s.idleWaitMs, nodeArgs: s.nodeArgs, agentArgs: s.agentArgs } };
  const code = await reportBench(s.out, 900, report, (dir) => run(s, dir, report));
  process.stdout.write(`${table(report)}\n`);
  return code;
}

if (require.main === module) runMain(main);
