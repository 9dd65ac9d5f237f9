// Which cgroup ids still exist: a cgroup's id is the inode of its directory on cgroup2fs, so the ids
// are found by walking the hierarchy (bounded). Used to drop nm_exempt entries of agents that are gone
// while keeping those of an agent that still drains beside this one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroup2Mounts } from './env';

/** Deeper than kubelet's layouts go; keeps a pathological tree from stalling start-up. */
const MAX_DEPTH = 16;

/** The subset of `ids` that name a live cgroup under any cgroup2 mount. */
export function liveCgroupIds(ids: readonly bigint[], mounts: readonly string[] = cgroup2Mounts()): Set<bigint> {
  const want = new Set(ids);
  const found = new Set<bigint>();
  const walk = (dir: string, depth: number): void => {
    if (found.size === want.size) return;
    let ino: bigint;
    try {
      ino = fs.statSync(dir, { bigint: true }).ino;
    } catch {
      return; // removed while walking
    }
    if (want.has(ino)) found.add(ino);
    if (depth >= MAX_DEPTH) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name), depth + 1);
  };
  for (const m of mounts) walk(m, 0);
  return found;
}
