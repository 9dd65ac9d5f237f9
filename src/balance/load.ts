// Per-endpoint load: requests in flight and a peak-sensitive latency average (Finagle/Linkerd "peak
// EWMA"). Least-request and peak-EWMA balancing read it; the cluster balancer keeps one per endpoint
// ("address:port") and carries it across reloads. Time is passed in, so this is pure.

export interface EwmaOptions {
  /** Decay time constant: a sample this old weighs 1/e. */
  readonly tauMs: number;
  /** Estimate for an endpoint never measured and idle: small, so new endpoints get tried. */
  readonly initialMs: number;
  /**
   * Cost of an endpoint never measured but already busy (plus its active count): large, so a new
   * endpoint is not flooded before its first response says how fast it is (Finagle's penalty).
   */
  readonly penaltyMs: number;
}

export const DEFAULT_EWMA: EwmaOptions = { tauMs: 10_000, initialMs: 1, penaltyMs: 1_000_000 };

export class LoadState {
  /** Requests started and not yet ended. */
  active = 0;
  /** Latency estimate in ms as of `stamp`; meaningful once `measured`. */
  ewma = 0;
  stamp = 0;
  measured = false;
}

/** Records one latency sample: a new peak is taken at once, a lower sample is blended in by age. */
export function observeLatency(s: LoadState, latencyMs: number, now: number, tauMs: number): void {
  const rtt = latencyMs > 0 ? latencyMs : 0;
  if (!s.measured || rtt > s.ewma) {
    s.ewma = rtt;
  } else {
    const w = Math.exp(-Math.max(0, now - s.stamp) / tauMs);
    s.ewma = s.ewma * w + rtt * (1 - w);
  }
  s.measured = true;
  s.stamp = Math.max(s.stamp, now);
}

/** The estimate decayed to `now` (an endpoint that went quiet slowly looks fast again). */
export function latencyEstimate(s: LoadState, now: number, tauMs: number): number {
  return s.ewma * Math.exp(-Math.max(0, now - s.stamp) / tauMs);
}

/** Peak-EWMA cost: estimated latency × (active + 1); see EwmaOptions for unmeasured endpoints. */
export function peakEwmaCost(s: LoadState, now: number, o: EwmaOptions): number {
  if (!s.measured) return s.active === 0 ? o.initialMs : o.penaltyMs + s.active;
  return latencyEstimate(s, now, o.tauMs) * (s.active + 1);
}
