// The pure half of the bench: reading wrk's report, comparing cases and printing the table. No I/O here,
// so every rule (units, error accounting, ratios) is unit-tested on captured wrk output.

/** What one wrk run measured. Latencies in milliseconds. */
export interface WrkResult {
  readonly requests: number;
  readonly durationSec: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p75Ms: number | undefined;
  readonly p90Ms: number | undefined;
  readonly p99Ms: number;
  readonly maxMs: number | undefined;
  /** connect + read + write + timeout socket errors. */
  readonly socketErrors: number;
  /** Responses outside 2xx/3xx: a proxy answering 503 fast must not look like a fast proxy. */
  readonly non2xx: number;
}

export type CaseOutcome =
  | { readonly status: 'ok'; readonly result: WrkResult; readonly note?: string }
  | { readonly status: 'unavailable'; readonly reason: string };

export interface CaseReport {
  /** Stable key used for ratios and in the JSON: direct, haproxy, nginx, nodemesh-proxy, nodemesh-kernel. */
  readonly key: string;
  readonly label: string;
  readonly outcome: CaseOutcome;
}

const UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** wrk prints durations as `812.00us`, `1.23ms`, `2.01s` (and `1.00m` for the absurd). */
export function parseDurationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m?.[1] || !m[2]) throw new Error(`not a wrk duration: "${text}"`);
  const unit = UNIT_MS[m[2]];
  if (unit === undefined) throw new Error(`unknown wrk time unit in "${text}"`);
  // Rounded to the nanosecond so 2.01s is 2010 ms, not 2009.9999999999998.
  return Math.round(Number(m[1]) * unit * 1e6) / 1e6;
}

function num(text: string | undefined, what: string): number {
  const n = Number(text);
  if (text === undefined || !Number.isFinite(n)) throw new Error(`wrk output: cannot read ${what}`);
  return n;
}

/** Parses the report of `wrk --latency`; throws when the parts the bench relies on are missing. */
export function parseWrk(output: string): WrkResult {
  const pct = (p: string): number | undefined => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm').exec(output);
    return m?.[1] ? parseDurationMs(m[1]) : undefined;
  };
  const p50 = pct('50');
  const p99 = pct('99');
  if (p50 === undefined || p99 === undefined) throw new Error('wrk output has no latency distribution (was --latency given?)');

  const done = /^\s*(\d+) requests in ([\d.]+\w+),/m.exec(output);
  if (!done) throw new Error('wrk output has no "N requests in T" line');
  const rpsLine = /^Requests\/sec:\s+([\d.]+)/m.exec(output);

  const latency = /^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(output);
  let socketErrors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  if (sock) socketErrors = sock.slice(1, 5).reduce((a, b) => a + Number(b), 0);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);

  return {
    requests: num(done[1], 'request count'),
    durationSec: parseDurationMs(done[2] ?? '') / 1000,
    rps: num(rpsLine?.[1], 'Requests/sec'),
    p50Ms: p50,
    p75Ms: pct('75'),
    p90Ms: pct('90'),
    p99Ms: p99,
    maxMs: latency?.[3] ? parseDurationMs(latency[3]) : undefined,
    socketErrors,
    non2xx: non2xx?.[1] ? Number(non2xx[1]) : 0,
  };
}

/** Ratios of one case to a reference case: rps (higher is better) and p99 (lower is better). */
export interface Ratios {
  readonly rps: number;
  readonly p99: number;
}

export function ratios(c: WrkResult, ref: WrkResult | undefined): Ratios | undefined {
  if (!ref || ref.rps <= 0 || ref.p99Ms <= 0) return undefined;
  return { rps: c.rps / ref.rps, p99: c.p99Ms / ref.p99Ms };
}

export function okResult(reports: readonly CaseReport[], key: string): WrkResult | undefined {
  const r = reports.find((x) => x.key === key);
  return r?.outcome.status === 'ok' ? r.outcome.result : undefined;
}

/** A latency for humans: microseconds below 1 ms, else milliseconds with sensible precision. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)}us`;
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 100) return `${ms.toFixed(1)}ms`;
  return `${Math.round(ms)}ms`;
}

export function formatRps(rps: number): string {
  return Math.round(rps).toLocaleString('en-US');
}

const fmtRatio = (r: Ratios | undefined): string => (r ? `${r.rps.toFixed(2)}x / ${r.p99.toFixed(2)}x` : '-');

/** The comparison table; `unavailable` cases keep their row so a missing datapath stays visible. */
export function formatTable(reports: readonly CaseReport[]): string {
  const direct = okResult(reports, 'direct');
  const haproxy = okResult(reports, 'haproxy');
  const header = ['case', 'req/s', 'p50', 'p99', 'vs direct (rps/p99)', 'vs haproxy (rps/p99)', 'errors'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of reports) {
    if (r.outcome.status === 'unavailable') {
      rows.push([r.label, 'unavailable', '', '', '', '', '']);
      notes.push(`${r.label}: unavailable: ${r.outcome.reason}`);
      continue;
    }
    const w = r.outcome.result;
    rows.push([
      r.label,
      formatRps(w.rps),
      formatMs(w.p50Ms),
      formatMs(w.p99Ms),
      r.key === 'direct' ? '1.00x / 1.00x' : fmtRatio(ratios(w, direct)),
      r.key === 'haproxy' ? '1.00x / 1.00x' : fmtRatio(ratios(w, haproxy)),
      String(w.socketErrors + w.non2xx),
    ]);
    if (w.socketErrors + w.non2xx > 0) {
      notes.push(`${r.label}: ${w.socketErrors} socket errors, ${w.non2xx} non-2xx/3xx responses: figures are suspect`);
    }
    if (r.outcome.note) notes.push(`${r.label}: ${r.outcome.note}`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  if (notes.length > 0) out.push('', ...notes);
  return out.join('\n');
}

/** VmRSS from /proc/PID/status text, in KiB. */
export function parseVmRssKb(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m?.[1] ? Number(m[1]) : undefined;
}

/**
 * The line that says why a process died, from its last output lines: the last pino error/fatal record
 * (msg, error message, code), else the CLI's `nodemesh:` line, else the first thrown `...Error:` line of a
 * stack trace, else the tail.
 */
export function failureSummary(lines: readonly string[]): string {
  for (const l of [...lines].reverse()) {
    if (!l.startsWith('{')) continue;
    try {
      const j = JSON.parse(l) as { level?: unknown; msg?: unknown; code?: unknown; err?: { message?: unknown; code?: unknown } };
      if (typeof j.level !== 'number' || j.level < 50) continue;
      const code = j.code ?? j.err?.code;
      const parts = [j.msg, j.err?.message].filter((x): x is string => typeof x === 'string' && x.length > 0);
      return `${parts.join(': ') || 'error'}${typeof code === 'string' ? ` (${code})` : ''}`;
    } catch {
      // Not JSON after all: fall through to the plain-text rules.
    }
  }
  // The CLI reports failures as `nodemesh: CODE: message` on stderr.
  const cli = [...lines].reverse().find((l) => l.startsWith('nodemesh: '));
  if (cli) return cli.trim();
  const thrown = lines.find((l) => /^[A-Za-z]*Error\b.*:/.test(l.trim()));
  if (thrown) return thrown.trim();
  return lines.slice(-3).join(' | ') || 'no output';
}

/** utime + stime of a /proc/PID/stat line in ms (the command name may contain spaces and parentheses). */
export function parseStatCpuMs(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * 10 : undefined;
}
