// Service names for `nodemesh stat`. The kernel maps key services by id (FNV-1a of namespace/name) and
// bpffs holds only pins, so the agent writes id → name next to its other runtime state: one small JSON
// file per pin directory in the state directory ($NODEMESH_STATE_DIR, else <tmpdir>/nodemesh, which is
// the pod's writable /tmp emptyDir in the DaemonSet, where `kubectl exec … nodemesh stat` finds it).
// It is rewritten on every applied config, atomically (temp file + rename); `nodemesh uninstall`
// removes it. Losing it only costs the names: stat then shows the ids.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fnv1a32 } from '../config/ids';

export interface ServiceName {
  readonly namespace: string;
  readonly name: string;
}

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.NODEMESH_STATE_DIR || path.join(os.tmpdir(), 'nodemesh');
}

/** The names file of the pin directory BPFFS: readable, and unique per directory (hash of the path). */
export function namesFile(bpffs: string, dir: string = stateDir()): string {
  const abs = path.resolve(bpffs);
  const readable = abs.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_').slice(-80);
  return path.join(dir, `services-${readable}-${fnv1a32(abs).toString(16).padStart(8, '0')}.json`);
}

/** The file's content. Pure. */
export function encodeNames(bpffs: string, services: readonly { id: number; namespace: string; name: string }[]): string {
  const byId: Record<string, ServiceName> = {};
  for (const s of services) byId[String(s.id)] = { namespace: s.namespace, name: s.name };
  return `${JSON.stringify({ bpffs: path.resolve(bpffs), services: byId })}\n`;
}

/** id → name from the file's content; anything malformed is left out (names are a convenience). Pure. */
export function decodeNames(text: string): Map<number, ServiceName> {
  const out = new Map<number, ServiceName>();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return out;
  }
  const services = (doc as { services?: unknown } | null)?.services;
  if (typeof services !== 'object' || services === null) return out;
  for (const [k, v] of Object.entries(services as Record<string, unknown>)) {
    const id = Number(k);
    const s = v as Partial<ServiceName> | null;
    if (Number.isInteger(id) && typeof s?.namespace === 'string' && typeof s.name === 'string') out.set(id, { namespace: s.namespace, name: s.name });
  }
  return out;
}

const lastWritten = new Map<string, string>();

/**
 * Writes the names for BPFFS; returns the problem instead of throwing (the agent logs it and serves on).
 * The directory must be this user's own (it may sit in a shared /tmp): anything else is not written to.
 */
export function writeServiceNames(bpffs: string, services: readonly { id: number; namespace: string; name: string }[], dir: string = stateDir()): string | undefined {
  const file = namesFile(bpffs, dir);
  const text = encodeNames(bpffs, services);
  // Discovery applies often; the file changes only with the set of services.
  if (lastWritten.get(file) === text && fs.existsSync(file)) return undefined;
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const st = fs.lstatSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) return `${dir} is not a directory of this user; service names not written`;
    fs.writeFileSync(tmp, text, { flag: 'w', mode: 0o644 });
    fs.renameSync(tmp, file);
    // Once per file and process: files of pin directories removed without `nodemesh uninstall` go.
    if (!lastWritten.has(file)) sweepOrphans(dir);
    lastWritten.set(file, text);
    return undefined;
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
    return `service names not written to ${file}: ${(e as Error).message}`;
  }
}

/** The names for BPFFS, or an empty map when there is no (usable) file. */
export function readServiceNames(bpffs: string, dir: string = stateDir()): Map<number, ServiceName> {
  try {
    // Only a directory of this user or root is trusted (the default one may sit in a shared /tmp).
    const owner = fs.lstatSync(dir).uid;
    if (owner !== 0 && owner !== process.getuid?.()) return new Map();
    return decodeNames(fs.readFileSync(namesFile(bpffs, dir), 'utf8'));
  } catch {
    return new Map();
  }
}

/** Best effort: the file may already be gone, or be another user's. */
export function removeServiceNames(bpffs: string, dir: string = stateDir()): void {
  lastWritten.delete(namesFile(bpffs, dir));
  try {
    fs.rmSync(namesFile(bpffs, dir), { force: true });
  } catch {
    // not ours to remove
  }
}

/**
 * Names files whose pin directory is gone (removed without `nodemesh uninstall`): the file names of DIR
 * to delete. Pure apart from EXISTS.
 */
export function orphanedNames(files: ReadonlyMap<string, string>, exists: (p: string) => boolean): string[] {
  const out: string[] = [];
  for (const [name, text] of files) {
    const bpffs = (() => {
      try {
        return (JSON.parse(text) as { bpffs?: unknown }).bpffs;
      } catch {
        return undefined;
      }
    })();
    if (typeof bpffs === 'string' && !exists(bpffs)) out.push(name);
  }
  return out;
}

function sweepOrphans(dir: string): void {
  try {
    const files = new Map<string, string>();
    for (const n of fs.readdirSync(dir)) if (/^services-.*\.json$/.test(n)) files.set(n, fs.readFileSync(path.join(dir, n), 'utf8'));
    for (const n of orphanedNames(files, fs.existsSync)) fs.rmSync(path.join(dir, n), { force: true });
  } catch {
    // best effort: a leftover file costs a few bytes
  }
}
