// Slow start (DestinationRule loadBalancer.warmup / warmupDurationSecs), as Envoy's slow start mode: an
// endpoint seen for less than the warmup duration gets a share of traffic that rises with its age,
// weight × max(minimumPercent, (age / duration) ^ (1 / aggression)), so a new pod is not flooded while
// it warms its caches. Endpoints seen together ramp together: equal factors leave the plain algorithm
// in charge. Otherwise round robin and least request take the factors as weights through a smooth
// weighted round robin (Envoy uses an EDF scheduler: the same order, without a heap); least request
// divides each by the endpoint's active requests + 1, as Envoy's weighted least request does.
// Endpoint weights do not apply (plain round robin and least request ignore them too).
import type { Warmup } from '../config/traffic';
import type { Algorithm, Healthy, PickEnv } from './algorithm';
import { LeastRequest, RoundRobin } from './algorithm';
import type { Target } from './target';

/** The slow-start factor in (0, 1] of an endpoint seen AGE_MS ago. */
export function slowStartFactor(ageMs: number, w: Warmup): number {
  if (ageMs >= w.durationMs) return 1;
  const t = Math.max(1, ageMs) / w.durationMs;
  const f = w.aggression === 1 ? t : Math.pow(t, 1 / w.aggression);
  return Math.max(f, w.minimumPercent / 100);
}

/**
 * Smooth weighted round robin (nginx): every candidate gains its weight, the one with the most wins and
 * pays the total back. CURRENT holds the running credit per index (resized by the caller). Weights may
 * change from pick to pick. -1 when no index passes HEALTHY or all weights are 0.
 */
export function pickSmoothWeighted(n: number, healthy: Healthy, weight: (i: number) => number, current: number[]): number {
  let best = -1;
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (healthy !== undefined && !healthy(i)) continue;
    const w = weight(i);
    if (!(w > 0)) continue;
    current[i] = (current[i] ?? 0) + w;
    total += w;
    if (best < 0 || current[i]! > current[best]!) best = i;
  }
  if (best >= 0) current[best]! -= total;
  return best;
}

/** When each endpoint (by key) was first seen; endpoints that left and come back start again. */
export class FirstSeen {
  private readonly seen = new Map<string, number>();
  private pending = true;

  /** The target list changed: the next ages() records newcomers and forgets the gone. */
  changed(): void {
    this.pending = true;
  }

  /** Age in ms of each target at NOW, aligned with TARGETS. */
  ages(targets: readonly Target[], now: number, out: number[]): number[] {
    if (this.pending) {
      this.pending = false;
      const keep = new Set<string>();
      for (const t of targets) {
        keep.add(t.key);
        if (!this.seen.has(t.key)) this.seen.set(t.key, now);
      }
      for (const k of this.seen.keys()) if (!keep.has(k)) this.seen.delete(k);
    }
    out.length = targets.length;
    for (let i = 0; i < targets.length; i++) out[i] = now - (this.seen.get(targets[i]!.key) ?? now);
    return out;
  }
}

/** Round robin or least request with slow start; the plain algorithm once no endpoint is warming. */
class SlowStart implements Algorithm {
  private readonly first = new FirstSeen();
  private readonly age: number[] = [];
  private readonly factor: number[] = [];
  private current: number[] = [];
  private readonly plain: Algorithm;

  constructor(
    private readonly warmup: Warmup,
    private readonly leastRequest: boolean,
  ) {
    this.plain = leastRequest ? new LeastRequest() : new RoundRobin();
  }

  update(targets: readonly Target[]): void {
    this.first.changed();
    this.current = new Array<number>(targets.length).fill(0);
    this.plain.update?.(targets);
  }

  pick(targets: readonly Target[], healthy: Healthy, input: Parameters<Algorithm['pick']>[2], env: PickEnv): number {
    const ages = this.first.ages(targets, env.now, this.age);
    const factor = this.factor;
    factor.length = targets.length;
    let equal = true;
    for (let i = 0; i < targets.length; i++) {
      factor[i] = slowStartFactor(ages[i]!, this.warmup);
      if (factor[i] !== factor[0]) equal = false;
    }
    if (equal) return this.plain.pick(targets, healthy, input, env);
    if (this.current.length !== targets.length) this.current = new Array<number>(targets.length).fill(0);
    const loads = env.loads;
    const weight = (i: number): number => (this.leastRequest ? factor[i]! / ((loads[i]?.active ?? 0) + 1) : factor[i]!);
    return pickSmoothWeighted(targets.length, healthy, weight, this.current);
  }
}

export function slowStartAlgorithm(warmup: Warmup, leastRequest: boolean): Algorithm {
  return new SlowStart(warmup, leastRequest);
}
