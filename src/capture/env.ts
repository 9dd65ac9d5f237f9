// Preflight for the eBPF datapath: say exactly what is missing (privileges, bpffs, cgroup v2) before
// anything is loaded, and find the agent's own cgroup id (exempted from redirection).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshError } from '../errors';

const BPF_FS_MAGIC = 0xcafe4a11;
const CGROUP2_SUPER_MAGIC = 0x63677270;
const CAP = { NET_ADMIN: 12, SYS_ADMIN: 21, BPF: 39 } as const;

function effectiveCaps(): bigint {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
  return line ? BigInt(`0x${line.split(/\s+/)[1]}`) : 0n;
}

/** Throws NOT_PRIVILEGED naming the missing capabilities. */
export function checkPrivileges(): void {
  const caps = effectiveCaps();
  const has = (c: number): boolean => (caps & (1n << BigInt(c))) !== 0n;
  const missing: string[] = [];
  // CAP_SYS_ADMIN is needed in any case (cgroup attach, bpffs pins), and it also covers CAP_BPF.
  if (!has(CAP.SYS_ADMIN)) missing.push('CAP_SYS_ADMIN (cgroup attach, pins)');
  if (!has(CAP.SYS_ADMIN) && !has(CAP.BPF)) missing.push('CAP_BPF');
  if (!has(CAP.NET_ADMIN)) missing.push('CAP_NET_ADMIN');
  if (missing.length) throw new MeshError('NOT_PRIVILEGED', `missing ${missing.join(', ')}`);
}

function fsType(p: string): number | undefined {
  try {
    return Number(fs.statfsSync(p).type);
  } catch {
    return undefined;
  }
}

/** The pin directory must sit on bpffs; it is created (with missing parents) when its nearest existing ancestor is bpffs. */
export function checkBpffs(pinDir: string): void {
  let probe = path.resolve(pinDir);
  while (!fs.existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe);
  if (fsType(probe) !== BPF_FS_MAGIC) {
    throw new MeshError('NO_BPFFS', `${probe} is not a bpf filesystem (mount one: ${bpffsMountAdvice(pinDir)})`, { path: probe });
  }
}

/**
 * How to mount bpffs for PIN_DIR: on the pin directory itself, never on an existing parent (mounting on
 * /tmp would hide all of /tmp). Below the usual /sys/fs/bpf (sysfs: no mkdir there), that one. Pure.
 */
export function bpffsMountAdvice(pinDir: string): string {
  const dir = path.resolve(pinDir);
  if (dir === '/sys/fs/bpf' || dir.startsWith('/sys/fs/bpf/')) return 'mount -t bpf bpf /sys/fs/bpf';
  return `mkdir -p ${dir} && mount -t bpf bpf ${dir}`;
}

export function checkCgroup2(cgroupDir: string): void {
  const t = fsType(cgroupDir);
  if (t === undefined) throw new MeshError('NO_CGROUP2', `${cgroupDir} does not exist`, { path: cgroupDir });
  if (t !== CGROUP2_SUPER_MAGIC) {
    throw new MeshError('NO_CGROUP2', `${cgroupDir} is not cgroup v2 (mount one: mount -t cgroup2 none DIR)`, { path: cgroupDir });
  }
}

/** cgroup2 mount points, from /proc/self/mountinfo. */
export function cgroup2Mounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(' - cgroup2 '))
    .map((l) => l.split(' ')[4] ?? '')
    .filter(Boolean);
}

/** The id of the cgroup (v2) this process runs in: the inode of its directory on cgroup2fs. */
export function ownCgroupId(): bigint | undefined {
  const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  if (!line) return undefined;
  const rel = line.slice(3);
  for (const mnt of cgroup2Mounts()) {
    const dir = path.join(mnt, rel);
    try {
      return fs.statSync(dir, { bigint: true }).ino;
    } catch {
      // not under this mount
    }
  }
  return undefined;
}
