import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeastRequest, Passthrough, PeakEwma, RandomPick, RoundRobin, pickP2C, pickRandom, type Algorithm, type PickInput } from '../../../src/balance/algorithm';
import { DEFAULT_EWMA, LoadState, observeLatency, peakEwmaCost } from '../../../src/balance/load';
import { env, load, scripted, targetsOf } from './helpers';

const T4 = targetsOf(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
const mask = (bits: string) => (i: number) => bits[i] === '1';

interface Case {
  name: string;
  algo: () => Algorithm;
  healthy?: string;
  random: number[];
  loads?: LoadState[];
  now?: number;
  input?: PickInput;
  /** Indices of consecutive picks. */
  want: number[];
}

const CASES: Case[] = [
  { name: 'round robin cycles', algo: () => new RoundRobin(), random: [0], want: [0, 1, 2, 3, 0] },
  { name: 'round robin skips unhealthy', algo: () => new RoundRobin(), healthy: '1010', random: [0], want: [0, 2, 0, 2] },
  { name: 'round robin: none healthy', algo: () => new RoundRobin(), healthy: '0000', random: [0], want: [-1] },
  { name: 'random: scripted', algo: () => new RandomPick(), random: [0, 0.26, 0.5, 0.99, 1], want: [0, 1, 2, 3, 3] },
  { name: 'random: only among healthy', algo: () => new RandomPick(), healthy: '0110', random: [0, 0.49, 0.5, 0.99], want: [1, 1, 2, 2] },
  { name: 'random: none healthy', algo: () => new RandomPick(), healthy: '0000', random: [0.5], want: [-1] },
  // P2C: candidates a = floor(r1 * m), b = floor(r2 * (m - 1)) shifted past a; the less loaded wins.
  { name: 'least request: less loaded of two', algo: () => new LeastRequest(), random: [0, 0.5], loads: [load(5), load(9), load(1), load(0)], want: [2] },
  { name: 'least request: other order', algo: () => new LeastRequest(), random: [0.75, 0], loads: [load(5), load(9), load(1), load(0)], want: [3] },
  { name: 'least request: tie goes to the first candidate', algo: () => new LeastRequest(), random: [0.5, 0], loads: [load(2), load(0), load(2), load(0)], want: [2] },
  { name: 'least request: healthy only', algo: () => new LeastRequest(), healthy: '1001', random: [0, 0], loads: [load(3), load(0), load(0), load(1)], want: [3] },
  { name: 'least request: single healthy', algo: () => new LeastRequest(), healthy: '0100', random: [0.9], loads: [load(0), load(9), load(0), load(0)], want: [1] },
  { name: 'least request: none healthy', algo: () => new LeastRequest(), healthy: '0000', random: [0.9], want: [-1] },
  { name: 'passthrough: the dialled endpoint', algo: () => new Passthrough(), random: [0], input: { originalDst: '10.0.0.3' }, want: [2, 2] },
  { name: 'passthrough: address:port form', algo: () => new Passthrough(), random: [0], input: { originalDst: '10.0.0.4:8080' }, want: [3] },
  { name: 'passthrough: a VIP is no endpoint: random', algo: () => new Passthrough(), random: [0.3, 0.8], input: { originalDst: '10.96.0.1' }, want: [1, 3] },
  { name: 'passthrough: unhealthy dialled endpoint: random healthy', algo: () => new Passthrough(), healthy: '1101', random: [0.9], input: { originalDst: '10.0.0.3' }, want: [3] },
  // Peak EWMA: cost = estimate × (active + 1); unmeasured idle = 1 ms, unmeasured busy = penalty.
  { name: 'peak ewma: faster wins at equal load', algo: () => new PeakEwma(), random: [0, 0.5], loads: [load(0, 50), load(0, 10), load(0, 5), load(0, 1)], want: [2] },
  { name: 'peak ewma: a busy fast one loses to an idle slower one', algo: () => new PeakEwma(), random: [0, 0.5], loads: [load(0, 30), load(0, 1), load(9, 5), load(0, 1)], want: [0] },
  { name: 'peak ewma: an unmeasured idle endpoint is tried', algo: () => new PeakEwma(), random: [0, 0], loads: [load(0, 5), load(0), load(0), load(0)], want: [1] },
  { name: 'peak ewma: an unmeasured busy endpoint is not flooded', algo: () => new PeakEwma(), random: [0, 0], loads: [load(0, 500), load(1), load(0), load(0)], want: [0] },
];

for (const c of CASES) {
  test(`algorithm: ${c.name}`, () => {
    const a = c.algo();
    const e = env(T4.length, scripted(...c.random), { loads: c.loads, now: c.now });
    const got = c.want.map(() => a.pick(T4, c.healthy === undefined ? undefined : mask(c.healthy), c.input ?? {}, e));
    assert.deepEqual(got, c.want);
  });
}

test('pickRandom and pickP2C: empty lists', () => {
  assert.equal(pickRandom(0, undefined, Math.random), -1);
  assert.equal(pickP2C(0, undefined, Math.random, () => 0), -1);
});

test('P2C prefers the less loaded: with loads 0..9 the least loaded gets most picks', () => {
  let seed = 1;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const counts = new Array<number>(10).fill(0);
  for (let k = 0; k < 10_000; k++) counts[pickP2C(10, undefined, random, (i) => i)]!++;
  // Index i wins when it is a candidate and the other is larger: share (2 × (9 − i)) / 90.
  for (let i = 0; i < 9; i++) assert.ok(counts[i]! > counts[i + 1]!, `${counts}`);
  assert.equal(counts[9], 0);
  assert.ok(Math.abs(counts[0]! / 10_000 - 0.2) < 0.02, `${counts[0]}`);
});

const EWMA_STEPS: { name: string; steps: [number, number][]; at: number; want: number }[] = [
  { name: 'first sample is the estimate', steps: [[20, 0]], at: 0, want: 20 },
  { name: 'a peak is taken at once', steps: [[5, 0], [80, 1]], at: 1, want: 80 },
  { name: 'a lower sample after one tau blends 1/e of the old', steps: [[100, 0], [10, 10_000]], at: 10_000, want: 100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)) },
  { name: 'the estimate decays when read later', steps: [[100, 0]], at: 10_000, want: 100 * Math.exp(-1) },
];

for (const c of EWMA_STEPS) {
  test(`peak ewma: ${c.name}`, () => {
    const s = new LoadState();
    for (const [ms, now] of c.steps) observeLatency(s, ms, now, DEFAULT_EWMA.tauMs);
    assert.ok(Math.abs(peakEwmaCost(s, c.at, DEFAULT_EWMA) - c.want) < 1e-9, `${peakEwmaCost(s, c.at, DEFAULT_EWMA)}`);
  });
}
