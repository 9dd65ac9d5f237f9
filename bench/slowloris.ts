// What slow clients cost a neighbour (issue 10): an agent (--no-capture, access log off) proxies one
// HTTP service to an nginx backend; wrk measures a neighbour's closed-loop load through it, alone and
// while BENCH_SLOW_CONNS connections to the same service send a request head one byte every
// BENCH_SLOW_EVERY_MS, spread over BENCH_SLOW_SLICE_MS slices (a connection cut off by the header
// timeout, BENCH_HEADER_TIMEOUT, is opened again, as an attacker would). The two alternate for
// BENCH_ROUNDS rounds, so a noisy machine shows as spread rather than as a difference; medians are
// compared. Goal: the neighbour's p99 within 10% of its baseline. Bounded (about 45 s at the
// defaults); everything started is stopped by pid. Writes bench/results/slowloris.json.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { envInt, errText, reportBench, runMain, say, settle, startBackendNginx } from './harness';
import { freePorts, readCpuMs, runWrk, startProcess, waitReady } from './procs';
import { parseWrk, type WrkResult } from './wrk';

const VIP = '127.201.0.1';
const PORT = 80;

interface Settings {
  readonly slowConns: number;
  readonly everyMs: number;
  readonly sliceMs: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly connections: number;
  readonly headerTimeout: string;
  readonly out: string;
}

function readSettings(): Settings {
  return {
    slowConns: envInt('BENCH_SLOW_CONNS', 3000, 1, 15_000),
    everyMs: envInt('BENCH_SLOW_EVERY_MS', 2000, 10, 60_000),
    sliceMs: envInt('BENCH_SLOW_SLICE_MS', 20, 1, 1000),
    seconds: envInt('BENCH_SECONDS', 5, 1, 30),
    rounds: envInt('BENCH_ROUNDS', 3, 1, 10),
    connections: envInt('BENCH_CONNECTIONS', 32, 1, 1024),
    headerTimeout: process.env.BENCH_HEADER_TIMEOUT ?? '10s',
    out: path.resolve(process.env.BENCH_OUT ?? 'bench/results/slowloris.json'),
  };
}

