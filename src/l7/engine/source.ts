// Who the client is, as the deciders read it (match.sourceLabels / sourceNamespace, rate-limit keys):
// the workload found by the client IP, looked up once per connection and kept with its context.
import type { Workload } from '../../config/model';
import type { ConnContext, ServiceLookup } from '../../listener/context';
import { UNKNOWN } from '../../telemetry/labels';

/** What the engine reads from the service state beyond ServiceLookup (state/services.ts ServiceIndex has it). */
export interface EngineLookup extends ServiceLookup {
  workloadByIp?(ip: string): Workload | undefined;
}

export interface SourceView {
  readonly labels: Readonly<Record<string, string>>;
  readonly namespace: string;
  readonly principal: string;
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});
const cache = new WeakMap<ConnContext, SourceView>();

/** The client's labels, namespace and principal ("" when unknown, so no source condition matches). */
export function sourceOf(ctx: ConnContext, lookup: EngineLookup): SourceView {
  let v = cache.get(ctx);
  if (v === undefined) {
    const w = lookup.workloadByIp?.(ctx.peer.address);
    const known = (s: string): string => (s === UNKNOWN ? '' : s);
    v = Object.freeze({
      labels: w?.labels ?? NO_LABELS,
      namespace: w?.namespace ?? known(ctx.source.namespace),
      // The outbound side knows the client's identity from its workload (SourceInfo.identity); the
      // principal label stays "unknown" there, as Istio's source reporter has it.
      principal: ctx.source.identity !== '' ? ctx.source.identity : known(ctx.source.principal),
    });
    cache.set(ctx, v);
  }
  return v;
}
