// The shared rate limiter decides as LocalRateLimiter does (a table, and the same random sequence of
// takes on both), and holds exactly across worker threads hammering one table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LocalRateLimiter } from '../../helpers/ratelimit-model';
import { MAX_SHARED_TOKENS, SharedRateLimiter, tableSlotsFor } from '../../../src/policy/sharedratelimit';
import { limit, req } from '../route/helpers';

test('a table of decisions: starts full, whole-interval fills, capped, retry-after', () => {
  const rl = new SharedRateLimiter();
  const l = limit('l', { maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 1000 });
  const slow = limit('slow', { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 60_000 });
  // [limit, now, admitted, retry-after when refused]
  const steps: [typeof l, number, boolean, number?][] = [
    [l, 0, true], [l, 0, true], [l, 0, true], [l, 0, false, 1],
    [l, 999, false, 1], [l, 1000, true], [l, 1500, true], [l, 1500, false, 1],
    [l, 5000, true], [l, 5000, true], [l, 5000, true], [l, 5000, false, 1],
    [slow, 0, true], [slow, 0, false, 60], [slow, 1000, false, 59], [slow, 59_999, false, 1], [slow, 60_000, true],
    [l, 6500.5, true], [l, 6500.5, true], [l, 6999.9, false, 1], [l, 7000, true],
  ];
  for (const [lim, now, ok, retry] of steps) {
    const d = rl.take(lim, req(), now);
    assert.equal(d.ok, ok, `${lim.name} t=${now}`);
    if (!d.ok) assert.equal(d.retryAfterS, retry, `${lim.name} retry-after at t=${now}`);
  }
});

test('per-key buckets, takeAll all-or-none, and reloads as LocalRateLimiter', () => {
  const rl = new SharedRateLimiter();
  const byHeader = limit('h', { maxTokens: 1, perKey: { header: 'X-User' } });
  const cases: [ReturnType<typeof req>, boolean][] = [
    [req({ headers: { 'x-user': 'a' } }), true],
    [req({ headers: { 'x-user': 'a' } }), false],
    [req({ headers: { 'x-user': 'b' } }), true],
    [req(), true],
    [req({ headers: { 'x-user': '' } }), false], // missing and empty share a bucket
  ];
  for (const [r, ok] of cases) assert.equal(rl.take(byHeader, r, 0).ok, ok);
  assert.equal(rl.bucketCount(byHeader), 3);

  const wide = limit('wide', { maxTokens: 5 });
  const narrow = limit('narrow', { maxTokens: 1, fillIntervalMs: 2000 });
  assert.deepEqual(rl.takeAll([], req(), 0), { ok: true });
  assert.deepEqual(rl.takeAll([wide, narrow], req(), 0), { ok: true });
  const refused = rl.takeAll([wide, narrow], req(), 0);
  assert.equal(refused.ok === false && refused.limit, narrow);
  assert.equal(refused.ok === false && refused.retryAfterS, 2);
  for (let i = 0; i < 4; i++) assert.equal(rl.take(wide, req(), 0).ok, true, 'the refused request took nothing from wide');
  assert.equal(rl.take(wide, req(), 0).ok, false);

  // Reload (the limits come back as new objects): an equal limit keeps its bucket, a changed one starts over.
  assert.equal(rl.take(limit('wide', { maxTokens: 5 }), req(), 0).ok, false, 'still empty');
  assert.equal(rl.take(limit('wide', { maxTokens: 6 }), req(), 0).ok, true, 'changed: new bucket, full');
});

