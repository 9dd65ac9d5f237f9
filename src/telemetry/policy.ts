// Which Telemetry settings apply to a workload's requests on one reporter side. Istio's scopes, most
// specific first: a Telemetry with a selector matching the workload in its namespace, then the
// namespace's Telemetry without a selector, then the mesh-wide one (root namespace, no selector). Each
// setting comes from the most specific Telemetry whose entry for the side sets it, so a workload's
// sampling percentage can override the mesh's while span reporting stays as the mesh says. Pure.
import { ROOT_NAMESPACE, type TelemetryMode, type TelemetryPolicy } from '../config/model';

/** The reporter side: the client's (source) or the server's (destination). */
export type Side = 'CLIENT' | 'SERVER';

export interface WorkloadRef {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface TelemetryDecision {
  /** Percent of new traces sampled; undefined = the environment's sampler decides. */
  readonly samplingPercent: number | undefined;
  readonly disableSpanReporting: boolean;
  readonly accessLogDisabled: boolean;
}

export const NO_TELEMETRY: TelemetryDecision = Object.freeze({ samplingPercent: undefined, disableSpanReporting: false, accessLogDisabled: false });

function applies(mode: TelemetryMode, side: Side): boolean {
  return mode === 'CLIENT_AND_SERVER' || mode === side;
}

function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** The policies that apply to WL, most specific first (POLICIES sorted by namespace, then name). */
export function scopesFor(policies: readonly TelemetryPolicy[], wl: WorkloadRef | undefined, root = ROOT_NAMESPACE): TelemetryPolicy[] {
  const workload: TelemetryPolicy[] = [];
  const namespace: TelemetryPolicy[] = [];
  const mesh: TelemetryPolicy[] = [];
  for (const p of policies) {
    if (p.selector === undefined) {
      if (p.namespace === root) mesh.push(p);
      else if (wl !== undefined && p.namespace === wl.namespace) namespace.push(p);
    } else if (wl !== undefined && p.namespace === wl.namespace && selects(p.selector, wl.labels)) workload.push(p);
  }
  return [...workload, ...namespace, ...mesh];
}

/** The settings for WL's requests on SIDE. */
export function decideTelemetry(policies: readonly TelemetryPolicy[], side: Side, wl: WorkloadRef | undefined, root = ROOT_NAMESPACE): TelemetryDecision {
  if (policies.length === 0) return NO_TELEMETRY;
  let samplingPercent: number | undefined;
  let disable: boolean | undefined;
  let logOff: boolean | undefined;
  for (const p of scopesFor(policies, wl, root)) {
    for (const t of p.tracing) {
      if (!applies(t.mode, side)) continue;
      samplingPercent ??= t.randomSamplingPercentage;
      disable ??= t.disableSpanReporting;
    }
    for (const a of p.accessLogging) if (applies(a.mode, side)) logOff ??= a.disabled;
  }
  return { samplingPercent, disableSpanReporting: disable ?? false, accessLogDisabled: logOff ?? false };
}
