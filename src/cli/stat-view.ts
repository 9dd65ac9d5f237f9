// `nodemesh stat`'s numbers and screen, from two answers of the admin API's Stats service: requests/s
// and kernel rates from the difference of the counters over the time between the answers, success rate
// and p50/p99 over the same interval (from the histogram buckets' increase). Without a previous answer
// (the first screen, or the agent restarted in between) rates are unknown and the rest is since the
// agent started; a counter that went down in the interval leaves its numbers unknown for that interval
// only (stat-rates.ts). Pure.
import type { ServiceStats, StatsSnapshot } from '../telemetry/admin-proto';
import { histogramQuantile } from '../telemetry/quantile';
import { increase, increases, perSecond } from './stat-rates';
import { renderTable, type Column } from './table';

export interface KernelRow {
  /** Connections open now (opened - closed). */
  readonly active: number;
  readonly openedPerSec: number | undefined;
  /** Bytes both ways (TCP path and spliced). */
  readonly bytesPerSec: number | undefined;
}

export interface StatRow {
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
  /** "out": requests this node's clients made (reporter source); "in": delivered to this node's pods (destination). */
  readonly side: 'out' | 'in';
  readonly dataplane: string;
  readonly requestsPerSec: number | undefined;
  /** 0..1, not 5xx; undefined when no request finished in the interval. */
  readonly successRate: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly requestsTotal: number;
  /** TCP connections the proxy holds open now (istio_tcp_connections_opened - closed). */
  readonly connections: number;
  readonly tcpBytesPerSec: number | undefined;
  readonly kernel: KernelRow | undefined;
}

const rowKey = (s: ServiceStats): string => `${s.reporter}\u0001${s.namespace}\u0001${s.name}\u0001${s.host}`;

/** Seconds between the answers; undefined when there is no usable previous one. */
export function intervalSeconds(prev: StatsSnapshot | undefined, cur: StatsSnapshot): number | undefined {
  if (prev === undefined || prev.agent.started_unix_ms !== cur.agent.started_unix_ms) return undefined;
  const s = (cur.agent.now_unix_ms - prev.agent.now_unix_ms) / 1000;
  return s > 0 ? s : undefined;
}

export function statRows(prev: StatsSnapshot | undefined, cur: StatsSnapshot): StatRow[] {
  const secs = intervalSeconds(prev, cur);
  const before = new Map<string, ServiceStats>();
  if (secs !== undefined) for (const s of prev?.services ?? []) before.set(rowKey(s), s);
  const bounds = cur.duration_bounds_ms;
  const rate = (b: number | undefined, a: number): number | undefined => perSecond(b, a, secs);
  const rows = cur.services.map((s): StatRow => {
    const p = before.get(rowKey(s));
    const r = s.requests;
    // Over the interval when there is one (a service new in it counts from zero), else since start.
    const buckets = secs === undefined ? r.duration_buckets : increases(p?.requests.duration_buckets, r.duration_buckets);
    const total = secs === undefined ? r.total : increase(p?.requests.total, r.total);
    const success = secs === undefined ? r.success : increase(p?.requests.success, r.success);
    const k = s.kernel;
    return {
      host: s.host,
      name: s.name,
      namespace: s.namespace,
      side: s.reporter === 'destination' ? 'in' : 'out',
      dataplane: s.dataplane,
      requestsPerSec: rate(p?.requests.total, r.total),
      successRate: total !== undefined && success !== undefined && total > 0 ? Math.min(1, success / total) : undefined,
      p50Ms: buckets && histogramQuantile(0.5, bounds, buckets),
      p99Ms: buckets && histogramQuantile(0.99, bounds, buckets),
      requestsTotal: r.total,
      connections: s.tcp.active,
      tcpBytesPerSec: rate(p === undefined ? undefined : p.tcp.sent_bytes + p.tcp.received_bytes, s.tcp.sent_bytes + s.tcp.received_bytes),
      kernel: k.present
        ? {
            active: k.active,
            openedPerSec: rate(p?.kernel.opened, k.opened),
            bytesPerSec: rate(p === undefined ? undefined : p.kernel.sent_bytes + p.kernel.received_bytes, k.sent_bytes + k.received_bytes),
          }
        : undefined,
    };
  });
  // Busiest first: requests/s, then kernel connections/s, then totals; names break ties.
  const load = (r: StatRow): number[] => [r.requestsPerSec ?? -1, r.kernel?.openedPerSec ?? -1, r.requestsTotal, r.connections + (r.kernel?.active ?? 0)];
  return rows.sort((a, b) => {
    const la = load(a);
    const lb = load(b);
    for (let i = 0; i < la.length; i++) if (la[i] !== lb[i]) return (lb[i] as number) - (la[i] as number);
    return a.namespace.localeCompare(b.namespace) || a.host.localeCompare(b.host) || a.side.localeCompare(b.side);
  });
}

export function fmtRate(v: number | undefined): string {
  if (v === undefined) return '-';
  if (v === 0) return '0';
  return v < 10 ? v.toFixed(1) : v < 10_000 ? String(Math.round(v)) : fmtSi(v);
}

export function fmtPercent(v: number | undefined): string {
  if (v === undefined) return '-';
  if (v >= 1) return '100%';
  return `${(Math.floor(v * 1000) / 10).toFixed(1)}%`;
}

