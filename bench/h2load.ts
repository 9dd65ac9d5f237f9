// The pure half of the HTTP/2 bench: reading h2load's summary and its per-request log, comparing cases and
// printing the table. No I/O here, so the rules (phases, failure accounting, percentiles) are unit-tested
// on captured h2load output.
import { formatGrid } from './tables';
import { formatMs, formatRps, parseDurationMs } from './wrk';

/** What one h2load run measured (the main phase only; h2load leaves the warm-up out). Times in ms. */
export interface H2Result {
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly codes: { readonly '2xx': number; readonly '3xx': number; readonly '4xx': number; readonly '5xx': number };
  readonly rps: number;
  /** "time for request": h2load prints min, max, mean and standard deviation, no percentiles. */
  readonly minMs: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly sdMs: number;
  /** From the per-request log (--log-file), when one was written. */
  readonly p50Ms?: number;
  readonly p90Ms?: number;
  readonly p99Ms?: number;
  /** The proxy's CPU time (user + system) over the measured phase per succeeded request, in µs. */
  readonly cpuUsPerRequest?: number;
}

function count(re: RegExp, output: string, what: string): RegExpExecArray {
  const m = re.exec(output);
  if (!m) throw new Error(`h2load output has no ${what} line`);
  return m;
}

/** Parses h2load's closing summary; throws when the parts the bench relies on are missing. */
export function parseH2load(output: string): H2Result {
  const fin = count(/^finished in [\d.]+\w+, ([\d.]+) req\/s/m, output, '"finished in"');
  const req = count(
    /^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m,
    output, '"requests:"',
  );
  const st = count(/^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m, output, '"status codes:"');
  const t = count(/^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/m, output, '"time for request:"');
  const n = (s: string | undefined): number => Number(s);
  return {
    requests: n(req[2]),
    succeeded: n(req[3]),
    failed: n(req[4]),
    errored: n(req[5]),
    timeout: n(req[6]),
    codes: { '2xx': n(st[1]), '3xx': n(st[2]), '4xx': n(st[3]), '5xx': n(st[4]) },
    rps: n(fin[1]),
    minMs: parseDurationMs(t[1] ?? ''),
    maxMs: parseDurationMs(t[2] ?? ''),
    meanMs: parseDurationMs(t[3] ?? ''),
    sdMs: parseDurationMs(t[4] ?? ''),
  };
}

/**
 * Why a run's figures cannot be used, or undefined. h2load exits 0 even when it never connected (it then
 * reports 0 requests), and a proxy answering errors fast must not look like a fast proxy.
 */
export function unusable(r: H2Result): string | undefined {
  if (r.succeeded === 0) return 'no request succeeded (connection refused or reset?)';
  const bad = r.failed + r.errored + r.timeout;
  if (bad > r.requests / 100) return `${bad} of ${r.requests} requests failed, errored or timed out`;
  const non2xx = r.codes['3xx'] + r.codes['4xx'] + r.codes['5xx'];
  if (non2xx > r.requests / 100) return `${non2xx} of ${r.requests} responses were not 2xx`;
  return undefined;
}

export interface LogLatency {
  readonly count: number;
  /** Rows with status -1 (stream failed): not part of the percentiles. */
  readonly failed: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
}

/** The p-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN;
}

/**
 * Percentiles from h2load's --log-file: tab-separated `start µs since epoch`, `status` (-1 for a failed
 * stream), `µs until end of response`. Scanned without splitting into an array of lines: a run logs
 * around a million rows.
 */
export function parseH2Log(text: string): LogLatency | undefined {
  const us: number[] = [];
  let failed = 0;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const t1 = text.indexOf('\t', pos);
    const t2 = t1 < 0 ? -1 : text.indexOf('\t', t1 + 1);
    if (t2 > 0 && t2 < end) {
      const status = Number(text.slice(t1 + 1, t2));
      // A fourth column may be added by later h2load versions: stop at the next tab.
      const t3 = text.indexOf('\t', t2 + 1);
      const elapsed = Number(text.slice(t2 + 1, t3 > 0 && t3 < end ? t3 : end));
      if (status < 0) failed++;
      else if (Number.isFinite(elapsed)) us.push(elapsed);
    }
    pos = end + 1;
  }
  if (us.length === 0) return undefined;
  const sorted = Float64Array.from(us).sort();
  const ms = (p: number): number => quantile(sorted, p) / 1000;
  return { count: us.length, failed, p50Ms: ms(0.5), p90Ms: ms(0.9), p99Ms: ms(0.99) };
}

