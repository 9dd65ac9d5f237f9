// The cross-node request path on loopback without eBPF or namespaces (so it runs unprivileged, under
// --cpu-prof, strace or perf): a node http server "pod", the destination side (tunnel server, HTTP
// adapter, pool to the pod) and the source side (outbound listener, tunnel routes and pool), driven by
// an HTTP/1.1 keep-alive client. Cases:
//   direct:   the pod itself;
//   source:   the outbound listener only, dialling the pod (in-process mode only);
//   dest:     a CONNECT stream into the destination side (in-process mode only);
//   mesh:     outbound listener → tunnel route → mTLS HTTP/2 → destination side → pod.
// In-process (default) everything shares one event loop: the figures are the agents' own work per
// request. With --split, pod, destination and source run as separate processes, as on a node, so
// wake-ups between processes count too. Phases: one request at a time (round trip percentiles, cases
// interleaved), then a fixed rate over 16 connections (open loop, as bench/crossnode.ts), then
// closed-loop throughput over 16 connections (--rate 0 / --seconds 0 skip those). --split also reports
// each side's CPU time per request; --only CASE times that case alone (besides direct), for a profile.
// Usage: node dist/bench/crossnode-probe.js [--split] [--rounds N] [--rate R] [--seconds S] [--only CASE]
//        [--no-access-log]
// (the access log goes to stdout: redirect it, e.g. `> /dev/null`; the figures go to stderr)
import { fork, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
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
const ROLE = args[args.indexOf('--role') + 1];
/** --only NAME: time only that case (besides direct), e.g. under --cpu-prof. */
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const VIP: Addr = { address: '127.0.100.1', port: 80 };
const REQ = Buffer.from(`GET /probe HTTP/1.1\r\nhost: web.shop.svc.cluster.local\r\n\r\n`);
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const accessLog = (): AccessLog => (ACCESS_LOG ? new AccessLog() : DISABLED_ACCESS_LOG);

interface Closer {
  close(): Promise<void> | void;
}

function config(podPort: number): MeshConfig {
  const yaml = [
    'apiVersion: nodemesh.io/v1alpha1\nkind: Node\nmetadata: {name: node-0}\nspec: {addresses: [127.0.0.1]}\n',
    `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: backend-0, namespace: shop, labels: {app: backend, kubernetes.io/hostname: node-0}}\nspec: {address: ${LOCAL}, serviceAccount: backend, labels: {app: backend, version: v1, kubernetes.io/hostname: node-0}}\n`,
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web, namespace: shop}\nspec:\n  hosts: [web.shop.svc.cluster.local]\n  addresses: [${VIP.address}]\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${podPort}}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: backend}}\n`,
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

async function startDest(trust: Trust, podPort: number): Promise<Closer & { addr: Addr; streams(): number }> {
  const cfg = config(podPort);
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

/** Reads content-length framed responses off CONN; each completes the oldest waiter. */
function responses(conn: Duplex): (onDone: () => void) => void {
  let buf = '';
  const waiting: Array<() => void> = [];
  conn.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (;;) {
      const h = buf.indexOf('\r\n\r\n');
      if (h < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, h))?.[1] ?? 0);
      if (buf.length < h + 4 + len) return;
      buf = buf.slice(h + 4 + len);
      waiting.shift()?.();
    }
  });
  return (onDone) => void waiting.push(onDone);
}

/** One request at a time: the round trip in µs. */
function oneAtATime(conn: Duplex): () => Promise<number> {
  const expect = responses(conn);
  return async () => {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      expect(r);
      conn.write(REQ);
    });
    return (performance.now() - t0) * 1000;
  };
}

async function tcp(port: number): Promise<net.Socket> {
  const s = net.connect({ host: LOCAL, port, noDelay: true });
  await once(s, 'connect');
  return s;
}

/** RATE requests/s over CONNS connections for SECONDS, open loop: latency percentiles (ms). */
async function fixedRate(port: number): Promise<string> {
  const conns = await Promise.all(Array.from({ length: CONNS }, () => tcp(port)));
  const expects = conns.map(responses);
  const lat: number[] = [];
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(RATE * SECONDS, Math.floor(((performance.now() - start) / 1000) * RATE));
      for (; sent < due; sent++) {
        const t0 = performance.now();
        expects[sent % CONNS]!(() => lat.push(performance.now() - t0));
        conns[sent % CONNS]!.write(REQ);
      }
      if (sent >= RATE * SECONDS) {
        clearInterval(tick);
        setTimeout(resolve, 300);
      }
    }, 1);
  });
  for (const c of conns) c.destroy();
  return `p50 ${pct(lat, 50).toFixed(3)}  p90 ${pct(lat, 90).toFixed(3)}  p99 ${pct(lat, 99).toFixed(3)} ms  (${lat.length}/${sent})`;
}

/** Closed loop over CONNS connections for SECONDS: requests per second. */
async function throughput(port: number): Promise<number> {
  const conns = await Promise.all(Array.from({ length: CONNS }, () => tcp(port)));
  const expects = conns.map(responses);
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    conns.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          const next = (): void => {
            if (performance.now() >= end) return resolve();
            expects[i]!(() => (done++, next()));
            c.write(REQ);
          };
          next();
        }),
    ),
  );
  for (const c of conns) c.destroy();
  return done / SECONDS;
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
  const proc = fork(__filename, ['--role', role, ...args.filter((a) => a === '--no-access-log')], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  proc.send(input as object);
  const [out] = (await once(proc, 'message')) as [T];
  return { proc, out };
}

interface Wire {
  readonly root: string;
  readonly certs: Array<[string, KeyCert]>;
  readonly podPort: number;
  readonly node?: Addr;
}

const trustOf = (w: Wire): Trust => ({ root: { pem: w.root }, certs: new Map(w.certs) });

/** A child process: starts its part, reports its address, runs until its parent disconnects. */
async function runRole(role: string): Promise<void> {
  const [w] = (await once(process, 'message')) as [Wire];
  const part = role === 'pod' ? await startPod() : role === 'dest' ? await startDest(trustOf(w), w.podPort) : await startSource(trustOf(w), w.node, w.podPort);
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

async function main(): Promise<void> {
  const trust = await pki([CLIENT_ID, SERVER_ID]);
  const wire = (podPort: number, node?: Addr): Wire => ({ root: trust.root.pem, certs: [...trust.certs], podPort, ...(node !== undefined ? { node } : {}) });
  const closers: Closer[] = [];
  const procs: ChildProcess[] = [];
  let podPort: number;
  let meshPort: number;
  const cases: Array<[string, () => Promise<number>]> = [];
  let streamsOpened: (() => number) | undefined;
  if (SPLIT) {
    const pod = await child<number>('pod', {});
    podPort = pod.out;
    const dest = await child<Addr>('dest', wire(podPort));
    const src = await child<number>('source', wire(podPort, dest.out));
    procs.push(src.proc, dest.proc, pod.proc);
    meshPort = src.out;
    process.stderr.write(`pids: pod ${pod.proc.pid}, destination ${dest.proc.pid}, source ${src.proc.pid}\n`);
  } else {
    const pod = await startPod();
    podPort = pod.port;
    const dest = await startDest(trust, podPort);
    streamsOpened = dest.streams;
    const plain = await startSource(trust, undefined, podPort);
    const meshed = await startSource(trust, dest.addr, podPort);
    const opener = pooledOpener(trust, dest.addr, podPort);
    closers.push(plain, meshed, opener, dest, pod);
    meshPort = meshed.port;
    cases.push(['source', oneAtATime(await tcp(plain.port))], ['dest', oneAtATime(await opener.open())]);
  }
  cases.unshift(['direct', oneAtATime(await tcp(podPort))]);
  cases.push(['mesh', oneAtATime(await tcp(meshPort))]);
  if (ONLY !== undefined) cases.splice(0, cases.length, ...cases.filter(([n]) => n === ONLY || n === 'direct'));
  const lat = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  for (let i = 0; i < 200; i++) for (const [, rt] of cases) await rt(); // warm
  const cpu0 = await cpuOf(procs);
  for (let i = 0; i < ROUNDS; i++) for (const [n, rt] of cases) lat.get(n)!.push(await rt());
  const cpu1 = await cpuOf(procs);
  const out = [`${SPLIT ? 'separate processes' : 'one process'}, access log ${ACCESS_LOG ? 'on' : 'off'}`, `one request at a time, ${ROUNDS} rounds (µs)`, 'case      p50     p90     p99'];
  for (const [n, xs] of lat) out.push(`${n.padEnd(8)} ${pct(xs, 50).toFixed(0).padStart(5)}  ${pct(xs, 90).toFixed(0).padStart(6)}  ${pct(xs, 99).toFixed(0).padStart(6)}`);
  const d = pct(lat.get('direct')!, 50);
  out.push(`added p50: ${[...lat].filter(([n]) => n !== 'direct').map(([n, xs]) => `${n} ${(pct(xs, 50) - d).toFixed(0)}`).join(', ')} µs`);
  if (SPLIT && ROUNDS > 0) out.push(`CPU per mesh request (µs): source ${((cpu1[0]! - cpu0[0]!) / ROUNDS).toFixed(0)}, destination ${((cpu1[1]! - cpu0[1]!) / ROUNDS).toFixed(0)}, pod (direct and mesh) ${((cpu1[2]! - cpu0[2]!) / ROUNDS / 2).toFixed(0)}`);
  process.stderr.write(`${out.join('\n')}\n`);
  if (RATE > 0) process.stderr.write(`${RATE} req/s over ${CONNS} connections for ${SECONDS} s:\n  direct ${await fixedRate(podPort)}\n  mesh   ${await fixedRate(meshPort)}\n`);
  if (SECONDS > 0) {
    const direct = await throughput(podPort);
    const mesh = await throughput(meshPort);
    process.stderr.write(`closed loop, ${CONNS} connections: direct ${direct.toFixed(0)} req/s, mesh ${mesh.toFixed(0)} req/s (${(mesh / direct).toFixed(2)}x)\n`);
  }
  // Pooled connections keep their streams: one per client connection, not one per request.
  if (streamsOpened !== undefined) process.stderr.write(`CONNECT streams opened: ${streamsOpened()}\n`);
  for (const c of closers) await c.close();
  for (const p of procs) p.disconnect();
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
