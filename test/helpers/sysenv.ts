// Host plumbing for root tests, the demo and the bench: a cgroup2 mount, bpffs, per-run cgroups and
// processes started inside a cgroup. Everything made here is registered for cleanup by id.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** Why a root test cannot run here, or undefined when it can. On CI (CI=true) callers must fail instead. */
export function rootSkipReason(): string | undefined {
  if (!isRoot()) return 'needs root (netns, cgroup2, bpf)';
  return undefined;
}

function mounts(): string[][] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').trim().split('\n').map((l) => l.split(' '));
}

/** A cgroup2 mount point: an existing one, or one mounted at /run/nodemesh-cgroup2. */
export function ensureCgroup2(): string {
  const found = mounts().find((m) => m[2] === 'cgroup2');
  if (found?.[1]) return found[1];
  const dir = '/run/nodemesh-cgroup2';
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'cgroup2', 'none', dir]);
  return dir;
}

/** bpffs at /sys/fs/bpf (mounted when missing). */
export function ensureBpffs(): string {
  const dir = '/sys/fs/bpf';
  if (!mounts().some((m) => m[2] === 'bpf' && m[1] === dir)) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
  }
  return dir;
}

/** Creates a cgroup directory (and parents) under the cgroup2 mount. */
export function makeCgroup(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';
export type KubeletLayout = 'systemd' | 'cgroupfs';

/**
 * A pod's cgroup (relative to the kubepods parent) and its container's, as the kubelet makes them:
 *   systemd:  kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid, - as _>.slice/cri-containerd-<id>.scope
 *             (Guaranteed: kubepods.slice/kubepods-pod<uid_>.slice/…)
 *   cgroupfs: kubepods/<qos>/pod<uid>/<id> (Guaranteed: kubepods/pod<uid>/<id>)
 */
export function kubeletPodCgroup(layout: KubeletLayout, uid: string, qos: QosClass, containerId: string): { pod: string; container: string } {
  const q = qos.toLowerCase();
  if (layout === 'systemd') {
    const u = uid.replace(/-/g, '_');
    const pod = qos === 'Guaranteed' ? `kubepods.slice/kubepods-pod${u}.slice` : `kubepods.slice/kubepods-${q}.slice/kubepods-${q}-pod${u}.slice`;
    return { pod, container: `${pod}/cri-containerd-${containerId}.scope` };
  }
  const pod = qos === 'Guaranteed' ? `kubepods/pod${uid}` : `kubepods/${q}/pod${uid}`;
  return { pod, container: `${pod}/${containerId}` };
}

/** Removes a cgroup tree bottom-up after moving any leftover processes to the root. */
export function removeCgroup(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) removeCgroup(path.join(dir, e.name));
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // Still populated by a dying process: retry shortly, then give up loudly.
    try {
      execFileSync('sleep', ['0.2']);
      fs.rmdirSync(dir);
    } catch (e) {
      process.stderr.write(`warning: could not remove cgroup ${dir}: ${String(e)}\n`);
    }
  }
}

/**
 * Spawns `cmd` inside cgroup `cgDir` (and optionally network namespace `netns`): a shell writes its own
 * pid into cgroup.procs and then execs, so the process never runs outside the cgroup.
 */
export function spawnInCgroup(
  cgDir: string,
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions & { netns?: string } = {},
): ChildProcess {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = `echo $$ > '${path.join(cgDir, 'cgroup.procs')}' && exec ${quoted}`;
  // nsenter, not `ip netns exec`: the latter remounts /sys, hiding the cgroup2 and bpffs mounts.
  const argv = opts.netns ? [`--net=/run/netns/${opts.netns}`, 'sh', '-c', script] : ['-c', script];
  const bin = opts.netns ? 'nsenter' : 'sh';
  return spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Runs a command inside a cgroup to completion and returns stdout (throws on non-zero exit). */
export function runInCgroup(cgDir: string, cmd: string, args: readonly string[], netns?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnInCgroup(cgDir, cmd, args, netns ? { netns } : {});
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

/** Sends SIGTERM (then SIGKILL after graceMs) to a child we started, by pid, and waits for its exit. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(t);
}
