// What a counter of the admin API's stats added between two answers of the same agent. The stats sum
// counters over the proxy workers; one can go down: a series dropped when its service left the config,
// or a worker's count lost when it crashed after its last scrape. Prometheus' rate() reads a drop as a
// reset to zero and takes the whole new value as the increase: right for one process's counter, a spike
// of the whole total for a sum of which one part restarted. Here a drop is a reset of the baseline
// instead: the interval's increase is unknown (shown as "-"), and the next interval counts from the new
// reading. Pure.

/**
 * The increase from BEFORE to AFTER: a series absent before (new in the interval) counts from zero; a
 * reading that went down gives undefined (a reset: the increase over this interval is unknown).
 */
export function increase(before: number | undefined, after: number): number | undefined {
  if (before === undefined) return after;
  return after < before ? undefined : after - before;
}

/** The increase of each slot (histogram buckets); undefined if any went down or the shape changed. */
export function increases(before: readonly number[] | undefined, after: readonly number[]): number[] | undefined {
  if (before === undefined) return [...after];
  if (before.length !== after.length || after.some((v, i) => v < (before[i] as number))) return undefined;
  return after.map((v, i) => v - (before[i] as number));
}

/** Per second over SECS (undefined: no usable interval, or a reset in it). */
export function perSecond(before: number | undefined, after: number, secs: number | undefined): number | undefined {
  if (secs === undefined) return undefined;
  const d = increase(before, after);
  return d === undefined ? undefined : d / secs;
}
