// The pure half of the workers bench: the per-worker request counter read from /metrics, deltas over the
// measured phase, CPU per request, the ratios and the table. No I/O, so every rule is unit-tested.
import { formatGrid } from './tables';
import { formatMs, formatRps, type CaseOutcome, type WrkResult } from './wrk';

/** The counter each proxy worker exports, labelled by worker index. */
export const WORKER_REQUESTS_METRIC = 'nodemesh_worker_requests_total';

/** Requests per worker by its `worker` label, from Prometheus text; samples without the label are skipped. */
export function workerRequests(text: string, name = WORKER_REQUESTS_METRIC): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const worker = /(?:^|,)\s*worker="([^"]*)"/.exec(line.slice(name.length + 1, close))?.[1];
    const value = Number(line.slice(close + 1).trim().split(/\s+/)[0]);
    if (worker === undefined || close < 0 || !Number.isFinite(value)) continue;
    out[worker] = (out[worker] ?? 0) + value;
  }
  return out;
}

/**
 * What each worker handled between two scrapes. A worker absent before counts from 0; a counter that went
 * down was reset (the worker restarted), so its count since the restart is what it handled.
 */
export function requestDeltas(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  const keys = Object.keys(after).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  for (const k of keys) {
    const a = after[k] ?? 0;
    const b = before[k] ?? 0;
    out[k] = a >= b ? a - b : a;
  }
  return out;
}

/**
 * Why the load did not go through the agent, when its workers counted under half of the requests wrk
 * completed: connect4 fails open (to the service's backends) while none of the agent's listeners is in
 * nm_listeners, so such a case measures the backend, not the agent.
 */
export function bypassReason(perWorker: Readonly<Record<string, number>> | undefined, completed: number): string | undefined {
  if (perWorker === undefined || !(completed > 0)) return undefined;
  const counted = Object.values(perWorker).reduce((a, b) => a + b, 0);
  if (counted >= completed / 2) return undefined;
  return `the agent's workers counted ${formatRps(counted)} of ${formatRps(completed)} requests: the load did not go through the agent ` +
    '(connect4 sends connections straight to the backends while no listener of the agent is in nm_listeners)';
}

/** CPU time per request in µs; undefined without requests or CPU figures. */
export function cpuUsPerRequest(cpuMs: number | undefined, requests: number): number | undefined {
  if (cpuMs === undefined || !(requests > 0)) return undefined;
  return (cpuMs * 1000) / requests;
}

export interface WorkersCase {
  /** direct, workers-1, workers-2, … */
  readonly key: string;
  readonly label: string;
  readonly outcome: CaseOutcome;
  /** The --workers the agent ran with; undefined for the direct case. */
  readonly workers?: number;
  /** Requests each worker handled over the measured phase. */
  readonly perWorker?: Readonly<Record<string, number>>;
  /** Agent process CPU (user + system, all threads) over the measured phase, ms. */
  readonly cpuMs?: number;
  readonly cpuUsPerRequest?: number;
  readonly rssIdleKb?: number;
}

/** `0: 12,345 (50%) · 1: 12,001 (49%)`; `-` without figures. */
export function formatPerWorker(perWorker: Readonly<Record<string, number>> | undefined): string {
  if (!perWorker || Object.keys(perWorker).length === 0) return '-';
  const total = Object.values(perWorker).reduce((a, b) => a + b, 0);
  return Object.entries(perWorker)
    .map(([w, n]) => `${w}: ${formatRps(n)}${total > 0 ? ` (${Math.round((n / total) * 100)}%)` : ''}`)
    .join(' · ');
}

/**
 * Notes on one agent case: fewer workers counted than asked, or a per-worker sum far from wrk's
 * completed requests (the counter would not be measuring this load).
 */
