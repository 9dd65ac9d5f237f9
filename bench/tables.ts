// Pure helpers shared by the benches: a plain-text grid, the summary of runs that alternate between
// cases (A, B, C, C, B, A, …) so that slow drift on a shared machine hits them alike, ratio targets, and
// how the agent under bench logs.
import type { WrkResult } from './wrk';

/** Left-aligned first column, right-aligned figures, a dashed rule under the header. */
export function formatGrid(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export interface RunOf<K extends string> {
  readonly key: K;
  readonly result: WrkResult;
}

export interface CaseMean {
  readonly runs: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Socket errors plus non-2xx/3xx responses over all runs of the case. */
  readonly errors: number;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Means over the runs of one case; undefined when it has none. */
export function caseMean<K extends string>(runs: readonly RunOf<K>[], key: K): CaseMean | undefined {
  const mine = runs.filter((r) => r.key === key).map((r) => r.result);
  if (mine.length === 0) return undefined;
  return {
    runs: mine.length,
    rps: mean(mine.map((r) => r.rps)),
    p50Ms: mean(mine.map((r) => r.p50Ms)),
    p99Ms: mean(mine.map((r) => r.p99Ms)),
    errors: mine.reduce((a, r) => a + r.socketErrors + r.non2xx, 0),
  };
}

export interface Comparison {
  /** b/a of mean req/s: below 1 means b is slower. */
  readonly rps: number;
  /** b/a of mean p99: above 1 means b has the longer tail. */
  readonly p99: number;
}

export function compareMeans(a: CaseMean | undefined, b: CaseMean | undefined): Comparison | undefined {
  if (!a || !b || a.rps <= 0 || a.p99Ms <= 0) return undefined;
  return { rps: b.rps / a.rps, p99: b.p99Ms / a.p99Ms };
}

/**
 * The order of runs: `rounds` rounds, each running every key once, every other round in reverse
 * (a, b, c, c, b, a, a, b, c, …), so a drift over time costs every case alike.
 */
export function interleave<K>(keys: readonly K[], rounds: number): K[] {
  return Array.from({ length: rounds }, (_, r) => (r % 2 === 0 ? [...keys] : [...keys].reverse())).flat();
}

/** A ratio the bench aims for: `value` = numerator / denominator of mean req/s, met when ≥ `target`. */
export interface TargetRatio {
  readonly name: string;
  readonly value: number | undefined;
  readonly target: number;
  /** p99 ratio for the reader (above 1 = longer tail); not part of the target. */
  readonly p99?: number;
}

/** `name: 0.912x req/s, p99 1.05x (target ≥ 0.90x: met)`; `not measured` when a side did not run. */
export function formatTarget(t: TargetRatio): string {
  const goal = `target ≥ ${t.target.toFixed(2)}x`;
  if (t.value === undefined) return `${t.name}: not measured (${goal})`;
  const p99 = t.p99 === undefined ? '' : `, p99 ${t.p99.toFixed(2)}x`;
  return `${t.name}: ${t.value.toFixed(3)}x req/s${p99} (${goal}: ${t.value >= t.target ? 'met' : 'MISSED'})`;
}

/** How the agent under bench logs; both fields undefined is the agent's default. */
export interface AgentLogging {
  /** NODEMESH_LOG_LEVEL; undefined is the agent's default, info. */
  readonly logLevel?: string;
  /** false: started with `--access-log off`; undefined is the default, on. */
  readonly accessLog?: boolean;
}

/** The access log writes at info: a level above it drops the lines even when the flag says on. */
export function accessLogOn(l: AgentLogging): boolean {
  return l.accessLog !== false && (l.logLevel === undefined || ['trace', 'debug', 'info'].includes(l.logLevel));
}

/** One line for a bench's header: `default settings (log level info, access log on)` or what differs. */
export function describeAgentLogging(l: AgentLogging): string {
  const level = `log level ${l.logLevel ?? 'info'}`;
  if (l.logLevel === undefined && l.accessLog !== false) return `default settings (${level}, access log on)`;
  const access = l.accessLog === false ? 'access log off (--access-log off)' : accessLogOn(l) ? 'access log on' : 'access log off (below its level)';
  return `${level}, ${access}`;
}
