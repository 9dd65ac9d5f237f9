// Reading the config files (the only I/O of loading). A directory is a ConfigMap mount: its visible
// *.yaml|*.yml|*.json entries are read, and when a `..data` symlink exists the files are read through
// one resolution of it, so a concurrent `..data` swap cannot mix old and new files in one snapshot.
// A path that is missing or of the wrong type is a problem of the config; any other failure (EMFILE,
// ENFILE, EACCES, EIO...) is an I/O error, thrown as NM_E_CONFIG_IO for the caller to retry.
import { createHash } from 'node:crypto';
import { open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { MeshError } from '../errors';
import { WHOLE_FILE, issue } from './issues';
import type { ConfigIssue } from './model';

export interface SourceFile {
  /** Path as shown in issues and MeshConfig.source.files (PATH, or PATH/entry for a directory). */
  readonly path: string;
  /** Entry name, used for the hash so it does not depend on where the config is mounted. */
  readonly name: string;
  readonly content: string;
  /** mtime of the file read (ms since the epoch), to tell a write still going on from a settled file. */
  readonly modifiedMs?: number;
}

export interface Sources {
  readonly files: readonly SourceFile[];
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

const EXTENSIONS = ['.yaml', '.yml', '.json'];
const DATA_LINK = '..data';

/** Errors that say something about the path itself (the config's shape), not about the machine. */
const SHAPE_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

/** Why a blank file is not loaded, for logs and `nodemesh check`. */
export const EMPTY_FILE =
  'the file is empty: taken as an unfinished write, not as an empty mesh (the agent keeps its last good config; ' +
  'write a file with only "---" or a comment for an intentionally empty mesh)';

/** Empty or whitespace only: what a non-atomic writer leaves between truncating and writing. */
export function isBlank(file: SourceFile): boolean {
  return file.content.trim() === '';
}

export async function readSources(path: string): Promise<Sources> {
  let isDir: boolean;
  try {
    const st = await stat(path);
    if (!st.isDirectory() && !st.isFile()) return failed(path, 'is neither a file nor a directory');
    isDir = st.isDirectory();
  } catch (e) {
    return shapeProblem(path, e);
  }
  if (!isDir) {
    try {
      return { files: [await readOne(path, basename(path), path)], issues: [], warnings: [] };
    } catch (e) {
      return shapeProblem(path, e);
    }
  }
  return readDirectory(path);
}

async function readDirectory(dir: string): Promise<Sources> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.') && EXTENSIONS.includes(extname(n).toLowerCase())).sort();
  } catch (e) {
    return shapeProblem(dir, e);
  }
  const data = await realpath(join(dir, DATA_LINK)).catch((e: unknown) => {
    if (SHAPE_ERRORS.has(errnoOf(e) ?? '')) return undefined;
    throw ioError(join(dir, DATA_LINK), e);
  });
  const files: SourceFile[] = [];
  const issues: ConfigIssue[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      files.push(await readOne(await throughData(dir, name, data), name, path));
    } catch (e) {
      // ENOENT: removed (or left dangling) by a concurrent update; EISDIR: a directory named like a file.
      const code = errnoOf(e) ?? '';
      if (code === 'EISDIR' || code === 'ENOENT') continue;
      if (!SHAPE_ERRORS.has(code)) throw ioError(path, e);
      issues.push(issue(path, WHOLE_FILE, `cannot be read: ${messageOf(e)}`));
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

/** One file through one descriptor, so content and mtime belong to the same file. */
async function readOne(from: string, name: string, path: string): Promise<SourceFile> {
  const fh = await open(from, 'r');
  try {
    const st = await fh.stat();
    return { path, name, content: await fh.readFile('utf8'), modifiedMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}

/** A missing path is a problem of the config (reported once); anything else is thrown as an I/O error. */
function shapeProblem(path: string, e: unknown): Sources {
  const code = errnoOf(e) ?? '';
  if (code === 'ENOENT') return failed(path, 'does not exist');
  if (SHAPE_ERRORS.has(code) || code === 'EISDIR') return failed(path, `cannot be read: ${messageOf(e)}`);
  throw ioError(path, e);
}

function ioError(path: string, e: unknown): MeshError {
  const errno = errnoOf(e);
  return new MeshError('CONFIG_IO', `${path}: ${messageOf(e)}`, { path, ...(errno !== undefined ? { errno } : {}) });
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