export function caseNotes(c: WorkersCase): string[] {
  if (c.outcome.status !== 'ok' || c.workers === undefined) return [];
  const notes: string[] = [];
  const seen = Object.keys(c.perWorker ?? {}).length;
  if (!c.perWorker) notes.push(`${c.label}: ${WORKER_REQUESTS_METRIC} not readable from /metrics`);
  else if (seen !== c.workers) notes.push(`${c.label}: ${seen} worker(s) in ${WORKER_REQUESTS_METRIC}, ${c.workers} asked`);
  const counted = Object.values(c.perWorker ?? {}).reduce((a, b) => a + b, 0);
  const done = c.outcome.result.requests;
  if (c.perWorker && done > 0 && Math.abs(counted - done) > done * 0.05) {
    notes.push(`${c.label}: the workers counted ${formatRps(counted)} requests, wrk completed ${formatRps(done)}`);
  }
  const errors = c.outcome.result.socketErrors + c.outcome.result.non2xx;
  if (errors > 0) notes.push(`${c.label}: ${errors} socket errors or non-2xx/3xx responses: figures are suspect`);
  return notes;
}

const okOf = (cases: readonly WorkersCase[], key: string): WrkResult | undefined => {
  const c = cases.find((x) => x.key === key);
  return c?.outcome.status === 'ok' ? c.outcome.result : undefined;
};

export interface WorkersRatios {
  /** req/s of 2 workers over 1 worker. */
  readonly twoOverOne?: number;
  /** req/s through the agent over direct, per worker count. */
  readonly oneOverDirect?: number;
  readonly twoOverDirect?: number;
  /** CPU per request of 2 workers over 1 worker. */
  readonly cpuTwoOverOne?: number;
}

export function workersRatios(cases: readonly WorkersCase[]): WorkersRatios {
  const direct = okOf(cases, 'direct');
  const one = okOf(cases, 'workers-1');
  const two = okOf(cases, 'workers-2');
  const div = (a: number | undefined, b: number | undefined): number | undefined =>
    a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
  const cpu = (k: string): number | undefined => {
    const c = cases.find((x) => x.key === k);
    return c?.outcome.status === 'ok' ? c.cpuUsPerRequest : undefined;
  };
  const r = {
    twoOverOne: div(two?.rps, one?.rps),
    oneOverDirect: div(one?.rps, direct?.rps),
    twoOverDirect: div(two?.rps, direct?.rps),
    cpuTwoOverOne: div(cpu('workers-2'), cpu('workers-1')),
  };
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as WorkersRatios;
}

/** The caveat printed with every table: on this machine the workers bench cannot show scaling. */
export function scalingCaveat(cpus: number): string {
  return `${cpus} CPU(s) shared by wrk, the agent and the backend: more workers cannot add throughput here, ` +
    'so the table shows that every worker serves and what a request costs, not scaling';
}

/** The table: one row per case, then the notes and the ratios. */
export function formatWorkersTable(cases: readonly WorkersCase[]): string {
  const header = ['case', 'req/s', 'p50', 'p99', 'requests per worker', 'agent CPU', 'CPU/request', 'errors'];
  const rows = cases.map((c): string[] => {
    if (c.outcome.status !== 'ok') return [c.label, 'unavailable', '', '', '', '', '', ''];
    const w = c.outcome.result;
    return [
      c.label,
      formatRps(w.rps),
      formatMs(w.p50Ms),
      formatMs(w.p99Ms),
      c.workers === undefined ? '' : formatPerWorker(c.perWorker),
      c.cpuMs === undefined ? '' : `${(c.cpuMs / 1000).toFixed(2)} s`,
      c.cpuUsPerRequest === undefined ? '' : `${c.cpuUsPerRequest.toFixed(1)} µs`,
      String(w.socketErrors + w.non2xx),
    ];
  });
  const notes = cases.flatMap((c) => (c.outcome.status === 'ok' ? caseNotes(c) : [`${c.label}: unavailable: ${c.outcome.reason}`]));
  const r = workersRatios(cases);
  const x = (v: number | undefined): string => (v === undefined ? 'not measured' : `${v.toFixed(2)}x`);
  const out = [formatGrid(header, rows)];
  if (notes.length > 0) out.push('', ...notes);
  out.push(
    '',
    `2 workers / 1 worker: ${x(r.twoOverOne)} req/s, ${x(r.cpuTwoOverOne)} CPU per request`,
    `agent / direct: ${x(r.oneOverDirect)} req/s with 1 worker, ${x(r.twoOverDirect)} with 2`,
  );
  return out.join('\n');
}
