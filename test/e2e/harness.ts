// Root e2e harness: a mesh cgroup (agent/ and pods/ children), a bpffs pin dir, a ConfigMap-style
// config dir and a real agent process, all per test and all removed afterwards, even on failure.
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ensureBpffs, ensureCgroup2, makeCgroup, removeCgroup, rootSkipReason, runInCgroup, spawnInCgroup, stopChild } from '../helpers/sysenv';

export const REPO = path.resolve(__dirname, '../../..');
export const NODE = process.execPath;
/** The agent of the same build as this test (dist/, or another output directory). */
export const MAIN = path.resolve(__dirname, '../../src/main.js');

/** A root-only test: skipped with the reason off CI, failed on CI (CI=true) so it can never pass silently. */
export function rootTest(name: string, fn: (t: TestContext) => Promise<void>, timeoutMs = 60_000): void {
  const reason = rootSkipReason();
  if (reason && process.env.CI !== 'true') {
    test(name, { skip: reason }, () => {});
    return;
  }
  test(name, { timeout: timeoutMs }, async (t) => {
    if (reason) throw new Error(`root test cannot run on CI: ${reason}`);
    await fn(t);
  });
}

/**
 * N distinct free ports: all are held open until every one is chosen, so the kernel cannot hand the
 * same port out twice (ports taken one at a time and released in between can repeat).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

let seq = 0;

export interface MeshOptions {
  /** Config YAML (multi-document). */
  config: string;
  extraArgs?: string[];
  /** Environment variables added to the agent's (e.g. OTEL_EXPORTER_OTLP_ENDPOINT). */
  env?: Record<string, string>;
}

export class Mesh {
  readonly id = `nmtest-${process.pid}-${++seq}`;
  readonly root: string;
  readonly pods: string;
  readonly agentCg: string;
  readonly pin: string;
  readonly dir: string;
  readonly cfgDir: string;
  agent: ChildProcess | undefined;
  /** Every agent process this mesh started (a restart test runs two at once). */
  readonly agents: ChildProcess[] = [];
  logs = '';
  ports = { outbound: 0, metrics: 0, ready: 0, tunnel: 0 };
  private version = 0;
  /** The agent turns on tcp_migrate_req in its network namespace; the test puts the machine's back. */
  private readonly migrateReq = readSysctl(MIGRATE_REQ);

  constructor(private readonly opts: MeshOptions) {
    const cg2 = ensureCgroup2();
    ensureBpffs();
    this.root = path.join(cg2, this.id);
    this.pods = makeCgroup(path.join(this.root, 'pods'));
    this.agentCg = makeCgroup(path.join(this.root, 'agent'));
    this.pin = path.join('/sys/fs/bpf', this.id);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.id}-`));
    this.cfgDir = path.join(this.dir, 'config');
    fs.mkdirSync(this.cfgDir);
    this.writeConfig(opts.config);
  }

  /** Writes the config the way the kubelet updates a ConfigMap: new dir, then an atomic ..data swap. */
  writeConfig(yaml: string): void {
    const v = `..v${++this.version}`;
    fs.mkdirSync(path.join(this.cfgDir, v));
    fs.writeFileSync(path.join(this.cfgDir, v, 'mesh.yaml'), yaml);
    const tmp = path.join(this.cfgDir, '..data_tmp');
    fs.symlinkSync(v, tmp);
    fs.renameSync(tmp, path.join(this.cfgDir, '..data'));
    const link = path.join(this.cfgDir, 'mesh.yaml');
    if (!fs.existsSync(link)) fs.symlinkSync('..data/mesh.yaml', link);
  }

  /** Starts an agent and waits until this one (not an older one on the same ports) has started. */
  async start(): Promise<void> {
    if (!this.ports.outbound) {
      const [outbound, metrics, ready, tunnel] = (await freePorts(4)) as [number, number, number, number];
      this.ports = { outbound, metrics, ready, tunnel };
    }
    const args = [
      MAIN, 'agent', '--config', this.cfgDir, '--cgroup', this.root, '--bpffs', this.pin, '--node-ip', '127.0.0.1',
      '--outbound-port', String(this.ports.outbound), '--admin-host', '127.0.0.1',
      // A stopping agent waits this long for a successor before it closes its listener: short in tests.
      '--drain-timeout', '1s',
      '--metrics-port', String(this.ports.metrics), '--ready-port', String(this.ports.ready), '--tunnel-port', String(this.ports.tunnel),
      ...(this.opts.extraArgs ?? []),
    ];
    const child = spawnInCgroup(this.agentCg, NODE, args, { env: { ...process.env, NODE_ENV: 'production', NODEMESH_LOG_LEVEL: 'info', ...this.opts.env } });
    this.agent = child;
    this.agents.push(child);
    let own = '';
    child.stdout?.on('data', (d: Buffer) => ((this.logs += d.toString()), (own += d.toString())));
    child.stderr?.on('data', (d: Buffer) => ((this.logs += d.toString()), (own += d.toString())));
    await this.waitReady(child, () => own.includes('"agent started"'));
  }

  private async waitReady(child: ChildProcess, started: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}:\n${this.logs}`);
      if (!started()) {
        await sleep(50);
        continue;
      }
      try {
        const r = await fetch(`http://127.0.0.1:${this.ports.ready}/healthz/ready`);
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`agent not ready in ${timeoutMs} ms:\n${this.logs}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const a = this.agent;
    if (!a || a.exitCode !== null || a.signalCode !== null) return;
    const exited = new Promise<void>((r) => a.once('exit', () => r()));
    a.kill(signal);
    await exited;
  }

  async metrics(): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${this.ports.metrics}/metrics`);
    return r.text();
  }

  /** curl from inside the pods cgroup (so connect4 sees it). */
  curl(...args: string[]): Promise<string> {
    return runInCgroup(this.pods, 'curl', ['-sS', '--max-time', '10', ...args]);
  }

  cli(...args: string[]): string {
    return execFileSync(NODE, [MAIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.agents.map((a) => stopChild(a)));
    try {
      if (fs.existsSync(this.pin)) this.cli('uninstall', '--bpffs', this.pin, '--cgroup', this.root);
    } catch (e) {
      process.stderr.write(`cleanup: uninstall failed: ${String(e)}\n`);
      fs.rmSync(this.pin, { recursive: true, force: true });
    }
    removeCgroup(this.root);
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (this.migrateReq !== undefined && readSysctl(MIGRATE_REQ) !== this.migrateReq) fs.writeFileSync(MIGRATE_REQ, this.migrateReq);
  }
}

const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';
function readSysctl(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sum of a metric's samples whose labels include every given label=value. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
