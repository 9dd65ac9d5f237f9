// Localities ("region/zone/subzone") and DestinationRule loadBalancer.localityLbSetting, read and
// validated as Istio validates them: failover between regions, failoverPriority label keys, distribute
// weights summing to 100 per source locality, and distribute never together with failover.
import { Fields, type IntRange } from '../fields';
import { checkLabelKey } from '../formats';
import type { LocalityLbSetting } from '../traffic';
import { bool, strip } from './trafficfields';

export const LOCALITY_FIELDS = ['enabled', 'failover', 'failoverPriority', 'distribute'];
const WEIGHT: IntRange = { min: 0, max: 100 };
const PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** The locality labels, region to subzone (failoverPriority items that failover cannot be combined with). */
const TOPOLOGY_LABELS = ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone'];

/** A workload's locality: up to three non-empty components without wildcards. */
export function checkLocality(s: string): string | undefined {
  const parts = s.split('/');
  if (parts.length > 3) return `must be "region/zone/subzone" (at most three parts), got "${s}"`;
  for (const p of parts) {
    if (!PART.test(p)) return `must be "region/zone/subzone" with each part letters, digits, '-', '_' or '.', got "${s}"`;
  }
  return undefined;
}

/** A locality pattern of distribute: like a locality, and `*` for a whole part (as the last part only). */
export function checkLocalityPattern(s: string): string | undefined {
  const parts = s.split('/');
  if (parts.length > 3) return `must be "region/zone/subzone" (at most three parts, * for any), got "${s}"`;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === '*') {
      if (i !== parts.length - 1) return `a wildcard must be the last part (like "region/*"), got "${s}"`;
      continue;
    }
    if (!PART.test(p)) return `must be "region/zone/subzone" with each part letters, digits, '-', '_' or '.' (or *), got "${s}"`;
  }
  return undefined;
}

function checkRegion(s: string): string | undefined {
  if (s.includes('/')) return `must be a region (failover is between regions), got "${s}"`;
  return PART.test(s) ? undefined : `must be a region name, got "${s}"`;
}

/** loadBalancer.localityLbSetting of LB (the loadBalancer's fields); undefined when absent or invalid. */
export function readLocalityLbSetting(lb: Fields): LocalityLbSetting | undefined {
  const f = lb.object('localityLbSetting', LOCALITY_FIELDS);
  if (f === undefined) return undefined;
  let ok = true;
  const enabled = bool(f, 'enabled');

  const failover: { from: string; to: string }[] = [];
  for (const item of f.list('failover') ?? []) {
    const x = Fields.open(f.sink, item.path, item.value, ['from', 'to']);
    if (x === undefined) {
      ok = false;
      continue;
    }
    const from = x.string('from', { required: true, check: checkRegion });
    const to = x.string('to', { required: true, check: checkRegion });
    if (from === undefined || to === undefined) ok = false;
    else if (from === to) {
      x.report('to', `must differ from "from" (both are "${from}")`);
      ok = false;
    } else if (failover.some((o) => o.from === from)) {
      x.report('from', `region "${from}" already has a failover entry: give each region one`);
      ok = false;
    } else failover.push({ from, to });
  }

  const failoverPriority: string[] = [];
  for (const item of f.list('failoverPriority') ?? []) {
    const key = typeof item.value === 'string' ? item.value : undefined;
    const problem = key === undefined ? 'must be a label key string' : key.includes('=') ? 'label values (key=value) are not supported: give the label key only' : checkLabelKey(key);
    if (problem !== undefined) {
      f.sink.report(item.path, problem);
      ok = false;
    } else if (failoverPriority.includes(key!)) {
      f.sink.report(item.path, `duplicate label key "${key}"`);
      ok = false;
    } else failoverPriority.push(key!);
  }

  const distribute: { from: string; to: Record<string, number> }[] = [];
  for (const item of f.list('distribute') ?? []) {
    const d = Fields.open(f.sink, item.path, item.value, ['from', 'to']);
    if (d === undefined) {
      ok = false;
      continue;
    }
    const from = d.string('from', { required: true, check: checkLocalityPattern });
    const to = d.intMap('to', WEIGHT);
    if (to === undefined && !d.has('to')) d.report('to', 'required field is missing');
    const raw = d.raw('to');
    // An entry already reported (a weight out of range) leaves the sum meaningless: no second report.
    let bad = from === undefined || to === undefined || (raw !== null && typeof raw === 'object' && Object.keys(raw).length !== Object.keys(to).length);
    for (const k of Object.keys(to ?? {})) {
      const problem = checkLocalityPattern(k);
      if (problem !== undefined) {
        d.report('to', `key ${problem}`);
        bad = true;
      }
    }
    const sum = Object.values(to ?? {}).reduce((a, b) => a + b, 0);
    if (!bad && sum !== 100) {
      d.report('to', `weights must sum to 100, got ${sum}`);
      bad = true;
    }
    if (!bad && distribute.some((o) => o.from === from)) {
      d.report('from', `locality "${from}" already has a distribute entry`);
      bad = true;
    }
    if (bad) ok = false;
    else distribute.push({ from: from!, to: to! });
  }

  if (f.has('distribute') && f.has('failover')) {
    f.sink.report(f.path, 'must set only one of distribute, failover (Istio refuses both)');
    ok = false;
  }
  if (f.has('distribute') && f.has('failoverPriority')) {
    f.sink.report(f.path, 'must set only one of distribute, failoverPriority (Istio applies distribute and ignores failoverPriority then): remove failoverPriority, or distribute');
    ok = false;
  }
  // Istio: failover orders regions itself, so the topology labels cannot also be priorities.
  const topology = failover.length > 0 ? failoverPriority.find((k) => TOPOLOGY_LABELS.includes(k)) : undefined;
  if (topology !== undefined) {
    f.report('failoverPriority', `cannot list the topology label "${topology}" together with failover (Istio refuses it): remove it, or remove failover and list ${TOPOLOGY_LABELS.join(', ')} in order`);
    ok = false;
  }
  if (!ok) return undefined;
  return strip({ enabled, failover, failoverPriority, distribute });
}
