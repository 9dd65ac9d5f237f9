// What the discovery scale bench reads: the stand-in's lists as a plain client sees them, the agent's
// readiness metric and log timeline, its CPU going idle, and the pinned nm_backends map (through the same
// native shim the agent uses). Decoding is pure; the rest is small, bounded I/O.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { native } from '../src/capture/ffi';
import { bytesToIp, SIZES } from '../src/capture/layout';
import type { KubeApiServer } from '../test/helpers/kubeapi';
import { readCpuMs } from './procs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile (p in 0..100) of unsorted values; undefined for none. */
export function percentile(xs: readonly number[], p: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export interface ListTiming {
  readonly path: string;
  readonly items: number;
  readonly bytes: number;
  /** Whole list, first request to last page parsed. */
  readonly ms: number;
  /** Of which JSON.parse of the pages (client side). */
  readonly parseMs: number;
}

/**
 * Lists `p` from the stand-in as the agent does (pages of `limit`, following `continue`) with a plain HTTP
 * client, parsing every page: the floor under the agent's own list, and what serving it costs the stand-in.
 */
export async function timeList(api: KubeApiServer, p: string, limit = 500): Promise<ListTiming> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (q: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const req = http.get(`${api.url}${p}${q}`, { agent, headers: { Authorization: `Bearer ${api.token}`, Accept: 'application/json' }, timeout: 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${p}${q}: ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${p}${q}: no answer in 60 s`)));
      req.on('error', reject);
    });
  const t0 = performance.now();
  let items = 0;
  let bytes = 0;
  let parseMs = 0;
  let cont = '';
  try {
    do {
      const body = await get(`?limit=${limit}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      bytes += body.length;
      const t = performance.now();
      const page = JSON.parse(body.toString('utf8')) as { items?: unknown[]; metadata?: { continue?: string } };
      parseMs += performance.now() - t;
      items += page.items?.length ?? 0;
      cont = page.metadata?.continue ?? '';
    } while (cont);
  } finally {
    agent.destroy();
  }
  return { path: p, items, bytes, ms: performance.now() - t0, parseMs };
}

/** One sample of a metric without labels from a Prometheus text page; undefined when absent. */
export function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} ([^\\s]+)$`, 'm').exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

export function fetchText(url: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface LogEvent {
  readonly at: number;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

/** The agent's JSON log lines (pino: `time` and `msg`) from `from` on; other lines are skipped. */
export function readLog(file: string, from = 0): LogEvent[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: LogEvent[] = [];
  for (const line of text.slice(from).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      const at = typeof o.time === 'string' ? Date.parse(o.time) : typeof o.time === 'number' ? o.time : NaN;
      if (Number.isFinite(at) && typeof o.msg === 'string') out.push({ at, msg: o.msg, fields: o });
    } catch {
      // A line cut by a write in progress.
    }
  }
  return out;
}

/**
 * Waits until the process has used less than `busyPct` % of a core over a window of `windowMs` (it has
 * finished what it was doing), or `maxMs` passed. Resolves to how long that took.
 */
export async function waitIdle(pid: number | undefined, windowMs = 200, busyPct = 10, maxMs = 30_000): Promise<{ ms: number; idle: boolean }> {
  const t0 = performance.now();
  let prev = readCpuMs(pid);
  while (performance.now() - t0 < maxMs) {
    await sleep(windowMs);
    const cur = readCpuMs(pid);
    if (cur === undefined || prev === undefined) return { ms: performance.now() - t0, idle: false };
    // /proc counts in 10 ms ticks: a window of 200 ms under 10 % means at most one tick.
    if (((cur - prev) / windowMs) * 100 < busyPct) return { ms: performance.now() - t0 - windowMs, idle: true };
    prev = cur;
  }
  return { ms: performance.now() - t0, idle: false };
}

/** The backends of kernel-mode services as the kernel holds them: `ip:port` of every nm_backends entry. */
export function decodeBackends(values: Buffer, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const off = i * SIZES.backendVal;
    out.push(`${bytesToIp(values, off)}:${values.readUInt16LE(off + 4)}`);
  }
  return out;
}

/** Reads the pinned nm_backends map of an agent (by its pin directory) from this process. */
export class BackendsMap {
  private readonly lib = native();
  private readonly fd: number;

  constructor(pinDir: string, private readonly max = 4096) {
    this.fd = this.lib.objGet(path.join(pinDir, 'nm_backends'));
  }

  /** Every entry now (a walk racing the agent's own updates may miss some: callers poll). */
  read(): string[] {
    const { values, count } = this.lib.mapDump(this.fd, SIZES.backendKey, SIZES.backendVal, this.max);
    return decodeBackends(values, count);
  }

  close(): void {
    this.lib.closeFd(this.fd);
  }
}
