// Pod cgroups as the kubelet lays them out on cgroup v2, found from the pod UID below the agent's
// --cgroup directory (any directory of the hierarchy). Opt-in capture puts these ids in nm_meshed.
//   systemd driver:  kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid, - as _>.slice/<runtime>-<id>.scope
//                    Guaranteed: kubepods.slice/kubepods-pod<uid_>.slice/…
//   cgroupfs driver: kubepods/<qos>/pod<uid>/<id>, Guaranteed: kubepods/pod<uid>/<id>
// A kubelet with a --cgroup-root prefixes the systemd names (kind: kubelet.slice/kubelet-kubepods.slice/
// kubelet-kubepods-burstable.slice/…); the walk finds those by name. Deciding (candidates, name parsing)
// is pure; PodCgroups does the I/O.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { logger } from '../log';

const log = logger('cgroups');

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface PodCgroup {
  /** The pod-level cgroup directory (containers are its children). */
  readonly path: string;
  /** Its cgroup id: the directory's inode number on cgroup2. */
  readonly id: bigint;
}

// A pod UID (a UUID) or a static pod's UID (the kubelet's 32-hex config hash). Anything else is refused,
// so a UID from the API can never name a path outside the kubepods tree.
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HASH_RE = /^[0-9a-f]{32}$/;
const UID_PART = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';
const SYSTEMD_POD_RE = new RegExp(`^(?:[A-Za-z0-9_.-]+-)?pod(${UID_PART})\\.slice$`);
const CGROUPFS_POD_RE = new RegExp(`^pod(${UID_PART})$`);
const KUBEPODS_RE = /^(?:kubepods|kubepods\.slice|[A-Za-z0-9_.-]+-kubepods\.slice)$/;

/** Where kubepods may sit below --cgroup (0: --cgroup is kubepods itself). */
export const KUBEPODS_MAX_DEPTH = 3;

/** The canonical form of a pod UID (lower case, dashes), or undefined when it is not one. */
export function normalizeUid(uid: string): string | undefined {
  const u = uid.trim().toLowerCase();
  return UUID_RE.test(u) || HASH_RE.test(u) ? u : undefined;
}

/** A pod's status.qosClass, case-insensitively; undefined when missing or unknown. */
export function qosOf(qosClass: string | undefined): QosClass | undefined {
  switch (qosClass?.toLowerCase()) {
    case 'guaranteed':
      return 'Guaranteed';
    case 'burstable':
      return 'Burstable';
    case 'besteffort':
      return 'BestEffort';
    default:
      return undefined;
  }
}

/**
 * Where the kubelet (default --cgroup-root) puts a pod's cgroup, relative to the directory that holds
 * kubepods: both drivers, for the given QoS class or for every class when it is unknown. [] for an
 * invalid UID.
 */
export function podCgroupCandidates(uid: string, qosClass?: string): string[] {
  const u = normalizeUid(uid);
  if (u === undefined) return [];
  const known = qosOf(qosClass);
  const classes: QosClass[] = known ? [known] : ['Burstable', 'BestEffort', 'Guaranteed'];
  const us = u.replace(/-/g, '_');
  const out: string[] = [];
  for (const q of classes) {
    if (q === 'Guaranteed') {
      out.push(`kubepods.slice/kubepods-pod${us}.slice`, `kubepods/pod${u}`);
    } else {
      const l = q.toLowerCase();
      out.push(`kubepods.slice/kubepods-${l}.slice/kubepods-${l}-pod${us}.slice`, `kubepods/${l}/pod${u}`);
    }
  }
  return out;
}

/** The pod UID a cgroup directory name stands for, in either driver's spelling, or undefined. */
export function podUidFromDirName(name: string): string | undefined {
  const m = SYSTEMD_POD_RE.exec(name) ?? CGROUPFS_POD_RE.exec(name);
  if (!m) return undefined;
  // systemd escapes '-' in unit names, so the kubelet writes the UID with '_'; cgroupfs keeps '-'.
  return normalizeUid(m[1]!.replace(/_/g, '-'));
}

/** True for a kubelet's top pod directory: kubepods, kubepods.slice, or <cgroup-root>-kubepods.slice. */
export const isKubepodsDirName = (name: string): boolean => KUBEPODS_RE.test(name);

export interface PodCgroupsOptions {
  /** Least time between two walks caused by a UID that is not found (default 1000 ms). */
  refreshMs?: number;
  /** Directories visited per walk at most (default 200 000): the walk is bounded whatever the host holds. */
  maxDirs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Pod UID → pod cgroup, below `root`. The index comes from one bounded walk (kubepods at depth ≤ 3, then
 * its QoS and pod levels; containers are not read), and is rebuilt when a UID is not found, at most once
 * per refreshMs, so that pods started after the agent are found. A pod of a known QoS class is first
 * looked for at its exact path, which needs no walk.
 */
export class PodCgroups {
  private byUid = new Map<string, string>();
  private kubepods: string[] = [];
  private lastWalk = Number.NEGATIVE_INFINITY;
  private readonly refreshMs: number;
  private readonly maxDirs: number;
  private readonly now: () => number;
  private warnedBound = false;