export function fmtMs(v: number | undefined): string {
  if (v === undefined) return '-';
  if (v < 10) return `${v.toFixed(1)}ms`;
  if (v < 1000) return `${Math.round(v)}ms`;
  return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)}s`;
}

/** 1.5k, 12M: SI prefixes for counts and bytes per second. */
export function fmtSi(v: number | undefined): string {
  if (v === undefined) return '-';
  const units = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  let x = v;
  while (x >= 1000 && i < units.length - 1) (x /= 1000), i++;
  return i === 0 ? (Number.isInteger(x) ? String(x) : x.toFixed(1)) : `${x < 10 ? x.toFixed(1) : Math.round(x)}${units[i]}`;
}

/** "3d4h", "1h02m", "5m07s", "42s". */
export function fmtUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${two(m)}m`;
  if (m > 0) return `${m}m${two(s % 60)}s`;
  return `${s}s`;
}

const COLUMNS: readonly Column[] = [
  { title: 'SERVICE' },
  { title: 'NAMESPACE' },
  { title: 'SIDE' },
  { title: 'REQ/S', right: true },
  { title: 'SUCCESS', right: true },
  { title: 'P50', right: true },
  { title: 'P99', right: true },
  { title: 'REQUESTS', right: true },
  { title: 'CONNS', right: true },
  { title: 'TCP B/S', right: true },
  { title: 'K-CONNS', right: true },
  { title: 'K-NEW/S', right: true },
  { title: 'K-B/S', right: true },
];

/** The service column: its host (the name when the kernel knows only an id). */
const serviceCell = (r: StatRow): string => (r.host === 'unknown' && r.name !== 'unknown' ? r.name : r.host);

export function statTable(rows: readonly StatRow[]): string[] {
  return renderTable(
    COLUMNS,
    rows.map((r) => [
      serviceCell(r),
      r.namespace,
      r.side,
      fmtRate(r.requestsPerSec),
      fmtPercent(r.successRate),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      fmtSi(r.requestsTotal),
      String(r.connections),
      fmtSi(r.tcpBytesPerSec),
      r.kernel ? String(r.kernel.active) : '-',
      fmtRate(r.kernel?.openedPerSec),
      fmtSi(r.kernel?.bytesPerSec),
    ]),
  );
}

export interface ScreenOptions {
  readonly address: string;
  readonly intervalMs: number;
  /** Terminal size; lines are cut to the width and rows to the height (a wrapped line would scroll). */
  readonly columns?: number;
  readonly rows?: number;
  /** Shown under the header when the last sample failed (the screen keeps the last good numbers). */
  readonly problem?: string;
  readonly clock?: string;
}

/**
 * The header line: the agent, its uptime and config generation, where it is read and the sampling
 * interval (the time the rates are over: between two screens live, between the two samples of --once).
 */
export function headerLine(s: StatsSnapshot, o: ScreenOptions): string {
  const a = s.agent;
  const cfg = a.config_generation > 0 ? `config #${a.config_generation}${a.config_hash ? ` (${a.config_hash})` : ''}` : 'no config yet';
  const parts = [`nodemesh stat`, `node ${a.node}`, `up ${fmtUptime(a.now_unix_ms - a.started_unix_ms)}`, cfg, `datapath ${a.datapath}`, o.address, `interval ${o.intervalMs % 1000 === 0 ? `${o.intervalMs / 1000}s` : `${o.intervalMs}ms`}`];
  if (o.clock) parts.push(o.clock);
  return parts.join(' · ');
}

/** The kernel's node-wide events (eBPF only): per second over the interval, else totals. */
export function eventsLine(prev: StatsSnapshot | undefined, cur: StatsSnapshot): string | undefined {
  const names = Object.keys(cur.datapath_events).sort();
  if (names.length === 0) return undefined;
  const secs = intervalSeconds(prev, cur);
  const cells = names.map((n) => {
    const v = cur.datapath_events[n] as number;
    return secs === undefined ? `${n} ${fmtSi(v)}` : `${n} ${fmtRate(perSecond(prev?.datapath_events[n], v, secs))}`;
  });
  return `datapath events${secs === undefined ? '' : '/s'}: ${cells.join(' · ')}`;
}

/** One screen: header, an empty line or the problem, the table (cut to fit), a note for cut rows, events. */
export function statScreen(prev: StatsSnapshot | undefined, cur: StatsSnapshot, o: ScreenOptions): string[] {
  const rows = statRows(prev, cur);
  const lines = [headerLine(cur, o), o.problem ?? (intervalSeconds(prev, cur) === undefined ? 'rates after the next sample' : '')];
  const events = eventsLine(prev, cur);
  const tail = events === undefined ? [] : ['', events];
  if (rows.length === 0) lines.push('(no traffic recorded yet)');
  else {
    const table = statTable(rows);
    const room = o.rows === undefined ? table.length : Math.max(2, o.rows - lines.length - tail.length - 1);
    if (table.length > room) lines.push(...table.slice(0, room - 1), `… ${table.length - room + 1} more`);
    else lines.push(...table);
  }
  lines.push(...tail);
  return o.columns === undefined ? lines : lines.map((l) => (l.length > o.columns! ? l.slice(0, o.columns! - 1) : l));
}

/** The `-o json` document of one sample: the agent, the interval and the rows (unknown rates are null). */
export function statJson(prev: StatsSnapshot | undefined, cur: StatsSnapshot): string {
  const secs = intervalSeconds(prev, cur);
  return JSON.stringify(snakeKeys({ agent: cur.agent, interval_seconds: secs ?? null, services: statRows(prev, cur), datapath_events: cur.datapath_events }), (_k, v: unknown) => (v === undefined ? null : v));
}

/** One naming style for scripts, the admin API's (snake_case): `requestsPerSec` → `requests_per_sec`. */
function snakeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snakeKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeKeys(x)]));
}
