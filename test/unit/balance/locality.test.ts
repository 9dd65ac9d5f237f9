// Locality load balancing, the pure parts: priority levels (Istio's LbPriority and failover),
// failoverPriority labels, distribute weights, and which group a pick goes to given health.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalityLbSetting } from '../../../src/config/traffic';
import { chooseGroup, localityMatches, localityOfLabels, parseLocality, planLocality, type LocalityInput, type SelfLocality } from '../../../src/balance/locality';

const SETTING = (s: Partial<LocalityLbSetting> = {}): LocalityLbSetting => ({ failover: [], failoverPriority: [], distribute: [], ...s });
const self = (l: string | undefined, labels: Record<string, string> = {}): SelfLocality => ({ locality: parseLocality(l), labels });
const eps = (...ls: (string | undefined)[]): LocalityInput[] => ls.map((locality) => (locality === undefined ? { labels: {} } : { locality, labels: {} }));

interface PriorityCase {
  name: string;
  setting?: LocalityLbSetting;
  outlier?: boolean;
  self: SelfLocality | undefined;
  endpoints: LocalityInput[];
  /** Expected group per endpoint; undefined = no locality balancing. */
  group: number[] | undefined;
}

const PRIORITIES: PriorityCase[] = [
  { name: 'same zone, same region, other region', self: self('r1/z1'), endpoints: eps('r1/z1', 'r1/z2', 'r2/z3'), group: [0, 1, 2] },
  { name: 'levels are contiguous: no subzone level when no endpoint has one', self: self('r1/z1'), endpoints: eps('r1/z2', 'r2/z1'), group: [0, 1] },
  { name: 'subzone: same subzone before same zone', self: self('r1/z1/s1'), endpoints: eps('r1/z1/s2', 'r1/z1/s1', 'r1/z2/s1'), group: [1, 0, 2] },
  { name: 'an endpoint without locality is "elsewhere"', self: self('r1/z1'), endpoints: eps(undefined, 'r1/z1'), group: [1, 0] },
  { name: 'no outlierDetection: no failover', outlier: false, self: self('r1/z1'), endpoints: eps('r1/z1', 'r2/z1'), group: undefined },
  { name: 'agent locality unknown: nothing to prefer', self: undefined, endpoints: eps('r1/z1', 'r2/z1'), group: undefined },
  { name: 'enabled: false turns it off', setting: SETTING({ enabled: false }), self: self('r1/z1'), endpoints: eps('r1/z1', 'r2/z1'), group: undefined },
  {
    name: 'failover: the target region before other regions',
    setting: SETTING({ failover: [{ from: 'r1', to: 'r3' }] }),
    self: self('r1/z1'),
    endpoints: eps('r2/z1', 'r3/z1', 'r1/z9', 'r1/z1'),
    group: [3, 2, 1, 0],
  },
  {
    name: 'failover of another region does not apply',
    setting: SETTING({ failover: [{ from: 'r5', to: 'r3' }] }),
    self: self('r1/z1'),
    endpoints: eps('r2/z1', 'r3/z1'),
    group: undefined,
  },
  {
    name: 'failoverPriority: more leading labels matched first',
    setting: SETTING({ failoverPriority: ['topology.istio.io/network', 'topology.kubernetes.io/region', 'topology.kubernetes.io/zone'] }),
    self: self('r1/z1', { 'topology.istio.io/network': 'n1' }),
    endpoints: [
      { locality: 'r1/z1', labels: { 'topology.istio.io/network': 'n1' } },
      { locality: 'r1/z2', labels: { 'topology.istio.io/network': 'n1' } },
      { locality: 'r1/z1', labels: { 'topology.istio.io/network': 'n2' } },
      { locality: 'r2/z1', labels: { 'topology.istio.io/network': 'n1' } },
    ],
    group: [0, 1, 3, 2],
  },
  {
    name: 'failoverPriority with failover: regions ordered within a label level',
    setting: SETTING({ failoverPriority: ['app-tier'], failover: [{ from: 'r1', to: 'r2' }] }),
    self: self('r1/z1', { 'app-tier': 'a' }),
    endpoints: [
      { locality: 'r3/z1', labels: { 'app-tier': 'a' } },
      { locality: 'r2/z1', labels: { 'app-tier': 'a' } },
      { locality: 'r1/z1', labels: { 'app-tier': 'b' } },
    ],
    group: [1, 0, 2],
  },
];

for (const c of PRIORITIES) {
  test(`priority: ${c.name}`, () => {
    const plan = planLocality(c.setting ?? SETTING(), c.outlier ?? true, c.self, c.endpoints);
    assert.deepEqual(plan?.group, c.group);
    assert.equal(plan?.weights, undefined);
  });
}

