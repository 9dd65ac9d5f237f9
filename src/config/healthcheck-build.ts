// The cross-document pass for HealthChecks: the host to one service, the subset to its DestinationRule's
// labels, the port to one of the service's ports; and no endpoint probed by two checks.
import type { Service } from './model';
import type { DestinationRule, HealthCheck } from './traffic';
import type { Origin, ParsedHealthCheck } from './kinds/types';

type Resolve = (host: string, namespace: string, port: number | undefined, report: (m: string) => void) => Service | undefined;

export function resolveHealthChecks(
  checks: readonly ParsedHealthCheck[],
  rules: readonly DestinationRule[],
  resolve: Resolve,
  report: (o: Origin, field: string, message: string) => void,
): HealthCheck[] {
  const out: HealthCheck[] = [];
  const claimed = new Map<string, Origin>();
  for (const c of checks) {
    const hc = c.check;
    const s = resolve(c.host, hc.namespace, hc.port, (m) => report(c.origin, 'spec.host', m));
    if (s === undefined) continue;
    if (s.dataplane === 'kernel') {
      report(c.origin, 'spec.host', `service ${s.key} uses the kernel dataplane (balanced in the kernel, where health is not consulted); these checks would change nothing`);
      continue;
    }
    if (hc.port !== undefined && !s.ports.some((p) => p.number === hc.port)) {
      report(c.origin, 'spec.port', `service ${s.key} has no port ${hc.port} (ports: ${s.ports.map((p) => p.number).join(', ')})`);
      continue;
    }
    let subsetLabels: Readonly<Record<string, string>> | undefined;
    if (hc.subset !== undefined) {
      const rule = rules.find((r) => r.service === s.key);
      const subset = rule?.subsets.find((x) => x.name === hc.subset);
      if (subset === undefined) {
        const known = rule?.subsets.map((x) => `"${x.name}"`).join(', ');
        report(c.origin, 'spec.subset', rule === undefined ? `no DestinationRule defines subsets of service ${s.key}` : `unknown subset "${hc.subset}" (DestinationRule ${rule.namespace}/${rule.name} has ${known || 'none'})`);
        continue;
      }
      subsetLabels = subset.labels;
    }
    const key = `${s.key} ${hc.subset ?? ''}`;
    const first = claimed.get(key);
    if (first !== undefined) {
      report(c.origin, 'spec.host', `service ${s.key}${hc.subset ? ` subset ${hc.subset}` : ''} is already checked by HealthCheck ${first.name} (${first.file} document ${first.document}); keep one`);
      continue;
    }
    claimed.set(key, c.origin);
    out.push({ ...hc, service: s.key, ...(subsetLabels !== undefined ? { subsetLabels } : {}) });
  }
  return out;
}
