// Istio accepts a DestinationRule's locality failover without outlierDetection, with a warning: nothing
// would ever notice an unhealthy endpoint, so traffic would never leave the preferred locality.
import type { Origin, Parsed, ParsedDestinationRule } from './kinds/types';
import type { TrafficPolicy } from './traffic';

type Warn = (o: Origin, field: string, message: string) => void;

const MESSAGE = 'locality failover takes effect only with outlierDetection (Istio needs it to notice unhealthy endpoints): add outlierDetection to this policy, or this setting is ignored';

function failsOver(p: TrafficPolicy | undefined): boolean {
  const l = p?.loadBalancer?.locality;
  return l !== undefined && l.enabled !== false && (l.failover.length > 0 || l.failoverPriority.length > 0);
}

export function checkLocalityOutlier(parsed: readonly Parsed[], warn: Warn): void {
  for (const p of parsed) {
    if (p.kind !== 'DestinationRule') continue;
    const { rule } = p as ParsedDestinationRule;
    const top = rule.trafficPolicy;
    const at = (path: string): string => `${path}.loadBalancer.localityLbSetting`;
    if (failsOver(top) && top?.outlierDetection === undefined) warn(p.origin, at('spec.trafficPolicy'), MESSAGE);
    for (const pl of rule.portLevel) {
      if (failsOver(pl) && pl.outlierDetection === undefined) warn(p.origin, at(`spec.trafficPolicy.portLevelSettings(port ${pl.port})`), MESSAGE);
    }
    rule.subsets.forEach((s, i) => {
      const tp = s.trafficPolicy;
      if (failsOver(tp) && tp?.outlierDetection === undefined && top?.outlierDetection === undefined) warn(p.origin, at(`spec.subsets[${i}].trafficPolicy`), MESSAGE);
    });
  }
}
