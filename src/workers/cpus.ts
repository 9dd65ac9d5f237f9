// How many CPUs the agent may use: the least of the cgroup v2 CPU quota (cpu.max of the agent's own
// cgroup and of every ancestor up to the cgroup2 mount), the cgroup's cpuset (cpuset.cpus.effective)
// and what Node reports (os.availableParallelism, which follows sched_getaffinity); and, so that a
// node with many cores and no CPU limit does not start more workers than the memory limit holds, half
// of the least memory.max at WORKER_MEMORY_BYTES per worker. At least 1.
// Parsers are pure; readAllowedCpus is the thin reader over /proc and the cgroup2 mount.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** cpu.max ("max 100000" or "<quota> <period>") as whole CPUs, rounded down, at least 1; Infinity = no quota. */
export function parseCpuMax(text: string): number {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || quota === '') return Infinity;
  const q = Number(quota);
  const p = period === undefined ? 100_000 : Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return Infinity;
  return Math.max(1, Math.floor(q / p));
}

/** A cpuset list ("0-3,8,10-11") as the number of CPUs in it; undefined when empty or malformed. */
export function parseCpuList(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  let n = 0;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    n += hi - lo + 1;
  }
  return n;
}

/** The cgroup v2 path of /proc/self/cgroup (the "0::<path>" line); undefined on a v1-only host. */
export function parseSelfCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  return undefined;
}

export interface CgroupMount {
  /** The cgroup path the mount shows at its mount point (usually "/"; a parent's path without a cgroup namespace). */
  readonly root: string;
  readonly mountPoint: string;
}

/** The first cgroup2 mount of /proc/self/mountinfo; octal escapes (\040) decoded. */
export function parseCgroup2Mount(mountinfo: string): CgroupMount | undefined {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup2') continue;
    const f = line.slice(0, sep).split(' ');
    if (f.length < 5) continue;
    return { root: unescape(f[3]), mountPoint: unescape(f[4]) };
  }
  return undefined;
}

/**
 * The directories to read cpu.max from, own cgroup first, then each ancestor up to the mount point.
 * Undefined when the cgroup is not under the mount's root (the mount shows some other part of the tree).
 */
export function cgroupDirs(cgroup: string, mount: CgroupMount): string[] | undefined {
  const root = mount.root === '/' ? '' : mount.root.replace(/\/$/, '');
  const cg = cgroup === '/' ? '' : cgroup.replace(/\/$/, '');
  if (root !== '' && cg !== root && !cg.startsWith(root + '/')) return undefined;
  const rel = cg.slice(root.length).split('/').filter((s) => s !== '');
  const dirs: string[] = [];
  for (let i = rel.length; i >= 0; i--) dirs.push(path.posix.join(mount.mountPoint, ...rel.slice(0, i)));
  return dirs;
}

/** What one busy worker may take (its isolate, connection buffers, pools): the memory bound's unit. */
export const WORKER_MEMORY_BYTES = 64 * 1024 * 1024;

/** memory.max ("max" or bytes) as the workers half of it holds; Infinity = no limit. */
export function parseMemoryMax(text: string): number {
  const t = text.trim();
  if (t === '' || t === 'max') return Infinity;
  const bytes = Number(t);
  if (!Number.isFinite(bytes) || bytes <= 0) return Infinity;
  return Math.max(1, Math.floor(bytes / 2 / WORKER_MEMORY_BYTES));
}

export interface CpuInputs {
  /** cpu.max texts, own cgroup and ancestors (absent files left out). */
  readonly cpuMax: readonly string[];
  /** memory.max texts, own cgroup and ancestors (absent files left out). */
  readonly memoryMax?: readonly string[];
  /** cpuset.cpus.effective of the own cgroup, if readable. */
  readonly cpusetEffective?: string;
  /** os.availableParallelism(). */
  readonly available: number;
}

export interface AllowedCpus {
  readonly cpus: number;
  /** Which bound decided: the quota, the cpuset or the scheduler's affinity. */
  readonly by: 'quota' | 'cpuset' | 'affinity' | 'memory';
}

/** The least of the bounds, at least 1. */
export function allowedCpus(inp: CpuInputs): AllowedCpus {
  let best: AllowedCpus = { cpus: Math.max(1, Math.floor(inp.available) || 1), by: 'affinity' };
  const set = inp.cpusetEffective === undefined ? undefined : parseCpuList(inp.cpusetEffective);
  if (set !== undefined && set >= 1 && set < best.cpus) best = { cpus: set, by: 'cpuset' };
  for (const t of inp.cpuMax) {
    const q = parseCpuMax(t);
    if (q < best.cpus) best = { cpus: q, by: 'quota' };
  }
  for (const t of inp.memoryMax ?? []) {
    const m = parseMemoryMax(t);
    if (m < best.cpus) best = { cpus: m, by: 'memory' };
  }
  return best;
}

/** The worker count: the flag when given (1 or more), else the CPUs the cgroup allows. */
export function workerCount(flag: number | undefined, allowed: AllowedCpus): number {
  if (flag !== undefined && Number.isInteger(flag) && flag >= 1) return flag;
  return allowed.cpus;
}

type ReadFile = (file: string) => string | undefined;

const readOrUndefined: ReadFile = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** Reads the bounds of this process (files read through READ, which tests replace). */
export function readAllowedCpus(read: ReadFile = readOrUndefined, available = os.availableParallelism()): AllowedCpus {
  const selfCg = read('/proc/self/cgroup');
  const mountinfo = read('/proc/self/mountinfo');
  const cg = selfCg === undefined ? undefined : parseSelfCgroup(selfCg);
  const mount = mountinfo === undefined ? undefined : parseCgroup2Mount(mountinfo);
  const dirs = cg === undefined || mount === undefined ? undefined : cgroupDirs(cg, mount);
  if (dirs === undefined) return allowedCpus({ cpuMax: [], available });
  const cpuMax: string[] = [];
  const memoryMax: string[] = [];
  for (const d of dirs) {
    const t = read(path.posix.join(d, 'cpu.max'));
    if (t !== undefined) cpuMax.push(t);
    const m = read(path.posix.join(d, 'memory.max'));
    if (m !== undefined) memoryMax.push(m);
  }
  return allowedCpus({ cpuMax, memoryMax, cpusetEffective: read(path.posix.join(dirs[0], 'cpuset.cpus.effective')), available });
}
