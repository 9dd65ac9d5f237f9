// Who the client is, as the deciders read it (match.sourceLabels / sourceNamespace, rate-limit keys):
// the workload the listener resolved from the client IP (ConnContext.source), with "unknown" read as ''
// so that no source condition matches an unknown client.
import { UNKNOWN, type SourceInfo } from '../telemetry/labels';

export interface SourceView {
  readonly labels: Readonly<Record<string, string>>;
  readonly namespace: string;
  readonly principal: string;
}

// SourceInfo objects are interned per workload, so one view per workload.
const cache = new WeakMap<SourceInfo, SourceView>();

export function sourceOf(source: SourceInfo): SourceView {
  let v = cache.get(source);
  if (v === undefined) {
    const known = (s: string): string => (s === UNKNOWN ? '' : s);
    v = Object.freeze({
      labels: source.labels,
      namespace: known(source.namespace),
      // The outbound side knows the client's identity from its workload (SourceInfo.identity); the
      // principal label stays "unknown" there, as Istio's source reporter has it.
      principal: source.identity !== '' ? source.identity : known(source.principal),
    });
    cache.set(source, v);
  }
  return v;
}
