// Locality load balancing as Istio configures Envoy: endpoints grouped by how close their locality is to
// the agent's (priority levels: same subzone, same zone, same region, the failover region, the rest;
// or by failoverPriority labels), traffic going to the most preferred level that has a healthy endpoint;
// or, with `distribute`, localities weighted by percentages. Pure: the cluster balancer applies the plan.
import type { LocalityLbSetting } from '../config/traffic';

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** Kubernetes' and Istio's topology labels; locality components are also these labels' values. */
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';
/** Istio's per-pod override of the node's locality ("region.zone.subzone" in a label value). */
export const ISTIO_LOCALITY_LABEL = 'istio-locality';

/** The agent's own place: its locality and its node's labels (failoverPriority compares labels). */
export interface SelfLocality {
  readonly locality: Locality | undefined;
  readonly labels: Readonly<Record<string, string>>;
}

/** What the plan needs of each endpoint. */
export interface LocalityInput {
  readonly locality?: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * How a cluster's targets are grouped. Priority levels: group 0 is preferred, then 1, ...; distribute:
 * `weights[g]` is the share of group g (0 = never chosen while another group can take the request).
 */
export interface LocalityPlan {
  readonly group: readonly number[];
  readonly groups: number;
  readonly weights?: readonly number[];
}

export function parseLocality(s: string | undefined): Locality | undefined {
  if (s === undefined || s === '') return undefined;
  const [region = '', zone = '', subzone = ''] = s.split('/');
  return { region, zone, subzone };
}

export function formatLocality(l: Locality): string {
  return [l.region, l.zone, l.subzone].join('/').replace(/\/+$/, '');
}

/** A locality from topology labels (a node's, or a pod's istio-locality override). */
export function localityOfLabels(labels: Readonly<Record<string, string>>): string | undefined {
  const override = labels[ISTIO_LOCALITY_LABEL];
  if (override !== undefined && override !== '') return override.split('.').join('/');
  const region = labels[REGION_LABEL] ?? '';
  const zone = labels[ZONE_LABEL] ?? '';
  const subzone = labels[SUBZONE_LABEL] ?? '';
  if (region === '' && zone === '' && subzone === '') return undefined;
  return formatLocality({ region, zone, subzone });
}

/** "region/zone/*", "region", "*": `*` and missing trailing parts match anything. */
export function localityMatches(pattern: string, l: Locality | undefined): boolean {
  if (pattern === '*') return true;
  const want = pattern.split('/');
  const have = l === undefined ? ['', '', ''] : [l.region, l.zone, l.subzone];
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '*') return true;
    if (want[i] !== have[i]) return false;
  }
  return true;
}

/** Istio's LbPriority: 0 same region, zone and subzone; 1 same zone; 2 same region; 3 elsewhere. */
export function localityPriority(self: Locality, l: Locality | undefined): number {
  if (l === undefined || l.region !== self.region) return 3;
  if (l.zone !== self.zone) return 2;
  return l.subzone === self.subzone ? 0 : 1;
}

/** Istio's failover: other regions are 3 when they are the configured failover target, else 4. */
function failoverPriority(self: Locality, l: Locality | undefined, failover: LocalityLbSetting['failover']): number {
  const p = localityPriority(self, l);
  if (p !== 3) return p;
  const rule = failover.find((f) => f.from === self.region);
  if (rule === undefined) return 3;
  return l !== undefined && l.region === rule.to ? 3 : 4;
}

/** Endpoint labels with its locality's topology labels added (as Istio adds them for failoverPriority). */
function withTopology(labels: Readonly<Record<string, string>>, l: Locality | undefined): Readonly<Record<string, string>> {
  if (l === undefined) return labels;
  return { ...labels, [REGION_LABEL]: l.region, [ZONE_LABEL]: l.zone, [SUBZONE_LABEL]: l.subzone };
}

/** failoverPriority: how many keys, in order, match the agent's value; more matched = preferred. */
function labelPriority(keys: readonly string[], self: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): number {
  let matched = 0;
  for (const k of keys) {
    const v = self[k];
    if (v === undefined || labels[k] !== v) break;
    matched++;
  }
  return keys.length - matched;
}

/** Renumbers levels 0..k-1 keeping their order (Envoy priorities must be contiguous). */
function compress(raw: readonly number[]): LocalityPlan {
  const levels = [...new Set(raw)].sort((a, b) => a - b);
  const index = new Map(levels.map((v, i) => [v, i]));
  return { group: raw.map((p) => index.get(p)!), groups: levels.length };
}

