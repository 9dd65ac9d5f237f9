// A mesh on the namespace cluster that discovers everything from a Kubernetes API (the test suite's
// stand-in, reached from the nodes through a bridge on node-0): pods in kubelet's cgroup layout, the CA
// on node-0 with --kubeconfig, an agent per node with --kubeconfig and no topology in its ConfigMap.
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, type ClusterNode } from '../helpers/cluster';
import { KubeApiServer, type KubeObject } from '../helpers/kubeapi';
import { bridgeToNode, type Bridge } from '../helpers/netbridge';
import { stopChild } from '../helpers/sysenv';
import { MAIN, NODE } from './harness';
import { NetBase } from './netbase';

export const API_PORT = 6443;

export class KubeNet extends NetBase {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-kubenet-'));
  readonly cfgDir = path.join(this.dir, 'config');
  readonly caDir = path.join(this.dir, 'ca');
  readonly kubeconfig = path.join(this.dir, 'kubeconfig');
  readonly agents = new Map<string, ChildProcess>();
  private bridge: Bridge | undefined;
  private ca: ChildProcess | undefined;

  private constructor(
    c: Cluster,
    readonly api: KubeApiServer,
  ) {
    super(c);
    fs.mkdirSync(this.cfgDir);
    // The ConfigMap carries no topology: everything comes from the API.
    fs.writeFileSync(path.join(this.cfgDir, 'mesh.yaml'), '# nothing here: services, pods and nodes come from the Kubernetes API\n');
  }

  /** More agent flags (e.g. --cert-ttl), for every agent this mesh starts. */
  private agentArgs: readonly string[] = [];

  /**
   * `config`: ConfigMap YAML next to what the API serves (nodemesh kinds such as LocalRateLimit and
   * HealthCheck come only from there); `agentArgs`: more flags for every agent.
   */
  static async start(opts: { nodes: number; podsPerNode: number; objects: (c: Cluster) => KubeObject[]; config?: string; agentArgs?: readonly string[] }): Promise<KubeNet> {
    const c = await Cluster.create({ nodes: opts.nodes, podsPerNode: opts.podsPerNode, kubeletLayout: 'systemd' });
    const api = await KubeApiServer.start({ bookmarkMs: 500 });
    const k = new KubeNet(c, api);
    k.agentArgs = opts.agentArgs ?? [];
    if (opts.config !== undefined) fs.writeFileSync(path.join(k.cfgDir, 'mesh.yaml'), opts.config);
    try {
      api.applyMany(opts.objects(c));
      const n0 = c.nodes[0]!;
      k.bridge = await bridgeToNode(c, n0, api.port, API_PORT, k.dir);
      k.writeKubeconfig();
      const tokens: Record<string, string> = {};
      c.nodes.forEach((n, i) => {
        tokens[n.name] = `token-${i}-${process.pid}`;
        fs.writeFileSync(path.join(k.dir, `${n.name}.token`), tokens[n.name]!);
      });
      fs.writeFileSync(path.join(k.dir, 'tokens.json'), JSON.stringify(tokens));
      k.ca = k.track(c.spawn(n0, NODE, [MAIN, 'ca', '--listen', `${n0.ip}:15012`, '--dir', k.caDir, '--node-tokens', path.join(k.dir, 'tokens.json'), '--kubeconfig', k.kubeconfig], { env: k.env() }), 'ca');
      await k.until(() => fs.existsSync(path.join(k.caDir, 'root-cert.pem')), 'CA root written', 20_000);
      for (const n of c.nodes) k.startAgent(n);
      for (const n of c.nodes) await k.waitReady(n);
      return k;
    } catch (e) {
      await k.close();
      throw e;
    }
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, NODE_ENV: 'production', NODEMESH_LOG_LEVEL: 'info', KUBECONFIG: '' };
  }

  /** The stand-in as seen from the nodes: through the bridge on node-0. */
  private writeKubeconfig(): void {
    const cfg = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: this.bridge!.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: this.api.token } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    };
    fs.writeFileSync(this.kubeconfig, JSON.stringify(cfg), { mode: 0o600 });
  }

  pin(n: ClusterNode): string {
    return `/sys/fs/bpf/${this.c.id}-k${n.index}`;
  }

  startAgent(n: ClusterNode): ChildProcess {
    const n0 = this.c.nodes[0]!;
    const args = [
      MAIN, 'agent', '--kubeconfig', this.kubeconfig, '--config', this.cfgDir, '--cgroup', n.podCgroupRoot, '--bpffs', this.pin(n),
      '--node', n.name, '--node-ip', n.ip, '--admin-host', n.ip, '--ca', `${n0.ip}:15012`,
      '--ca-root', path.join(this.caDir, 'root-cert.pem'), '--node-token', path.join(this.dir, `${n.name}.token`),
      // No next agent ever comes here: a short hand-over wait keeps a stop within the cluster's SIGTERM grace.
      '--drain-timeout', '1s',
      ...this.agentArgs,
    ];
    const a = this.track(this.c.spawn(n, NODE, args, { env: this.env() }), n.name);
    this.agents.set(n.name, a);
    return a;
  }

  /**
   * Waits for the node's agent to be ready: by default 30 s, stretched on a loaded machine (load average
   * per CPU, up to 4 times). Fails at once when the agent exits. The error's first line says what
   * happened: the node, the wait and the agent's last answer, or its exit and last log line; the whole
   * log of the CA and the agents so far follows.
   */
  async waitReady(n: ClusterNode, timeoutMs = 30_000 * Math.min(4, Math.max(1, (os.loadavg()[0] ?? 0) / os.availableParallelism()))): Promise<void> {
    const agent = this.agents.get(n.name);
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const exit = agent?.exitCode ?? agent?.signalCode ?? null;
      if (exit !== null) {
        await new Promise((r) => setTimeout(r, 200)); // the last lines of its output
        const said = this.logs.filter((l) => l.startsWith(`${n.name}: `)).at(-1)?.slice(n.name.length + 2, n.name.length + 302) ?? 'nothing';
        throw new Error(`${n.name} agent exited (${exit}) before it was ready; its last line: ${said}\n${this.logs.join('\n')}`);
      }
      last = (await this.http(n, `http://${n.ip}:15021/healthz/ready`).catch(() => '')).trim();
      if (last.startsWith('ready')) return;
      if (Date.now() >= deadline) {
        const secs = timeoutMs >= 10_000 ? Math.round(timeoutMs / 1000) : (timeoutMs / 1000).toFixed(1);
        throw new Error(`timed out after ${secs} s waiting for ${n.name} agent ready (its readiness said: ${last.slice(0, 200) || 'nothing, not listening'})\n${this.logs.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => stopChild(a)));
    if (this.ca) await stopChild(this.ca);
    for (const n of this.c.nodes) {
      const pin = this.pin(n);
      if (!fs.existsSync(pin)) continue;
      try {
        execFileSync(NODE, [MAIN, 'uninstall', '--bpffs', pin], { stdio: 'ignore' });
      } catch {
        fs.rmSync(pin, { recursive: true, force: true });
      }
    }
    await this.bridge?.close();
    await this.api.stop();
    await this.c.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
