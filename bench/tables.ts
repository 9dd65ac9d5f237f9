// Pure helpers shared by the HTTP/2 and routing benches: a plain-text grid, and the summary of runs that
// alternate between two cases (A, B, B, A, …) so that slow drift on a shared machine hits both alike.
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

/** The order of runs, `rounds` times each: a, b, b, a, a, b, … (a drift over time costs both alike). */
export function alternate<K>(a: K, b: K, rounds: number): K[] {
  return Array.from({ length: rounds * 2 }, (_, i) => ((i + (Math.floor(i / 2) % 2)) % 2 === 0 ? a : b));
}