function configYaml(backendPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: slow, namespace: bench }
spec:
  hosts: [slow.bench.svc.cluster.local]
  addresses: [${VIP}]
  ports: [{ number: ${PORT}, name: http, protocol: HTTP, targetPort: ${backendPort} }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`;
}

/** The head a slow client sends after its request line, one byte per tick, round and round. */
const DRIP = Buffer.from('X-Slow: aaaaaaaaaaaaaaaa\r\n', 'latin1');

/** N connections that never finish their request head; reopened when the agent closes them. */
class SlowClients {
  private readonly open = new Set<net.Socket>();
  /** Connection k gets its bytes in slice k % slices; a reopened connection takes its slot. */
  private readonly slots: (net.Socket | undefined)[] = [];
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private pos = 0;
  private turn = 0;
  private startedAt = 0;
  opened = 0;
  cutOff = 0;
  /** Bytes written by the drip (one a write). */
  written = 0;
  answers = new Map<string, number>();

  constructor(private readonly n: number, private readonly everyMs: number, private readonly sliceMs: number) {}

  async start(): Promise<void> {
    // Opened in batches, so the ramp is a burst of connects rather than one accept queue overflow.
    for (let i = 0; i < this.n; i += 250) {
      for (let k = i; k < Math.min(this.n, i + 250); k++) this.connect(k);
      await settle(50);
    }
    // Spread over the period in slices (20 ms: 30 writes each at the defaults), as independent attackers
    // would be: one burst of N writes would measure the burst, not what a slow connection costs. Finer
    // slices spread more but cost this process more wakeups beside the agent. Slices follow the clock,
    // so a late timer on a busy machine does not slow the drip.
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.drip(), this.sliceMs);
  }

  size(): number {
    return this.open.size;
  }

  private connect(slot: number): void {
    if (this.stopped) return;
    const s = net.connect({ host: VIP, port: PORT });
    this.opened++;
    s.setNoDelay(true);
    s.on('connect', () => {
      this.open.add(s);
      this.slots[slot] = s;
      s.write('GET / HTTP/1.1\r\nHost: slow\r\n');
    });
    s.on('data', (d: Buffer) => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1] ?? 'other';
      this.answers.set(status, (this.answers.get(status) ?? 0) + 1);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (!this.open.delete(s) || this.stopped) return;
      this.cutOff++;
      this.connect(slot);
    });
  }

  /** The slices due by now get their next byte (each connection one byte per everyMs). */
  private drip(): void {
    const slices = Math.max(1, Math.round(this.everyMs / this.sliceMs));
    const due = Math.floor((performance.now() - this.startedAt) / this.sliceMs);
    for (; this.turn < due; this.turn++) {
      const slice = this.turn % slices;
      if (slice === 0) this.pos = (this.pos + 1) % DRIP.length;
      const b = DRIP.subarray(this.pos, this.pos + 1);
      for (let k = slice; k < this.slots.length; k += slices) {
        const s = this.slots[k];
        if (s !== undefined && s.writable) {
          s.write(b);
          this.written++;
        }
      }
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.slots.length = 0;
  }
}

interface Phase {
  readonly name: string;
  readonly result?: WrkResult;
  readonly agentCpuMs?: number;
  readonly slowOpen?: number;
  /** This process's CPU meanwhile (the slow clients' writes share the machine with the agent). */
  readonly clientCpuMs?: number;
  readonly error?: string;
}

async function measure(s: Settings, dir: string, report: Record<string, unknown>): Promise<void> {
  const [backendPort, metrics, ready, tunnel] = (await freePorts(4)) as [number, number, number, number];
  await startBackendNginx(dir, backendPort);
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), configYaml(backendPort));
  const main = path.resolve(__dirname, '../src/main.js');
  const agent = startProcess('agent', process.execPath, ['--max-semi-space-size=16', main, 'agent', '--no-capture', '--no-kubernetes',
    '--config', path.join(dir, 'mesh.yaml'), '--admin-host', '127.0.0.1', '--metrics-port', String(metrics), '--ready-port', String(ready),
    '--tunnel-port', String(tunnel), '--access-log', 'off', '--header-timeout', s.headerTimeout]);
  await waitReady(agent, `http://127.0.0.1:${ready}/healthz/ready`, 20_000);
  const url = `http://${VIP}:${PORT}/`;
  const pid = agent.child.pid;
  const phases: Phase[] = [];
  report.phases = phases;
  const run = async (name: string, slow?: SlowClients): Promise<void> => {
    const cpu0 = readCpuMs(pid);
    const own0 = process.cpuUsage();
    try {
      const result = parseWrk(await runWrk({ url, seconds: s.seconds, connections: s.connections, threads: 1 }));
      const cpu1 = readCpuMs(pid);
      const own = process.cpuUsage(own0);
      phases.push({
        name, result, ...(cpu0 !== undefined && cpu1 !== undefined && { agentCpuMs: cpu1 - cpu0 }),
        clientCpuMs: Math.round((own.user + own.system) / 1000), ...(slow && { slowOpen: slow.size() }),
      });
    } catch (e) {
      phases.push({ name, error: errText(e) });
    }
    const last = phases[phases.length - 1]!;
    say(`${name}: ${last.result ? `${Math.round(last.result.rps)} req/s, p99 ${last.result.p99Ms} ms` : last.error}`);
  };

  // The agent's own CPU without any load, then with the slow connections only: what they cost at rest
  // (less noisy than latency on a shared machine).
  const cpuPerSec = async (ms: number): Promise<number | undefined> => {
    const c0 = readCpuMs(pid);
    await settle(ms);
    const c1 = readCpuMs(pid);
    return c0 === undefined || c1 === undefined ? undefined : Math.round(((c1 - c0) * 1000) / ms);
  };
  const idleCpu = await cpuPerSec(3000);
  const rest = new SlowClients(s.slowConns, s.everyMs, s.sliceMs);
  await rest.start();
  await settle(1000);
  const own0 = process.cpuUsage();
  const written0 = rest.written;
  const slowCpu = await cpuPerSec(4000);
  const own = process.cpuUsage(own0);
  const clientCpu = Math.round((own.user + own.system) / 4000);
  const writesPerSec = Math.round((rest.written - written0) / 4);
  report.agentCpuAtRest = {
    idleMsPerSec: idleCpu, withSlowMsPerSec: slowCpu, clientMsPerSec: clientCpu, writesPerSec, slowOpen: rest.size(), cutOff: rest.cutOff,
  };
  rest.stop();
  say(`agent CPU at rest: ${idleCpu} ms/s idle, ${slowCpu} ms/s with ${s.slowConns} slow connections (${writesPerSec} bytes/s; their client: ${clientCpu} ms/s)`);
  await settle(500);

  await runWrk({ url, seconds: 1, connections: s.connections, threads: 1 }).catch(() => '');
  const totals = { opened: 0, cutOff: 0, answers: {} as Record<string, number> };
  for (let r = 1; r <= s.rounds; r++) {
    await run(`round ${r}: baseline`);
    const slow = new SlowClients(s.slowConns, s.everyMs, s.sliceMs);
    await slow.start();
    await settle(1000);
    say(`round ${r}: ${slow.size()} slow connections open (a byte every ${s.everyMs} ms)`);
    await run(`round ${r}: with ${s.slowConns} slow connections`, slow);
    slow.stop();
    totals.opened += slow.opened;
    totals.cutOff += slow.cutOff;
    for (const [k, v] of slow.answers) totals.answers[k] = (totals.answers[k] ?? 0) + v;
    await settle(500);
  }
  report.slow = totals;
  const pick = (loaded: boolean): WrkResult[] => phases.filter((p) => p.name.includes('with') === loaded && p.result).map((p) => p.result!);
  const base = pick(false);
  const loaded = pick(true);
  if (base.length > 0 && loaded.length > 0) {
    const summary = (rs: WrkResult[]) => ({ p99Ms: median(rs.map((x) => x.p99Ms)), rps: Math.round(median(rs.map((x) => x.rps))) });
    const b = summary(base);
    const l = summary(loaded);
    report.median = { baseline: b, withSlow: l };
    report.p99Ratio = Math.round((l.p99Ms / b.p99Ms) * 100) / 100;
    report.rpsRatio = Math.round((l.rps / b.rps) * 100) / 100;
    report.goalMet = l.p99Ms <= b.p99Ms * 1.1;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<number> {
  const s = readSettings();
  const report: Record<string, unknown> = { settings: { ...s, out: undefined } };
  return reportBench(s.out, 120, report, (dir) => measure(s, dir, report));
}

if (require.main === module) runMain(main);
