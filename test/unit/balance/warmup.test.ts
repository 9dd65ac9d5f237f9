// Slow start (DestinationRule loadBalancer.warmup): the ramp of a new endpoint's weight, the smooth
// weighted round robin that applies it, round robin and least request with an endpoint added while the
// others are warm, and the DestinationRule fields that set it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Warmup } from '../../../src/config/traffic';
import { createAlgorithm } from '../../../src/balance/cluster';
import { pickSmoothWeighted, slowStartFactor } from '../../../src/balance/warmup';
import { docs, loadText, mustLoad, serviceEntry } from '../config/helpers';
import { env, load, scripted, targetsOf } from './helpers';

const LINEAR: Warmup = { durationMs: 100_000, minimumPercent: 10, aggression: 1 };

test('slowStartFactor: linear from the minimum to 1 over the duration (Envoy slow start)', () => {
  const rows: [number, Warmup, number][] = [
    [0, LINEAR, 0.1],
    [5_000, LINEAR, 0.1],
    [10_000, LINEAR, 0.1],
    [25_000, LINEAR, 0.25],
    [50_000, LINEAR, 0.5],
    [99_000, LINEAR, 0.99],
    [100_000, LINEAR, 1],
    [500_000, LINEAR, 1],
    [0, { ...LINEAR, minimumPercent: 0 }, 1 / 100_000],
    [25_000, { ...LINEAR, minimumPercent: 50 }, 0.5],
    [25_000, { ...LINEAR, aggression: 2 }, 0.5],
    [1_000, { ...LINEAR, minimumPercent: 0, aggression: 4 }, Math.pow(0.01, 0.25)],
  ];
  for (const [age, w, want] of rows) assert.ok(Math.abs(slowStartFactor(age, w) - want) < 1e-9, `age ${age} ${JSON.stringify(w)}: ${slowStartFactor(age, w)} != ${want}`);
});

test('pickSmoothWeighted: shares follow the weights, spread out; unhealthy and zero weights skipped', () => {
  const rows: [number[], string | undefined, number, number[]][] = [
    [[1, 1, 1], undefined, 6, [0, 1, 2, 0, 1, 2]],
    [[5, 1, 1], undefined, 7, [0, 0, 1, 0, 2, 0, 0]],
    [[1, 0.1], undefined, 11, [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]],
    [[1, 1, 1], '101', 4, [0, 2, 0, 2]],
    [[0, 1], undefined, 2, [1, 1]],
    [[1, 1], '00', 1, [-1]],
  ];
  for (const [weights, mask, n, want] of rows) {
    const current: number[] = [];
    const healthy = mask === undefined ? undefined : (i: number) => mask[i] === '1';
    const got = Array.from({ length: n }, () => pickSmoothWeighted(weights.length, healthy, (i) => weights[i]!, current));
    assert.deepEqual(got, want, `${weights.join()} ${mask ?? ''}`);
  }
});

/** Picks by index of N picks at time NOW, one at a time (loads stay as given). */
function counts(algo: ReturnType<typeof createAlgorithm>, targets: ReturnType<typeof targetsOf>, now: number, n: number, loads = targets.map(() => load(0))): number[] {
  const out = targets.map(() => 0);
  const e = env(targets.length, scripted(0.1, 0.6, 0.3, 0.9), { now, loads });
  for (let k = 0; k < n; k++) out[algo.pick(targets, undefined, {}, e)]!++;
  return out;
}

