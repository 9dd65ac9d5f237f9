// Reading the config files (the only I/O of loading). A directory is a ConfigMap mount: its visible
// *.yaml|*.yml|*.json entries are read, and when a `..data` symlink exists the files are read through
// one resolution of it, so a concurrent `..data` swap cannot mix old and new files in one snapshot.
import { createHash } from 'node:crypto';
import { readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { WHOLE_FILE, issue } from './issues';
import type { ConfigIssue } from './model';

export interface SourceFile {
  /** Path as shown in issues and MeshConfig.source.files (PATH, or PATH/entry for a directory). */
  readonly path: string;
  /** Entry name, used for the hash so it does not depend on where the config is mounted. */
  readonly name: string;
  readonly content: string;
}

export interface Sources {
  readonly files: readonly SourceFile[];
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

const EXTENSIONS = ['.yaml', '.yml', '.json'];
const DATA_LINK = '..data';

export async function readSources(path: string): Promise<Sources> {
  let isDir: boolean;
  try {
    const st = await stat(path);
    if (!st.isDirectory() && !st.isFile()) return failed(path, 'is neither a file nor a directory');
    isDir = st.isDirectory();
  } catch (e) {
    return failed(path, errnoOf(e) === 'ENOENT' ? 'does not exist' : `cannot be read: ${messageOf(e)}`);
  }
  if (!isDir) {
    try {
      return { files: [{ path, name: basename(path), content: await readFile(path, 'utf8') }], issues: [], warnings: [] };
    } catch (e) {
      return failed(path, `cannot be read: ${messageOf(e)}`);
    }
  }
  return readDirectory(path);
}

async function readDirectory(dir: string): Promise<Sources> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.') && EXTENSIONS.includes(extname(n).toLowerCase())).sort();
  } catch (e) {
    return failed(dir, `cannot be read: ${messageOf(e)}`);
  }
  const data = await realpath(join(dir, DATA_LINK)).catch(() => undefined);
  const files: SourceFile[] = [];
  const issues: ConfigIssue[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      files.push({ path, name, content: await readFile(await throughData(dir, name, data), 'utf8') });
    } catch (e) {
      // ENOENT: removed (or left dangling) by a concurrent update; EISDIR: a directory named like a file.
      const code = errnoOf(e);
      if (code !== 'ENOENT' && code !== 'EISDIR') issues.push(issue(path, WHOLE_FILE, `cannot be read: ${messageOf(e)}`));
    }
  }
  const warnings = files.length === 0 && issues.length === 0 ? [issue(dir, WHOLE_FILE, `no ${EXTENSIONS.map((x) => `*${x}`).join(', ')} files in the directory`)] : [];
  return { files, issues, warnings };
}

/** `key -> ..data/key` is read from the resolved `..data` directory; anything else as is. */
async function throughData(dir: string, name: string, data: string | undefined): Promise<string> {
  const path = join(dir, name);
  if (data === undefined) return path;
  const target = await readlink(path).catch(() => undefined);
  return target === join(DATA_LINK, name) ? join(data, name) : path;
}

/** sha256 over the sorted entry names and contents: same files, same hash, wherever mounted. */
export function hashSources(files: readonly SourceFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(`${f.name}\0${Buffer.byteLength(f.content)}\0`);
    h.update(f.content);
  }
  return h.digest('hex');
}

function failed(path: string, message: string): Sources {
  return { files: [], issues: [issue(path, WHOLE_FILE, message)], warnings: [] };
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
