// Percentiles from histogram buckets, as Prometheus' histogram_quantile computes them: find the bucket
// the rank falls in and interpolate linearly inside it (the first bucket starts at 0; a rank in the
// unbounded last bucket answers the highest finite bound). Pure.

/**
 * The Q-quantile (0..1) of non-cumulative COUNTS over buckets with upper BOUNDS (counts has one more
 * slot than bounds: the unbounded bucket). undefined when the histogram is empty.
 */
export function histogramQuantile(q: number, bounds: readonly number[], counts: readonly number[]): number | undefined {
  let total = 0;
  for (const c of counts) total += c;
  if (!(total > 0) || !(q >= 0 && q <= 1)) return undefined;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] as number;
    if (c <= 0 || cum + c < rank) {
      cum += c;
      continue;
    }
    if (i >= bounds.length) return bounds.length > 0 ? (bounds[bounds.length - 1] as number) : undefined;
    const lower = i === 0 ? 0 : (bounds[i - 1] as number);
    const upper = bounds[i] as number;
    return lower + ((upper - lower) * (rank - cum)) / c;
  }
  return bounds[bounds.length - 1];
}
