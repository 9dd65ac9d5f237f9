// A local multi-node cluster made of network namespaces, for e2e tests and the demo. One fabric namespace
// holds a bridge; every node is a namespace on that bridge (the node IP), every pod a namespace behind its
// node, routed through it. Nothing is attached to the host namespace, so no packet can leave the machine.
// Everything is named `nm<id>-…` (namespaces) or `<cg2>/nm<id>` (cgroups), where the id encodes the
// creating pid, so `Cluster.sweep()` can tell leftovers of dead runs from clusters still in use.
//
// Processes enter a namespace with `nsenter --net`, not `ip netns exec`: the latter also remounts /sys for
// the namespace, which hides the bpffs at /sys/fs/bpf and a cgroup2 mounted below /sys (here
// /sys/fs/cgroup/unified), so an agent could neither pin its maps nor open its cgroup, and a pod process
// could not even join its cgroup. Only the network namespace changes; the mounts stay the host's.
// The layout (names, addresses, `ip` commands) is cluster-layout.ts; running processes, cluster-exec.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collect, ip, mustRun, running, stdioFor, stop, type ExecOptions, type ExecResult } from './cluster-exec';
import { fabricBatch, gateway, layoutNodes, nodeBatch, podBatch, subnetOf, type ClusterNode, type Pod } from './cluster-layout';
import { ensureCgroup2, makeCgroup, removeCgroup, spawnInCgroup, type KubeletLayout } from './sysenv';

export { AGENT_SOURCE_IP, type ClusterNode, type Pod } from './cluster-layout';
export type { ExecOptions, ExecResult } from './cluster-exec';
export type { KubeletLayout, QosClass } from './sysenv';

export interface ClusterOptions {
  nodes: number;
  podsPerNode: number;
  /** A label (`[a-z]+`, e.g. `demo`) that a unique `<label><seq>p<pid>` id is built from, or such an id. */
  id?: string;
  /** Prove pod↔pod and pod↔node reachability before returning (default true). */
  selfTest?: boolean;
  /**
   * Pod cgroups as a kubelet with that cgroup driver lays them out below each node's podCgroupRoot
   * (sysenv's kubeletPodCgroup), processes in a container cgroup. Default: the flat `pods/p<j>` layout.
   */
  kubeletLayout?: KubeletLayout;
}

const LABEL_RE = /^[a-z]{1,12}$/;
const ID_RE = /^[a-z]{1,12}\d+p(\d+)$/;
const NS_RE = /^nm([a-z]{1,12}\d+p(\d+))-(?:fab|n\d+(?:-p\d+)?)$/;
const CG_RE = /^nm([a-z]{1,12}\d+p(\d+))$/;

let seq = 0;
const live = new Set<Cluster>();
// Last resort for a test that threw without destroying its cluster: synchronous teardown at exit.
process.once('exit', () => {
  for (const c of live) c.teardownSync();
});

/** `nsenter` arguments that run `cmd args` in a named network namespace, changing nothing else. */
export const nsenterArgs = (ns: string, cmd: string, args: readonly string[]): string[] => [`--net=/run/netns/${ns}`, '--', cmd, ...args];

