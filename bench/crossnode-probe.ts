// The cross-node request path on loopback without eBPF or namespaces (so it runs unprivileged, under
// --cpu-prof, strace or perf): a node http server "pod", the destination side (tunnel server, HTTP
// adapter, pool to the pod) and the source side (outbound listener, tunnel routes and pool), driven by
// an HTTP/1.1 keep-alive client. Cases:
//   direct:   the pod itself;
//   source:   the outbound listener only, dialling the pod (in-process mode only);
//   dest:     a CONNECT stream into the destination side (in-process mode only);
//   dest-l4:  a CONNECT stream into the L4 destination side below (in-process mode only);
//   mesh:     outbound listener → tunnel route → mTLS HTTP/2 → destination side → pod;
//   l4:       the same source side and tunnel, but the destination serves the pod's port at L4: the
//             same InboundHandler, given a config that declares the port TCP, authorizes the stream
//             once, counts TCP metrics and splices it to its own connection to the pod (ztunnel's
//             model: no HTTP parsing, request metrics or access log at the destination).
// In-process (default) everything shares one event loop: the figures are the agents' own work per
// request. With --split, pod, and each variant's destination and source run as separate processes, as
// on a node, so wake-ups between processes count too. Phases: one request at a time (round trip
// percentiles, cases interleaved), then a fixed rate over 16 connections (open loop, as
// bench/crossnode.ts), then closed-loop throughput over 16 connections (--rate 0 / --seconds 0 skip
// those); the last two run --reps times (default 2), direct, mesh, l4 and then in reverse order.
// --split also reports each side's CPU time per request in every phase; --only CASE times that case
// alone (besides direct), for a profile; --json FILE writes the figures.
// Usage: node dist/bench/crossnode-probe.js [--split] [--rounds N] [--rate R] [--seconds S] [--reps N]
//        [--only CASE] [--no-access-log] [--json FILE]
// (the access log goes to stdout: redirect it, e.g. `> /dev/null`; the figures go to stderr)
import { fork, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { Duplex } from 'node:stream';
import type { Addr } from '../src/capture/types';
import { BalancerSet } from '../src/balance/set';
import { buildConfig } from '../src/config/load';
import type { MeshConfig } from '../src/config/model';
import { createOutboundListener } from '../src/downstream/outbound';
import { InboundHandler } from '../src/downstream/tunnel';
import { MeshAuthz } from '../src/policy/authz';
import { ServiceIndex } from '../src/state/services';
import { Topology } from '../src/state/topology';
import { AccessLog, DISABLED_ACCESS_LOG } from '../src/telemetry/accesslog';
import { Metrics } from '../src/telemetry/metrics';
import type { KeyCert } from '../src/tunnel/tls';
import { TunnelRoutes } from '../src/upstream/tunnelsock';
import { fixedRate, oneAtATime, pct, tcp, throughput, type RateResult } from './probe-load';
import { CLIENT_ID, LOCAL, SERVER_ID, pki, startTestServer, testPool, type Trust } from '../test/integration/tunnel-harness';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const ROUNDS = flag('--rounds', 2000);
const RATE = flag('--rate', 1000);
const SECONDS = flag('--seconds', 5);
const CONNS = 16;
const SPLIT = args.includes('--split');
const ACCESS_LOG = !args.includes('--no-access-log');
const REPS = flag('--reps', 2);
/** --bare: the L4 destination is the tunnel tests' server (splice only: no authorization, no metrics). */
const BARE = args.includes('--bare');
const JSON_OUT = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const ROLE = args[args.indexOf('--role') + 1];
/** --only NAME: time only that case (besides direct), e.g. under --cpu-prof. */
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const VIP: Addr = { address: '127.0.100.1', port: 80 };
const accessLog = (): AccessLog => (ACCESS_LOG ? new AccessLog() : DISABLED_ACCESS_LOG);

interface Closer {
  close(): Promise<void> | void;
}

function config(podPort: number, protocol: 'HTTP' | 'TCP' = 'HTTP'): MeshConfig {
  const yaml = [
    'apiVersion: nodemesh.io/v1alpha1\nkind: Node\nmetadata: {name: node-0}\nspec: {addresses: [127.0.0.1]}\n',
    `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: backend-0, namespace: shop, labels: {app: backend, kubernetes.io/hostname: node-0}}\nspec: {address: ${LOCAL}, serviceAccount: backend, labels: {app: backend, version: v1, kubernetes.io/hostname: node-0}}\n`,
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web, namespace: shop}\nspec:\n  hosts: [web.shop.svc.cluster.local]\n  addresses: [${VIP.address}]\n  ports: [{number: 80, name: ${protocol.toLowerCase()}, protocol: ${protocol}, targetPort: ${podPort}}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: backend}}\n`,
  ].join('---\n');
  const built = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: yaml }], issues: [], warnings: [] });
  if (!built.ok) throw new Error(JSON.stringify(built.issues));
  return built.config;
}

async function startPod(): Promise<Closer & { port: number }> {
  const pod = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
  });
  pod.keepAliveTimeout = 60_000;
  pod.listen(0, LOCAL);
  await once(pod, 'listening');
  return { port: (pod.address() as net.AddressInfo).port, close: () => (pod.closeAllConnections(), pod.close(), undefined) };
}

/** The destination side; L4: the pod's port is declared TCP here (the source side still sees HTTP). */
async function startDest(trust: Trust, podPort: number, l4 = false): Promise<Closer & { addr: Addr; streams(): number }> {
  if (l4 && BARE) {
    const bare = await startTestServer(trust);
    return { addr: bare.addr, streams: () => bare.streams.length, close: () => bare.server.close(0) };
  }
  const cfg = config(podPort, l4 ? 'TCP' : 'HTTP');
  const topo = new Topology(cfg, 'node-0', 'cluster.local');
  const authz = new MeshAuthz(cfg.authorizationPolicies);
  const inbound = new InboundHandler({ topology: () => topo, authz: () => authz, metrics: new Metrics({ cluster: 'Kubernetes' }), deliveryAddress: undefined, connectTimeoutMs: 2_000, accessLog: accessLog() });
  let opened = 0;
  const tunnel = await startTestServer(trust, { onStream: (ctx) => (opened++, inbound.onStream(ctx)) });
  return {
    addr: tunnel.addr,
    streams: () => opened,
    close: async () => {
      await tunnel.server.close(0);
      inbound.close();
    },
  };
}

function pooledOpener(trust: Trust, node: Addr, podPort: number): { open(): Promise<Duplex>; close(): Promise<void> } {
  const pool = testPool(trust);
  const target = { address: LOCAL, port: podPort };
  return {
    open: () => pool.open({ sourceIdentity: CLIENT_ID, destinationIdentities: [SERVER_ID], node, target, forwardedFor: { address: LOCAL, port: 0 } }),
    close: () => pool.close(),
  };
}

async function startSource(trust: Trust, node: Addr | undefined, podPort: number): Promise<Closer & { port: number }> {
  const cfg = config(podPort);
  const index = new ServiceIndex(cfg);
  const opener = node !== undefined ? pooledOpener(trust, node, podPort) : undefined;
  const routes = opener !== undefined ? new TunnelRoutes(() => opener.open()) : undefined;
  const listener = await createOutboundListener({
    host: LOCAL,
    port: 0,
    deps: {
      originalDst: () => VIP,
      index: () => index,
      metrics: new Metrics(),
      balancers: new BalancerSet(),
      accessLog: accessLog(),
      ...(routes !== undefined ? { dial: (c: Addr, t: Addr) => routes.ensure({ identity: CLIENT_ID, target: t, client: { address: c.address, port: 0 } }) } : {}),
    },
  });
  return {
    port: listener.address().port,
    close: async () => {
      await listener.close(0);
      routes?.close();
      await opener?.close();
    },
  };
}

/** CPU time (µs) each child used so far. */
async function cpuOf(procs: readonly ChildProcess[]): Promise<number[]> {
  return Promise.all(
    procs.map(async (p) => {
      const got = once(p, 'message') as Promise<[{ cpu: number }]>;
      p.send('cpu');
      return (await got)[0].cpu;
    }),
  );
}

/** Starts ROLE in a child process; resolves with what it reports once it listens. */
async function child<T>(role: string, input: unknown): Promise<{ proc: ChildProcess; out: T }> {
  const proc = fork(__filename, ['--role', role, ...args.filter((a) => a === '--no-access-log' || a === '--bare')], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  proc.send(input as object);
  const [out] = (await once(proc, 'message')) as [T];
  return { proc, out };
}

interface Wire {
  readonly root: string;
  readonly certs: Array<[string, KeyCert]>;
  readonly podPort: number;
  readonly node?: Addr;
  readonly l4?: boolean;
}

const trustOf = (w: Wire): Trust => ({ root: { pem: w.root }, certs: new Map(w.certs) });

/** A child process: starts its part, reports its address, runs until its parent disconnects. */
async function runRole(role: string): Promise<void> {
  const [w] = (await once(process, 'message')) as [Wire];
  const part = role === 'pod' ? await startPod() : role === 'dest' ? await startDest(trustOf(w), w.podPort, w.l4 === true) : await startSource(trustOf(w), w.node, w.podPort);
  process.send!('port' in part ? part.port : part.addr);
  // Asked between phases: the CPU time this process used so far (µs).
  process.on('message', (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
    }
  });
  process.once('disconnect', () => void Promise.resolve(part.close()).then(() => process.exit(0)));
}

/** A meshed path: its client port and, with --split, its [source, destination] processes. */
interface Variant {
  readonly name: string;
  readonly port: number;
  readonly sides: readonly ChildProcess[];
}

type Cpu = Record<string, number>;

/** Runs `fn` and, with --split, the CPU per request (µs) used by its variant's source and destination,
 *  the pod and this process (the client). */
async function withCpu<T>(v: Variant, pod: ChildProcess | undefined, fn: () => Promise<T>, requests: (r: T) => number): Promise<{ r: T; cpu?: Cpu }> {
  if (pod === undefined) return { r: await fn() };
  const procs = [...v.sides, pod];
  const use = (): number => ((u) => u.user + u.system)(process.cpuUsage());
  const [c0, m0] = [await cpuOf(procs), use()];
  const r = await fn();
  const [c1, m1] = [await cpuOf(procs), use()];
  const n = Math.max(1, requests(r));
  const names = v.sides.length > 0 ? ['source', 'destination', 'pod'] : ['pod'];
  return { r, cpu: { ...Object.fromEntries(names.map((k, i) => [k, (c1[i]! - c0[i]!) / n])), client: (m1 - m0) / n } };
}

const cpuText = (cpu: Cpu | undefined): string => (cpu ? `  CPU/req (µs) ${Object.entries(cpu).map(([k, x]) => `${k} ${x.toFixed(0)}`).join(', ')}` : '');

async function main(): Promise<void> {
  const trust = await pki([CLIENT_ID, SERVER_ID]);
  const wire = (podPort: number, node?: Addr): Wire => ({ root: trust.root.pem, certs: [...trust.certs], podPort, ...(node !== undefined ? { node } : {}) });
  const closers: Closer[] = [];
  const variants: Variant[] = [];
  let podPort: number;
  let podProc: ChildProcess | undefined;
  const cases: Array<[string, () => Promise<number>]> = [];
  const streamsOpened: Array<[string, () => number]> = [];
  if (SPLIT) {
    const pod = await child<number>('pod', {});
    podPort = pod.out;
    podProc = pod.proc;
    const pids = [`pod ${pod.proc.pid}`];
    for (const [name, l4] of [['mesh', false], ['l4', true]] as const) {
      const dest = await child<Addr>('dest', { ...wire(podPort), l4 });
      const src = await child<number>('source', wire(podPort, dest.out));
      variants.push({ name, port: src.out, sides: [src.proc, dest.proc] });
      pids.push(`${name}: source ${src.proc.pid}, destination ${dest.proc.pid}`);
    }
    process.stderr.write(`pids: ${pids.join('; ')}\n`);
  } else {
    const pod = await startPod();
    podPort = pod.port;
    const plain = await startSource(trust, undefined, podPort);
    closers.push(plain);
    cases.push(['source', oneAtATime(await tcp(plain.port))]);
    for (const [name, l4] of [['mesh', false], ['l4', true]] as const) {
      const dest = await startDest(trust, podPort, l4);
      const meshed = await startSource(trust, dest.addr, podPort);
      const opener = pooledOpener(trust, dest.addr, podPort);
      closers.push(meshed, opener, dest);
      streamsOpened.push([name, dest.streams]);
      cases.push([l4 ? 'dest-l4' : 'dest', oneAtATime(await opener.open())]);
      variants.push({ name, port: meshed.port, sides: [] });
    }
    closers.push(pod);
  }
  cases.unshift(['direct', oneAtATime(await tcp(podPort))]);
  for (const v of variants) cases.push([v.name, oneAtATime(await tcp(v.port))]);
  if (ONLY !== undefined) cases.splice(0, cases.length, ...cases.filter(([n]) => n === ONLY || n === 'direct'));
  const lat = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  for (let i = 0; i < 200; i++) for (const [, rt] of cases) await rt(); // warm
  const all = [...variants.flatMap((v) => v.sides), ...(podProc ? [podProc] : [])];
  const cpu0 = await cpuOf(all);
  for (let i = 0; i < ROUNDS; i++) for (const [n, rt] of cases) lat.get(n)!.push(await rt());
  const cpu1 = await cpuOf(all);
  const report: Record<string, unknown> = { split: SPLIT, accessLog: ACCESS_LOG, bare: BARE, loadavg: loadavg() };
  const out = [`${SPLIT ? 'separate processes' : 'one process'}, access log ${ACCESS_LOG ? 'on' : 'off'}${BARE ? ', bare L4 destination' : ''}`, `one request at a time, ${ROUNDS} rounds (µs)`, 'case      p50     p90     p99'];
  const single: Record<string, number[]> = {};
  for (const [n, xs] of lat) {
    single[n] = [pct(xs, 50), pct(xs, 90), pct(xs, 99)];
    out.push(`${n.padEnd(8)} ${pct(xs, 50).toFixed(0).padStart(5)}  ${pct(xs, 90).toFixed(0).padStart(6)}  ${pct(xs, 99).toFixed(0).padStart(6)}`);
  }
  report.single = single;
  const d = pct(lat.get('direct')!, 50);
  out.push(`added p50: ${[...lat].filter(([n]) => n !== 'direct').map(([n, xs]) => `${n} ${(pct(xs, 50) - d).toFixed(0)}`).join(', ')} µs`);
  if (SPLIT && ROUNDS > 0) {
    const per = (i: number): number => (cpu1[i]! - cpu0[i]!) / ROUNDS;
    const cpu: Record<string, number[]> = {};
    variants.forEach((v, i) => (cpu[v.name] = [per(2 * i), per(2 * i + 1)]));
    report.singleCpu = { ...cpu, pod: per(all.length - 1) / (1 + variants.length) };
    out.push(`CPU per request (µs): ${variants.map((v) => `${v.name}: source ${cpu[v.name]![0]!.toFixed(0)}, destination ${cpu[v.name]![1]!.toFixed(0)}`).join('; ')}; pod ${(per(all.length - 1) / (1 + variants.length)).toFixed(0)}`);
  }
  process.stderr.write(`${out.join('\n')}\n`);
  const direct: Variant = { name: 'direct', port: podPort, sides: [] };
  // Each rep: direct first and last in turn, so neither variant always follows the other.
  const orders = Array.from({ length: REPS }, (_, i) => (i % 2 === 0 ? [direct, ...variants] : [...variants].reverse().concat(direct)));
  if (RATE > 0) {
    const reps: Array<Record<string, unknown>> = [];
    for (const order of orders) {
      process.stderr.write(`${RATE} req/s over ${CONNS} connections for ${SECONDS} s (ms):\n`);
      const got: Record<string, RateResult & { cpu?: Cpu }> = {};
      for (const v of order) {
        const { r, cpu } = await withCpu(v, podProc, () => fixedRate(v.port, RATE, SECONDS, CONNS), (x) => x.done);
        got[v.name] = { ...r, ...(cpu ? { cpu } : {}) };
      }
      for (const v of [direct, ...variants]) {
        const r = got[v.name]!;
        const added = v === direct ? '' : `  added p50 ${(r.p50 - got.direct!.p50).toFixed(3)}  p99 ${(r.p99 - got.direct!.p99).toFixed(3)}`;
        process.stderr.write(`  ${v.name.padEnd(6)} p50 ${r.p50.toFixed(3)}  p90 ${r.p90.toFixed(3)}  p99 ${r.p99.toFixed(3)}  (${r.done}/${r.sent})${added}${cpuText(r.cpu)}\n`);
      }
      reps.push(got);
    }
    report.rate = reps;
  }
  if (SECONDS > 0) {
    const reps: Array<Record<string, unknown>> = [];
    for (const order of orders) {
      const got: Record<string, { rps: number; cpu?: Cpu }> = {};
      for (const v of order) {
        const { r, cpu } = await withCpu(v, podProc, () => throughput(v.port, SECONDS, CONNS), (n) => n);
        got[v.name] = { rps: r / SECONDS, ...(cpu ? { cpu } : {}) };
      }
      const base = got.direct!.rps;
      process.stderr.write(`closed loop, ${CONNS} connections: direct ${base.toFixed(0)} req/s${cpuText(got.direct!.cpu)}\n`);
      for (const v of variants) process.stderr.write(`  ${v.name.padEnd(6)} ${got[v.name]!.rps.toFixed(0)} req/s (${(got[v.name]!.rps / base).toFixed(2)}x)${cpuText(got[v.name]!.cpu)}\n`);
      reps.push(got);
    }
    report.throughput = reps;
  }
  // Pooled connections keep their streams: one per client connection, not one per request.
  for (const [n, f] of streamsOpened) process.stderr.write(`CONNECT streams opened (${n}): ${f()}\n`);
  if (JSON_OUT !== undefined) writeFileSync(JSON_OUT, `${JSON.stringify(report)}\n`);
  for (const c of closers) await c.close();
  for (const p of all) p.disconnect();
}

if (ROLE !== undefined && args.includes('--role')) {
  runRole(ROLE).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