/** A small seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the same random sequence of takes gets the same decisions from both limiters', () => {
  const limits = [
    limit('a', { maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 250 }),
    limit('b', { maxTokens: 10, tokensPerFill: 4, fillIntervalMs: 1000 }),
    limit('c', { maxTokens: 2, tokensPerFill: 2, fillIntervalMs: 700, perKey: { header: 'k' } }),
    limit('d', { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 3000, perKey: { sourcePrincipal: true } }),
  ];
  for (const seed of [1, 2, 3]) {
    const rand = rng(seed);
    const local = new LocalRateLimiter();
    const shared = new SharedRateLimiter({ slots: tableSlotsFor(limits, 64) });
    let now = 0;
    for (let i = 0; i < 5000; i++) {
      now += Math.floor(rand() * 60);
      const r = req({ headers: { k: String(Math.floor(rand() * 20)) }, sourcePrincipal: `p${Math.floor(rand() * 8)}` });
      const pick = limits.filter(() => rand() < 0.5);
      const a = local.takeAll(pick, r, now);
      const b = shared.takeAll(pick, r, now);
      assert.deepEqual(b, a, `seed ${seed} step ${i} t=${now}`);
    }
  }
});

test('a full table takes over a full bucket, and a bucket that passes 2^31 fills is rebased', () => {
  const rl = new SharedRateLimiter({ slots: 16 });
  const l = limit('k', { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 10, perKey: { header: 'k' } });
  const as = (k: string) => req({ headers: { k } });
  for (let i = 0; i < 16; i++) assert.equal(rl.take(l, as(String(i)), 0).ok, true);
  assert.equal(rl.bucketCount(l), 16);
  assert.equal(rl.take(l, as('new'), 0).ok, true, 'no slot free or full: a slot is taken over, the key starts full');
  assert.equal(rl.take(l, as('newer'), 100).ok, true, 'the others refilled: a full one is taken over');
  assert.equal(rl.bucketCount(l), 16);

  const fast = limit('fast', { maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 1 });
  const r = new SharedRateLimiter();
  const late = 2 ** 31 + 5;
  assert.equal(r.take(fast, req(), 0).ok, true);
  for (let i = 0; i < 3; i++) assert.equal(r.take(fast, req(), late).ok, true);
  assert.equal(r.take(fast, req(), late).ok, false);
  assert.equal(r.take(fast, req(), late + 1).ok, true, 'fills go on after the rebase');
  assert.equal(r.take(fast, req(), late + 1).ok, false);
});

test('a bucket left half-written by a stopped worker is repaired, not spun on forever', () => {
  const rl = new SharedRateLimiter({ slots: 16 });
  const l = limit('stuck', { maxTokens: 2 });
  assert.equal(rl.take(l, req(), 0).ok, true);
  const words = new BigInt64Array(rl.buffer);
  const slot = [...Array(16).keys()].find((i) => words[i * 5] !== 0n)!;
  words[slot * 5 + 2] = 0n; // the bucket word as a claim leaves it before it is published
  assert.equal(rl.take(l, req(), 10).ok, true, 'repaired full');
  assert.equal(rl.take(l, req(), 10).ok, true);
  assert.equal(rl.take(l, req(), 10).ok, false);
});

test('limits above the shared maximum are held at it; table sizes are powers of two', () => {
  const rl = new SharedRateLimiter();
  const huge = limit('huge', { maxTokens: MAX_SHARED_TOKENS + 10 });
  assert.equal(rl.take(huge, req(), 0).ok, true);
  assert.equal(tableSlotsFor([]), 32);
  assert.equal(tableSlotsFor([limit('x', {})]), 64);
  assert.equal(tableSlotsFor([limit('x', { perKey: { header: 'k' } })], 10_000), 32768);
  assert.throws(() => new SharedRateLimiter({ slots: 100 }), /power of two/);
});

test('two worker threads hammering one table admit exactly the capacity plus the fills', async () => {
  const phases = 12;
  const attemptsPerPhase = 800; // phase 0: 1600 takes race for 1000 tokens
  const table = new SharedRateLimiter({ slots: 1024 }).buffer;
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  const file = path.join(__dirname, 'ratelimit-worker.js');
  const workers = [0, 1].map(() => new Worker(file, { workerData: { table, control, phases, attemptsPerPhase } }));
  const totals = { whole: 0, a: 0, b: 0, both: 0 };
  let phaseDone = 0;
  await new Promise<void>((resolve, reject) => {
    let finished = 0;
    for (const w of workers) {
      w.on('error', reject);
      w.on('message', (m: { phase?: number; admitted?: typeof totals }) => {
        if (m.admitted !== undefined) {
          for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += m.admitted[k];
          if (++finished === workers.length) resolve();
          return;
        }
        if (++phaseDone % workers.length === 0) {
          // every worker drained the buckets at this phase's time: one fill interval on, next phase
          Atomics.store(ctl, 1, Atomics.load(ctl, 1) + 100);
          Atomics.add(ctl, 0, 1);
          Atomics.notify(ctl, 0);
        }
      });
    }
  });
  await Promise.all(workers.map((w) => w.terminate()));
  const fills = phases - 1;
  assert.deepEqual(totals, {
    whole: 1000 + fills * 3,
    a: 4 + fills * 2,
    b: 4 + fills * 2,
    both: 5 + fills * 1, // takeAll: the narrower of the two limits decides
  });
});
