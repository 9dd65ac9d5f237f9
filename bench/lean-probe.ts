// Preloaded into an agent under the lean bench (`node --expose-gc -r lean-probe.js main.js agent …`):
// on SIGUSR2 it collects garbage and writes the process's memory and the packages it has loaded to the
// file named by LEAN_PROBE_FILE, so the bench reads heap figures without an admin endpoint of its own.
import * as fs from 'node:fs';
import * as v8 from 'node:v8';

/** VmRSS, RssAnon and RssFile of /proc/self/status, in KiB. */
export function statusKb(text: string): { rssKb: number; anonKb: number; fileKb: number } {
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), anonKb: kb('RssAnon'), fileKb: kb('RssFile') };
}

/** Loaded files per package (`(own)` for files outside node_modules), from require.cache's keys. */
export function packagesOf(files: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of files) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(f);
    const k = m?.[1] ?? '(own)';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function snapshot(): Record<string, unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return {
    at: Date.now(),
    gc: gc !== undefined,
    ...statusKb(fs.readFileSync('/proc/self/status', 'utf8')),
    heapUsedKb: Math.round(m.heapUsed / 1024),
    heapTotalKb: Math.round(m.heapTotal / 1024),
    externalKb: Math.round(m.external / 1024),
    arrayBuffersKb: Math.round(m.arrayBuffers / 1024),
    /** Committed and used KiB per V8 heap space. */
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, [Math.round(sp.space_size / 1024), Math.round(sp.space_used_size / 1024)]])),
    packages: packagesOf(Object.keys(require.cache)),
  };
}

const out = process.env.LEAN_PROBE_FILE;
if (out !== undefined && out !== '') {
  process.on('SIGUSR2', () => {
    const tmp = `${out}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(snapshot()));
    fs.renameSync(tmp, out);
  });
}