export class Cluster {
  readonly nodes: readonly ClusterNode[];
  /** Second octet of every address in the cluster (10.<subnet>.x.y). */
  readonly subnet: number;
  readonly fabricNs: string;
  readonly cgroupRoot: string;
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly id: string,
    nodeCount: number,
    podsPerNode: number,
    layout?: KubeletLayout,
  ) {
    this.subnet = subnetOf(id);
    this.fabricNs = `nm${id}-fab`;
    this.cgroupRoot = path.join(ensureCgroup2(), `nm${id}`);
    this.nodes = layoutNodes(id, this.cgroupRoot, this.subnet, nodeCount, podsPerNode, layout);
  }

  static async create(opts: ClusterOptions): Promise<Cluster> {
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 254) throw new Error(`nodes must be 1..254, got ${opts.nodes}`);
    if (!Number.isInteger(opts.podsPerNode) || opts.podsPerNode < 0 || opts.podsPerNode > 253) {
      throw new Error(`podsPerNode must be 0..253, got ${opts.podsPerNode}`);
    }
    Cluster.sweep();
    const c = new Cluster(clusterId(opts.id), opts.nodes, opts.podsPerNode, opts.kubeletLayout);
    live.add(c);
    try {
      await c.build();
      if (opts.selfTest ?? true) await c.selfTest();
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  /** All pods, node by node. */
  get pods(): Pod[] {
    return this.nodes.flatMap((n) => n.pods);
  }

  pod(name: string): Pod {
    const p = this.pods.find((x) => x.name === name);
    if (!p) throw new Error(`no pod ${name} in cluster ${this.id}`);
    return p;
  }

  /** Runs a command to completion inside the pod's network namespace and cgroup. */
  exec(pod: Pod, cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const child = spawnInCgroup(pod.cgroup, 'nsenter', nsenterArgs(pod.ns, cmd, args), stdioFor(opts));
    return collect(this.track(child), opts);
  }

  /**
   * A long-running process: in a pod (its netns and cgroup) or on a node (the node netns and the agent
   * cgroup, where the agent must be so its own connections are not redirected). Killed at destroy().
   */
  spawn(target: Pod | ClusterNode, cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const cg = 'agentCgroup' in target ? target.agentCgroup : target.cgroup;
    return this.track(spawnInCgroup(cg, 'nsenter', nsenterArgs(target.ns, cmd, args), opts.env ? { env: opts.env } : {}));
  }

  /** Runs a command in the node's network namespace but in the caller's cgroup: a client the mesh does not capture. */
  outside(node: ClusterNode, cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const child = spawn('nsenter', nsenterArgs(node.ns, cmd, args), stdioFor(opts));
    return collect(this.track(child), opts);
  }

  /** Stops tracked processes (SIGTERM, then SIGKILL), deletes the namespaces and cgroups. Idempotent. */
  async destroy(): Promise<void> {
    await Promise.all([...this.children].map((c) => stop(c, 2000)));
    this.teardownSync();
  }

  /** Synchronous part of destroy(), also run at process exit: by pid, by name, nothing else. */
  teardownSync(): void {
    for (const c of this.children) if (running(c)) c.kill('SIGKILL');
    killCgroupProcesses(this.cgroupRoot);
    deleteNamespaces(listNamespaces().filter((n) => n.startsWith(`nm${this.id}-`)));
    removeCgroup(this.cgroupRoot);
    live.delete(this);
  }

  /**
   * Removes namespaces and cgroups of clusters whose creating process is gone, and kills processes left
   * in those cgroups (started by that dead run). Returns the ids it cleaned.
   */
  static sweep(): string[] {
    const dead = new Set<string>();
    const isDead = (re: RegExp, name: string): boolean => {
      const m = re.exec(name);
      if (m === null || pidAlive(Number(m[2]))) return false;
      dead.add(m[1]!);
      return true;
    };
    const stale = listNamespaces().filter((n) => isDead(NS_RE, n));
    const cg2 = ensureCgroup2();
    const cgroups = fs.readdirSync(cg2, { withFileTypes: true }).filter((e) => e.isDirectory() && isDead(CG_RE, e.name));
    // Processes first: a namespace lives on while a process is in it, a populated cgroup cannot be removed.
    // Another process may sweep the same leftovers concurrently, so a vanished entry is not an error.
    for (const e of cgroups) killCgroupProcesses(path.join(cg2, e.name));
    deleteNamespaces(stale);
    for (const e of cgroups) if (fs.existsSync(path.join(cg2, e.name))) removeCgroup(path.join(cg2, e.name));
    return [...dead];
  }

  private track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  /** Three rounds of batched `ip`, each round in parallel: namespaces; node links; fabric, pods, sysctls. */
  private async build(): Promise<void> {
    await ip([], [this.fabricNs, ...this.nodes.flatMap((n) => [n.ns, ...n.pods.map((p) => p.ns)])].map((ns) => `netns add ${ns}`));
    for (const n of this.nodes) {
      makeCgroup(n.agentCgroup);
      makeCgroup(n.podCgroupRoot);
      for (const p of n.pods) makeCgroup(p.cgroup);
    }
    await Promise.all(this.nodes.map((n) => ip(['-n', n.ns], nodeBatch(n, this.nodes, this.subnet, this.fabricNs))));
    await Promise.all([
      ip(['-n', this.fabricNs], fabricBatch(this.nodes)),
      ...this.nodes.flatMap((n) => n.pods.map((p) => ip(['-n', p.ns], podBatch(p, gateway(n, this.subnet))))),
      // Forwarding only inside the node namespace: it routes between its pods and the fabric.
      ...this.nodes.map((n) => mustRun('nsenter', nsenterArgs(n.ns, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']))),
    ]);
  }

  /** From the first pod of every node: a TCP connect to every other pod and every node IP must be refused (RST = reachable). */
  private async selfTest(): Promise<void> {
    const targets = [...this.pods.map((p) => p.ip), ...this.nodes.map((n) => n.ip)];
    const probe = `const net=require('net');const ts=JSON.parse(process.argv[1]);
Promise.all(ts.map((t)=>new Promise((r)=>{const s=net.connect({host:t,port:9});
const tm=setTimeout(()=>{s.destroy();r(t+': timeout');},2000);
s.on('connect',()=>{clearTimeout(tm);s.destroy();r('');});
s.on('error',(e)=>{clearTimeout(tm);r(e.code==='ECONNREFUSED'?'':t+': '+e.code);});}))).then((x)=>{
const bad=x.filter(Boolean);if(bad.length){console.error(bad.join(', '));process.exitCode=1;}});`;
    const results = await Promise.all(
      this.nodes.filter((n) => n.pods.length > 0).map(async (n) => {
        const from = n.pods[0]!;
        const r = await this.exec(from, process.execPath, ['-e', probe, '--', JSON.stringify(targets.filter((t) => t !== from.ip))], { timeoutMs: 10_000 });
        return r.code === 0 ? '' : `from ${from.name}: ${r.stderr.trim() || `exit ${r.code}${r.timedOut ? ' (timeout)' : ''}`}`;
      }),
    );
    const bad = results.filter(Boolean);
    if (bad.length > 0) throw new Error(`cluster ${this.id} self-test failed: ${bad.join('; ')}`);
  }
}

function clusterId(requested: string | undefined): string {
  if (requested !== undefined && ID_RE.test(requested)) return requested;
  const label = requested ?? 'c';
  if (!LABEL_RE.test(label)) throw new Error(`cluster id must be [a-z]{1,12} or <label><seq>p<pid>, got "${label}"`);
  return `${label}${++seq}p${process.pid}`;
}

/** SIGKILLs, by pid, every process in a cgroup tree of ours (descendants our processes forked). */
function killCgroupProcesses(dir: string): void {
  const pids = (d: string): number[] => {
    try {
      const own = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      const subs = fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory());
      return [...own, ...subs.flatMap((e) => pids(path.join(d, e.name)))];
    } catch {
      return []; // removed meanwhile (or never made)
    }
  };
  const found = pids(dir);
  for (const pid of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // A killed process leaves its cgroup only once it has exited; rmdir before that fails with EBUSY.
  const deadline = Date.now() + 2000;
  while (found.length > 0 && pids(dir).length > 0 && Date.now() < deadline) execFileSync('sleep', ['0.02']);
}

function listNamespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

/** Deleting a namespace also destroys the veths in it, and with them their peers. */
function deleteNamespaces(names: readonly string[]): void {
  if (names.length === 0) return;
  try {
    execFileSync('ip', ['-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}\n`).join(''), stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (e) {
    process.stderr.write(`warning: deleting namespaces ${names.join(' ')}: ${String(e)}\n`);
  }
}

/** Whether a process of this pid namespace is alive (EPERM: alive, not ours). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