  constructor(
    readonly root: string,
    opts: PodCgroupsOptions = {},
  ) {
    this.refreshMs = opts.refreshMs ?? 1000;
    this.maxDirs = opts.maxDirs ?? 200_000;
    this.now = opts.now ?? Date.now;
  }

  /** Pods in the index (as of the last walk and the lookups since). */
  get size(): number {
    return this.byUid.size;
  }

  resolve(uid: string, qosClass?: string): PodCgroup | undefined {
    const u = normalizeUid(uid);
    if (u === undefined) return undefined;
    const first = this.lastWalk === Number.NEGATIVE_INFINITY;
    if (first) this.refresh();
    const found = this.fromIndex(u) ?? this.lookupDirect(u, qosClass);
    if (found || first || this.now() - this.lastWalk < this.refreshMs) return found;
    this.refresh();
    return this.fromIndex(u);
  }

  private fromIndex(uid: string): PodCgroup | undefined {
    const p = this.byUid.get(uid);
    if (p === undefined) return undefined;
    const id = cgroupId(p);
    if (id !== undefined) return { path: p, id };
    this.byUid.delete(uid); // the pod is gone
    return undefined;
  }

  /** Rebuilds the index with one walk. */
  refresh(): void {
    this.lastWalk = this.now();
    const budget = { left: this.maxDirs };
    if (this.kubepods.length === 0 || !this.kubepods.every((d) => fs.existsSync(d))) this.kubepods = this.findKubepods(budget);
    const next = new Map<string, string>();
    // Below kubepods: pods at depth 1 (Guaranteed) or 2 (under a QoS directory). No kubepods found
    // (--cgroup inside the kubepods tree, e.g. a QoS slice): the root itself is searched the same way.
    for (const base of this.kubepods.length > 0 ? this.kubepods : [this.root]) this.scanPods(base, 2, next, budget);
    if (budget.left <= 0 && !this.warnedBound) {
      this.warnedBound = true;
      log.warn({ root: this.root, maxDirs: this.maxDirs }, 'the pod cgroup walk hit its bound; some pods may not be found');
    }
    this.byUid = next;
  }

  /** The exact path for the QoS class (or every class), next to each kubepods found. No walk. */
  private lookupDirect(uid: string, qosClass: string | undefined): PodCgroup | undefined {
    const parents = new Set(this.kubepods.map((d) => path.dirname(d)));
    for (const parent of parents) {
      for (const rel of podCgroupCandidates(uid, qosClass)) {
        const p = path.join(parent, rel);
        const id = cgroupId(p);
        if (id !== undefined) {
          this.byUid.set(uid, p);
          return { path: p, id };
        }
      }
    }
    return undefined;
  }

  private findKubepods(budget: { left: number }): string[] {
    if (isKubepodsDirName(path.basename(this.root))) return [this.root];
    const found: string[] = [];
    let level = [this.root];
    for (let depth = 1; depth <= KUBEPODS_MAX_DEPTH && level.length > 0; depth++) {
      const next: string[] = [];
      for (const dir of level) {
        for (const name of subdirs(dir, budget)) {
          const p = path.join(dir, name);
          if (isKubepodsDirName(name)) found.push(p);
          else next.push(p);
        }
      }
      level = next;
    }
    return found;
  }

  private scanPods(dir: string, depth: number, into: Map<string, string>, budget: { left: number }): void {
    for (const name of subdirs(dir, budget)) {
      const uid = podUidFromDirName(name);
      if (uid !== undefined) into.set(uid, path.join(dir, name));
      else if (depth > 1) this.scanPods(path.join(dir, name), depth - 1, into, budget);
    }
  }
}

/**
 * Child directory names, each one counted against the walk's budget (none once it is spent); [] for a
 * directory that vanished meanwhile or cannot be read.
 */
function subdirs(dir: string, budget: { left: number }): string[] {
  if (budget.left <= 0) return [];
  let names: string[];
  try {
    names = fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
  const take = names.slice(0, budget.left);
  budget.left -= names.length;
  return take;
}

/** A cgroup2 directory's inode number is its cgroup id (what bpf_get_current_cgroup_id returns). */
function cgroupId(p: string): bigint | undefined {
  try {
    const st = fs.statSync(p, { bigint: true });
    return st.isDirectory() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}