/**
 * The grouping of ENDPOINTS for an agent at SELF under SETTING. undefined = no locality balancing: the
 * agent's locality is unknown, the setting disables it, or (failover) there is no outlier detection,
 * which Istio requires because nothing would ever move traffic to a lower level without it. A plan of
 * a single group is undefined too (it would change nothing).
 */
export function planLocality(
  setting: LocalityLbSetting | undefined,
  outlierDetection: boolean,
  self: SelfLocality | undefined,
  endpoints: readonly LocalityInput[],
): LocalityPlan | undefined {
  const plan = planGroups(setting, outlierDetection, self, endpoints);
  // One group changes nothing: the balancer keeps its fast path.
  return plan !== undefined && plan.groups > 1 ? plan : undefined;
}

function planGroups(
  setting: LocalityLbSetting | undefined,
  outlierDetection: boolean,
  self: SelfLocality | undefined,
  endpoints: readonly LocalityInput[],
): LocalityPlan | undefined {
  if (setting?.enabled === false || self === undefined || endpoints.length === 0) return undefined;
  const mine = self.locality;
  const localities = endpoints.map((e) => parseLocality(e.locality));
  if (setting !== undefined && setting.distribute.length > 0) {
    if (mine === undefined) return undefined;
    const rule = setting.distribute.find((d) => localityMatches(d.from, mine));
    return rule === undefined ? undefined : distribute(rule.to, endpoints, localities);
  }
  if (!outlierDetection) return undefined;
  const keys = setting?.failoverPriority ?? [];
  const failover = setting?.failover ?? [];
  if (keys.length > 0) {
    const selfLabels = withTopology(self.labels, mine);
    const raw = endpoints.map((e, i) => {
      const byLabels = labelPriority(keys, selfLabels, withTopology(e.labels, localities[i]));
      // failover given as well: within a label level, regions order as failover says.
      return failover.length > 0 && mine !== undefined ? byLabels * 5 + failoverPriority(mine, localities[i], failover) : byLabels;
    });
    return compress(raw);
  }
  if (mine === undefined) return undefined;
  return compress(localities.map((l) => failoverPriority(mine, l, failover)));
}

/**
 * distribute's `to`: each endpoint locality takes the most specific pattern matching it; a pattern's
 * weight is shared evenly by the localities it took. Localities no pattern matches get weight 0.
 */
function distribute(to: Readonly<Record<string, number>>, endpoints: readonly LocalityInput[], localities: readonly (Locality | undefined)[]): LocalityPlan {
  const names: string[] = [];
  const group = endpoints.map((e) => {
    const name = e.locality ?? '';
    let g = names.indexOf(name);
    if (g < 0) g = names.push(name) - 1;
    return g;
  });
  const patterns = Object.keys(to);
  const specificity = (p: string): number => (p === '*' ? 0 : p.split('/').filter((x) => x !== '*').length);
  const taken = names.map((name, g) => {
    const l = localities[group.indexOf(g)];
    let best: string | undefined;
    for (const p of patterns) {
      if (!localityMatches(p, l) || (name === '' && p !== '*')) continue;
      if (best === undefined || specificity(p) > specificity(best)) best = p;
    }
    return best;
  });
  const share = new Map<string, number>();
  for (const p of taken) if (p !== undefined) share.set(p, (share.get(p) ?? 0) + 1);
  const weights = taken.map((p) => (p === undefined ? 0 : to[p]! / share.get(p)!));
  return { group, groups: names.length, weights };
}

/**
 * The group to pick in: priority levels, the first with a healthy endpoint; distribute, a weighted
 * random group among those with a healthy endpoint and a weight. -1: none qualifies.
 */
export function chooseGroup(plan: LocalityPlan, healthy: (group: number) => boolean, random: () => number): number {
  const w = plan.weights;
  if (w === undefined) {
    for (let g = 0; g < plan.groups; g++) if (healthy(g)) return g;
    return -1;
  }
  let total = 0;
  for (let g = 0; g < plan.groups; g++) if (w[g]! > 0 && healthy(g)) total += w[g]!;
  if (total <= 0) return -1;
  let r = Math.min(random(), 0.999999999) * total;
  let last = -1;
  for (let g = 0; g < plan.groups; g++) {
    if (!(w[g]! > 0) || !healthy(g)) continue;
    last = g;
    if (r < w[g]!) return g;
    r -= w[g]!;
  }
  return last;
}
