// DestinationRule loadBalancer.warmup and the older warmupDurationSecs: slow start of new endpoints
// (balance/warmup.ts applies it). Envoy supports it for round robin and least request only, so it is
// refused with the other balancers rather than silently ignored.
import type { Fields } from '../fields';
import type { LoadBalancer, Warmup } from '../traffic';
import { durationMs, numberIn } from './trafficfields';

export const WARMUP_FIELDS = ['warmup', 'warmupDurationSecs'];

/** The warmup of F (a loadBalancer), undefined when none is set or it is bad (reported). */
export function readWarmup(f: Fields): Warmup | undefined {
  if (f.has('warmup') && f.has('warmupDurationSecs')) {
    f.report('warmupDurationSecs', 'cannot be used together with warmup (warmupDurationSecs is its older form: keep warmup)');
    return undefined;
  }
  if (f.has('warmupDurationSecs')) {
    const ms = durationMs(f, 'warmupDurationSecs');
    return ms === undefined ? undefined : { durationMs: ms, minimumPercent: 10, aggression: 1 };
  }
  const w = f.object('warmup', ['duration', 'minimumPercent', 'aggression']);
  if (w === undefined) return undefined;
  const ms = durationMs(w, 'duration', { required: true });
  const minimumPercent = numberIn(w, 'minimumPercent', 0, 100) ?? 10;
  const aggression = numberIn(w, 'aggression', 1, 1000) ?? 1;
  return ms === undefined ? undefined : { durationMs: ms, minimumPercent, aggression };
}

/** LB with WARMUP added; refused (reported) for balancers other than ROUND_ROBIN and LEAST_REQUEST. */
export function withWarmup(f: Fields, lb: LoadBalancer, warmup: Warmup | undefined): LoadBalancer | undefined {
  if (warmup === undefined) return lb;
  const simple = 'simple' in lb ? lb.simple : undefined;
  if (simple !== 'ROUND_ROBIN' && simple !== 'LEAST_REQUEST') {
    const key = f.has('warmup') ? 'warmup' : 'warmupDurationSecs';
    f.report(key, `applies to ROUND_ROBIN and LEAST_REQUEST only, not ${simple ?? 'consistentHash'} (as in Envoy): remove it or change the balancer`);
    return undefined;
  }
  return { ...lb, warmup };
}