test('no setting at all still prefers the local zone when outlierDetection is set (Istio mesh default)', () => {
  assert.deepEqual(planLocality(undefined, true, self('r1/z1'), eps('r2/z1', 'r1/z1'))?.group, [1, 0]);
  assert.equal(planLocality(undefined, false, self('r1/z1'), eps('r2/z1', 'r1/z1')), undefined);
});

interface DistributeCase {
  name: string;
  from: string;
  to: Record<string, number>;
  endpoints: LocalityInput[];
  /** Weight per endpoint (its group's weight); undefined = the rule does not apply. */
  weights: number[] | undefined;
}

const DISTRIBUTE: DistributeCase[] = [
  { name: '80/20 between zones', from: 'r1/z1/*', to: { 'r1/z1/*': 80, 'r1/z2/*': 20 }, endpoints: eps('r1/z1', 'r1/z2', 'r1/z1'), weights: [80, 20, 80] },
  { name: 'a pattern shares its weight between the localities it matches', from: 'r1/*', to: { 'r1/z1': 50, 'r2/*': 50 }, endpoints: eps('r1/z1', 'r2/a', 'r2/b'), weights: [50, 25, 25] },
  { name: 'the most specific pattern wins', from: '*', to: { 'r1/*': 40, 'r1/z2': 60 }, endpoints: eps('r1/z1', 'r1/z2'), weights: [40, 60] },
  { name: 'a locality no pattern names gets nothing', from: 'r1', to: { 'r1/z1': 100 }, endpoints: eps('r1/z1', 'r2/z1', undefined), weights: [100, 0, 0] },
  { name: 'from must match the agent', from: 'r9/*', to: { 'r1/z1': 100 }, endpoints: eps('r1/z1', 'r1/z2'), weights: undefined },
  { name: 'one locality only: nothing to weigh', from: 'r1/*', to: { 'r1/z1': 100 }, endpoints: eps('r1/z1', 'r1/z1'), weights: undefined },
];

for (const c of DISTRIBUTE) {
  test(`distribute: ${c.name}`, () => {
    // distribute needs no outlierDetection (nothing has to notice failures for weights to apply).
    const plan = planLocality(SETTING({ distribute: [{ from: c.from, to: c.to }] }), false, self('r1/z1/s1'), c.endpoints);
    if (c.weights === undefined) return assert.equal(plan, undefined);
    assert.ok(plan?.weights !== undefined);
    assert.deepEqual(plan.group.map((g) => plan.weights![g]), c.weights);
  });
}

test('chooseGroup: priority levels go to the first level with a healthy endpoint', () => {
  const plan = { group: [0, 1, 2], groups: 3 };
  const table: [boolean[], number][] = [
    [[true, true, true], 0],
    [[false, true, true], 1],
    [[false, false, true], 2],
    [[false, false, false], -1],
  ];
  for (const [healthy, want] of table) assert.equal(chooseGroup(plan, (g) => healthy[g]!, () => 0), want, JSON.stringify(healthy));
});

test('chooseGroup: distribute is weighted, skips unhealthy and zero-weight groups', () => {
  const plan = { group: [0, 1, 2], groups: 3, weights: [80, 20, 0] };
  const all = (): boolean => true;
  assert.equal(chooseGroup(plan, all, () => 0), 0);
  assert.equal(chooseGroup(plan, all, () => 0.79), 0);
  assert.equal(chooseGroup(plan, all, () => 0.81), 1);
  assert.equal(chooseGroup(plan, all, () => 0.9999999), 1);
  assert.equal(chooseGroup(plan, (g) => g !== 0, () => 0), 1);
  assert.equal(chooseGroup(plan, (g) => g === 2, () => 0), -1);
  // Over many draws the shares follow the weights.
  let seed = 1;
  const rnd = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const counts = [0, 0, 0];
  for (let i = 0; i < 10_000; i++) counts[chooseGroup(plan, all, rnd)]!++;
  assert.ok(counts[0]! > 7_500 && counts[0]! < 8_500, String(counts));
  assert.equal(counts[2], 0);
});

test('locality from labels and patterns', () => {
  assert.equal(localityOfLabels({ 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' }), 'r1/z1');
  assert.equal(localityOfLabels({ 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1', 'topology.istio.io/subzone': 's' }), 'r1/z1/s');
  assert.equal(localityOfLabels({ 'istio-locality': 'r2.z2' }), 'r2/z2');
  assert.equal(localityOfLabels({ app: 'x' }), undefined);
  assert.ok(localityMatches('r1/*', parseLocality('r1/z1')));
  assert.ok(localityMatches('r1', parseLocality('r1/z1/s')));
  assert.ok(!localityMatches('r1/z2', parseLocality('r1/z1')));
  assert.ok(localityMatches('*', undefined));
});
