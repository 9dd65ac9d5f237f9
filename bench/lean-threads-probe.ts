// Preloaded into an agent by bench/lean-threads.ts (`node -r lean-threads-probe.js main.js agent …`); node
// runs preloads in every worker thread too. At the epoch millisecond LEAN_THREADS_AT each thread writes,
// to LEAN_THREADS_FILE.<threadId>.json: the process's VmRSS (main thread only, read first), its own V8
// heap before and after two full collections, the project's files and packages it has loaded
// (require.cache) and the node built-ins (process.moduleLoadList). Nothing else happens in the agent.
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';

export interface ThreadSnapshot {
  readonly threadId: number;
  readonly main: boolean;
  /** Process-wide KiB, read by the main thread before any collection. */
  readonly rssKb?: number;
  readonly anonKb?: number;
  readonly fileKb?: number;
  /** This isolate's heap, KiB: as it was, then after two full collections. */
  readonly heapUsedKb: number;
  readonly heapTotalKb: number;
  readonly heapUsedGcKb: number;
  readonly heapTotalGcKb: number;
  /** Loaded files of the project, relative to the build's root (src/…). */
  readonly own: readonly string[];
  /** Loaded files per package. */
  readonly packages: Readonly<Record<string, number>>;
  /** Public node built-ins loaded (internal/… left out). */
  readonly builtins: readonly string[];
}

/** The project's files (outside node_modules, from their src/ on, whichever build they are in) and file counts per package. Pure. */
export function splitFiles(files: readonly string[]): { own: string[]; packages: Record<string, number> } {
  const own: string[] = [];
  const packages: Record<string, number> = {};
  for (const f of files) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(f);
    const src = f.indexOf('/src/');
    if (m?.[1] !== undefined) packages[m[1]] = (packages[m[1]] ?? 0) + 1;
    else if (src >= 0) own.push(f.slice(src + 1));
  }
  return { own: own.sort(), packages };
}

/** The public built-ins of process.moduleLoadList ("NativeModule x"), in load order. */
export function publicBuiltins(list: readonly string[]): string[] {
  return list.filter((m) => m.startsWith('NativeModule ') && !m.startsWith('NativeModule internal/')).map((m) => m.slice('NativeModule '.length));
}

function kb(status: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function snapshot(): ThreadSnapshot {
  const status = isMainThread ? fs.readFileSync('/proc/self/status', 'utf8') : '';
  const before = v8.getHeapStatistics();
  // The agent runs with --expose-gc (as under bench/lean.ts); node passes V8's flags to every worker.
  const gc = (globalThis as { gc?: () => void }).gc;
  const { own, packages } = splitFiles(Object.keys(require.cache));
  const builtins = publicBuiltins((process as unknown as { moduleLoadList: string[] }).moduleLoadList);
  if (gc === undefined) throw new Error('lean-threads-probe needs node --expose-gc');
  gc();
  gc();
  const after = v8.getHeapStatistics();
  const k = (n: number): number => Math.round(n / 1024);
  return {
    threadId,
    main: isMainThread,
    ...(isMainThread ? { rssKb: kb(status, 'VmRSS'), anonKb: kb(status, 'RssAnon'), fileKb: kb(status, 'RssFile') } : {}),
    heapUsedKb: k(before.used_heap_size),
    heapTotalKb: k(before.total_heap_size),
    heapUsedGcKb: k(after.used_heap_size),
    heapTotalGcKb: k(after.total_heap_size),
    own,
    packages,
    builtins,
  };
}

const out = process.env.LEAN_THREADS_FILE;
const at = Number(process.env.LEAN_THREADS_AT);
if (out !== undefined && out !== '' && Number.isFinite(at)) {
  setTimeout(() => {
    const file = `${out}.${threadId}.json`;
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(snapshot()));
    fs.renameSync(`${file}.tmp`, file);
  }, Math.max(0, at - Date.now())).unref();
}