test('round robin with warmup: an endpoint added later ramps up, then gets its even share', () => {
  const algo = createAlgorithm({ simple: 'ROUND_ROBIN', warmup: LINEAR });
  const three = targetsOf(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  algo.update?.(three);
  // Seen together: plain round robin.
  assert.deepEqual(counts(algo, three, 0, 30), [10, 10, 10]);
  const four = targetsOf(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  algo.update?.(four);
  const rows: [number, number[]][] = [
    // Added at 200 s; the others are warm (seen 200 s ago): weights 1, 1, 1 and the factor.
    [200_000, [100, 100, 100, 10]],
    [225_000, [100, 100, 100, 25]],
    [250_000, [100, 100, 100, 50]],
    [300_000, [100, 100, 100, 100]],
  ];
  for (const [now, want] of rows) {
    const total = want.reduce((a, b) => a + b, 0);
    assert.deepEqual(counts(algo, four, now, total), want, `at ${now}`);
  }
});

test('least request with warmup: the factor divided by active requests + 1', () => {
  const algo = createAlgorithm({ simple: 'LEAST_REQUEST', warmup: LINEAR });
  const two = targetsOf(['10.0.0.1']);
  algo.update?.(two);
  counts(algo, two, 0, 1);
  const both = targetsOf(['10.0.0.1', '10.0.0.2']);
  algo.update?.(both);
  const rows: [number, number[], number[]][] = [
    // New endpoint at 10 %: 1 pick in 11 when idle.
    [100_000, [0, 0], [100, 10]],
    // At 50 %, with the warm one twice as busy (weights 1/3 and 0.5/1): 2 to 3.
    [150_000, [2, 0], [40, 60]],
  ];
  for (const [now, active, want] of rows) {
    const total = want.reduce((a, b) => a + b, 0);
    assert.deepEqual(counts(algo, both, now, total, active.map((a) => load(a))), want, `at ${now}`);
  }
  // Warm: back to the plain power of two choices (scripted candidates, equal load: the first one).
  const after = counts(algo, both, 300_000, 4);
  assert.equal(after[0]! + after[1]!, 4);
});

test('an endpoint that leaves and comes back warms again', () => {
  const algo = createAlgorithm({ simple: 'ROUND_ROBIN', warmup: LINEAR });
  const two = targetsOf(['10.0.0.1', '10.0.0.2']);
  algo.update?.(two);
  counts(algo, two, 0, 2);
  const one = targetsOf(['10.0.0.1']);
  algo.update?.(one);
  counts(algo, one, 500_000, 1);
  algo.update?.(two);
  assert.deepEqual(counts(algo, two, 550_000, 110), [100, 10]);
});

const SE = serviceEntry('ratings', { hosts: ['ratings.default.svc.cluster.local'], addresses: ['127.0.10.2'], ports: [{ number: 8080, name: 'http' }], resolution: 'STATIC', endpoints: [{ address: '127.0.0.4' }] });
const dr = (loadBalancer: Record<string, unknown>): string => docs(SE, { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'ratings' }, spec: { host: 'ratings', trafficPolicy: { loadBalancer } } });

test('DestinationRule warmup and warmupDurationSecs load; round robin unless simple says otherwise', () => {
  const rows: [Record<string, unknown>, Record<string, unknown>][] = [
    [{ warmup: { duration: '300s' } }, { simple: 'ROUND_ROBIN', warmup: { durationMs: 300_000, minimumPercent: 10, aggression: 1 } }],
    [{ warmup: { duration: '300s', minimumPercent: 5.0, aggression: 5.0 } }, { simple: 'ROUND_ROBIN', warmup: { durationMs: 300_000, minimumPercent: 5, aggression: 5 } }],
    [{ simple: 'LEAST_REQUEST', warmupDurationSecs: '60s' }, { simple: 'LEAST_REQUEST', warmup: { durationMs: 60_000, minimumPercent: 10, aggression: 1 } }],
    [{ simple: 'ROUND_ROBIN' }, { simple: 'ROUND_ROBIN' }],
  ];
  for (const [lb, want] of rows) {
    const c = mustLoad(dr(lb));
    assert.deepEqual(c.traffic?.destinationRules[0]?.trafficPolicy?.loadBalancer, want, JSON.stringify(lb));
  }
});

test('DestinationRule warmup: bad values and other balancers are refused at their field', () => {
  const P = 'spec.trafficPolicy.loadBalancer';
  const rows: [Record<string, unknown>, string, string][] = [
    [{ simple: 'RANDOM', warmup: { duration: '30s' } }, `${P}.warmup`, 'applies to ROUND_ROBIN and LEAST_REQUEST only, not RANDOM'],
    [{ consistentHash: { useSourceIp: true }, warmupDurationSecs: '30s' }, `${P}.warmupDurationSecs`, 'not consistentHash'],
    [{ warmup: { duration: '30s' }, warmupDurationSecs: '30s' }, `${P}.warmupDurationSecs`, 'cannot be used together with warmup'],
    [{ warmup: {} }, `${P}.warmup.duration`, 'required field is missing'],
    [{ warmup: { duration: '30s', minimumPercent: 120 } }, `${P}.warmup.minimumPercent`, 'between 0 and 100'],
    [{ warmup: { duration: '30s', aggression: 0.5 } }, `${P}.warmup.aggression`, 'between 1 and 1000'],
    [{ warmupDurationSecs: 30 }, `${P}.warmupDurationSecs`, 'must be a duration string'],
  ];
  for (const [lb, field, message] of rows) {
    const r = loadText(dr(lb));
    assert.equal(r.ok, false, JSON.stringify(lb));
    if (r.ok) continue;
    assert.ok(r.issues.some((i) => i.field === field && i.message.includes(message)), `${field}: ${message} in ${JSON.stringify(r.issues)}`);
  }
});