export function withLog(r: H2Result, log: LogLatency | undefined): H2Result {
  return log ? { ...r, p50Ms: log.p50Ms, p90Ms: log.p90Ms, p99Ms: log.p99Ms } : r;
}

export type H2Outcome =
  | { readonly status: 'ok'; readonly result: H2Result; readonly note?: string }
  | { readonly status: 'unavailable'; readonly reason: string };

export interface H2Report {
  /** direct, nginx, nodemesh-proxy */
  readonly key: string;
  readonly label: string;
  readonly outcome: H2Outcome;
}

/** rps ratio (higher is better) and latency ratios (lower is better) of one case to a reference. */
export interface H2Ratios {
  readonly rps: number;
  readonly mean: number;
  readonly p99?: number;
}

export function h2Ratios(c: H2Result, ref: H2Result | undefined): H2Ratios | undefined {
  if (!ref || ref.rps <= 0 || ref.meanMs <= 0) return undefined;
  const p99 = c.p99Ms !== undefined && ref.p99Ms !== undefined && ref.p99Ms > 0 ? c.p99Ms / ref.p99Ms : undefined;
  return { rps: c.rps / ref.rps, mean: c.meanMs / ref.meanMs, ...(p99 !== undefined && { p99 }) };
}

export function okH2(reports: readonly H2Report[], key: string): H2Result | undefined {
  const r = reports.find((x) => x.key === key);
  return r?.outcome.status === 'ok' ? r.outcome.result : undefined;
}

/** `rps / p99` ratios, or `rps / mean` (marked) when no per-request log was kept. */
function fmtRatios(r: H2Ratios | undefined): string {
  if (!r) return '-';
  return r.p99 !== undefined ? `${r.rps.toFixed(2)}x / ${r.p99.toFixed(2)}x` : `${r.rps.toFixed(2)}x / ${r.mean.toFixed(2)}x mean`;
}

const optMs = (ms: number | undefined): string => (ms === undefined ? '-' : formatMs(ms));

/** The comparison table; unavailable cases keep their row, and their reason goes under the table. */
export function formatH2Table(reports: readonly H2Report[]): string {
  const direct = okH2(reports, 'direct');
  const nginx = okH2(reports, 'nginx');
  const header = ['case', 'req/s', 'mean', 'p50', 'p99', 'vs direct (rps/p99)', 'vs nginx (rps/p99)', 'ok/failed'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of reports) {
    if (r.outcome.status === 'unavailable') {
      rows.push([r.label, 'unavailable', '', '', '', '', '', '']);
      notes.push(`${r.label}: unavailable: ${r.outcome.reason}`);
      continue;
    }
    const w = r.outcome.result;
    const bad = w.failed + w.errored + w.timeout;
    rows.push([
      r.label,
      formatRps(w.rps),
      formatMs(w.meanMs),
      optMs(w.p50Ms),
      optMs(w.p99Ms),
      r.key === 'direct' ? '1.00x / 1.00x' : fmtRatios(h2Ratios(w, direct)),
      r.key === 'nginx' ? '1.00x / 1.00x' : fmtRatios(h2Ratios(w, nginx)),
      `${w.succeeded}/${bad}`,
    ]);
    const why = unusable(w);
    if (why) notes.push(`${r.label}: ${why}: figures are suspect`);
    if (r.outcome.note) notes.push(`${r.label}: ${r.outcome.note}`);
  }
  const out = [formatGrid(header, rows)];
  if (notes.length > 0) out.push('', ...notes);
  return out.join('\n');
}

/** Sum of every sample of one metric in Prometheus text format; undefined when it has no sample. */
export function sumMetric(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    // The value follows the last space outside the label set (labels may contain spaces).
    const rest = line.slice(line[name.length] === '{' ? line.lastIndexOf('}') + 1 : name.length).trim();
    const v = Number(rest.split(/\s+/)[0]);
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/**
 * What the agent's own request counter says about the path it took: when it counted far fewer requests
 * than h2load completed, the connections went through as opaque TCP and the figure is not that of an
 * HTTP/2 proxy. `counted` is the counter's increase over the run (warm-up included, so at least
 * `succeeded` when every request was handled one by one).
 */
export function l7Note(counted: number | undefined, succeeded: number): string | undefined {
  if (counted === undefined) return 'agent metrics unreadable: could not tell whether requests were handled one by one';
  if (counted >= succeeded * 0.9) return undefined;
  return `the agent counted ${Math.round(counted)} requests for ${succeeded} completed: it carried the connections as opaque TCP, ` +
    'not request by request (not an HTTP/2 proxy figure)';
}
