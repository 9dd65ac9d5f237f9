// Active health checking's judgement of one endpoint (Envoy's unhealthy/healthy thresholds): a healthy
// endpoint turns unhealthy after UNHEALTHY failed checks in a row, an unhealthy one healthy again after
// HEALTHY passed checks in a row. Endpoints start healthy (traffic is not held back before the first
// check). Pure: the prober feeds results in and writes verdicts to the shared HealthTable.

export interface ProbeState {
  readonly healthy: boolean;
  /** Consecutive results against the current verdict (failures while healthy, passes while unhealthy). */
  readonly streak: number;
}

export interface Thresholds {
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

export const INITIAL_PROBE: ProbeState = Object.freeze({ healthy: true, streak: 0 });

/** The state after one check result; `changed` when the verdict flipped. */
export function nextProbe(s: ProbeState, passed: boolean, t: Thresholds): { readonly state: ProbeState; readonly changed: boolean } {
  if (passed === s.healthy) return { state: s.streak === 0 ? s : { healthy: s.healthy, streak: 0 }, changed: false };
  const streak = s.streak + 1;
  const need = s.healthy ? t.unhealthyThreshold : t.healthyThreshold;
  if (streak >= need) return { state: { healthy: !s.healthy, streak: 0 }, changed: true };
  return { state: { healthy: s.healthy, streak }, changed: false };
}

/** An HTTP check passes when the status is one of EXPECTED. */
export function httpPassed(status: number, expected: readonly number[]): boolean {
  return expected.includes(status);
}
