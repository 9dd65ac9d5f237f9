// Local rate limiting (the agent's SharedRateLimiter) on an injected clock: Envoy's token bucket (starts
// full, whole-interval fills, capped), per-key buckets, reloads that keep unchanged limits, and takeAll.
// The table's own limits (full table, 2^31 fills, workers) are in test/unit/workers/sharedratelimit.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedRateLimiter } from '../../../src/policy/sharedratelimit';
import { limit, req } from '../route/helpers';

test('bucket starts full, refills tokensPerFill per whole interval, capped at maxTokens', () => {
  const rl = new SharedRateLimiter();
  const l = limit('l', { maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 1000 });
  const r = req();
  // [now, expected ok?, expected retryAfterS when refused]
  const steps: [number, boolean, number?][] = [
    [0, true],
    [0, true],
    [0, true],
    [0, false, 1],
    [999, false, 1], // no whole interval yet
    [1000, true], // +2
    [1500, true],
    [1500, false, 1],
    [5000, true], // +8 capped at 3
    [5000, true],
    [5000, true],
    [5000, false, 1],
  ];
  for (const [now, ok, retry] of steps) {
    const d = rl.take(l, r, now);
    assert.equal(d.ok, ok, `t=${now}`);
    if (!d.ok) assert.equal(d.retryAfterS, retry, `retry-after at t=${now}`);
  }
});

test('retry-after: whole seconds until the next fill, at least 1', () => {
  const rl = new SharedRateLimiter();
  const l = limit('slow', { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 60_000 });
  assert.equal(rl.take(l, req(), 0).ok, true);
  const cases: [number, number][] = [
    [0, 60],
    [500, 60],
    [1000, 59],
    [59_001, 1],
    [59_999, 1],
  ];
  for (const [now, want] of cases) {
    const d = rl.take(l, req(), now);
    assert.equal(d.ok ? 0 : d.retryAfterS, want, `t=${now}`);
  }
  const fast = limit('fast', { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 100 });
  rl.take(fast, req(), 0);
  const d = rl.take(fast, req(), 50);
  assert.equal(d.ok ? 0 : d.retryAfterS, 1);
});

test('per-key buckets: by header (missing = ""), by source principal; no key = one shared bucket', () => {
  const rl = new SharedRateLimiter();
  const byHeader = limit('h', { maxTokens: 1, perKey: { header: 'x-user' } });
  assert.equal(rl.take(byHeader, req({ headers: { 'x-user': 'a' } }), 0).ok, true);
  assert.equal(rl.take(byHeader, req({ headers: { 'x-user': 'a' } }), 0).ok, false);
  assert.equal(rl.take(byHeader, req({ headers: { 'x-user': 'b' } }), 0).ok, true);
  assert.equal(rl.take(byHeader, req(), 0).ok, true);
  assert.equal(rl.take(byHeader, req({ headers: { 'x-user': '' } }), 0).ok, false, 'missing and empty share a bucket');

  const byPrincipal = limit('p', { maxTokens: 1, perKey: { sourcePrincipal: true } });
  assert.equal(rl.take(byPrincipal, req({ sourcePrincipal: 'td/ns/a/sa/x' }), 0).ok, true);
  assert.equal(rl.take(byPrincipal, req({ sourcePrincipal: 'td/ns/a/sa/y' }), 0).ok, true);
  assert.equal(rl.take(byPrincipal, req({ sourcePrincipal: 'td/ns/a/sa/x' }), 0).ok, false);

  const shared = limit('s', { maxTokens: 1 });
  assert.equal(rl.take(shared, req({ sourcePrincipal: 'a' }), 0).ok, true);
  assert.equal(rl.take(shared, req({ sourcePrincipal: 'b' }), 0).ok, false);
});

test('reload: unchanged limits keep their tokens; changed limits start over', () => {
  const rl = new SharedRateLimiter();
  const kept = limit('kept', { maxTokens: 1 });
  const changed = limit('changed', { maxTokens: 1 });
  for (const l of [kept, changed]) assert.equal(rl.take(l, req(), 0).ok, true);
  // Reload: `kept` comes back as an equal new object, `changed` with other parameters.
  const keptAgain = limit('kept', { maxTokens: 1 });
  const changedAgain = limit('changed', { maxTokens: 5 });
  assert.equal(rl.take(keptAgain, req(), 0).ok, false, 'still empty');
  assert.equal(rl.take(changedAgain, req(), 0).ok, true, 'new bucket, full');
  // Changed once more: another new bucket.
  const changedTwice = limit('changed', { maxTokens: 1, fillIntervalMs: 5 });
  assert.equal(rl.take(changedTwice, req(), 0).ok, true);
});

test('takeAll: ok only when every limit has a token; the first refusal names its limit and nothing is consumed', () => {
  const rl = new SharedRateLimiter();
  const wide = limit('wide', { maxTokens: 5 });
  const narrow = limit('narrow', { maxTokens: 1, fillIntervalMs: 2000 });
  assert.deepEqual(rl.takeAll([], req(), 0), { ok: true });
  assert.deepEqual(rl.takeAll([wide, narrow], req(), 0), { ok: true });
  const refused = rl.takeAll([wide, narrow], req(), 0);
  assert.equal(refused.ok, false);
  if (!refused.ok) {
    assert.equal(refused.limit, narrow);
    assert.equal(refused.retryAfterS, 2);
  }
  // wide lost one token only (the refused request took none): 4 left.
  for (let i = 0; i < 4; i++) assert.equal(rl.take(wide, req(), 0).ok, true);
  assert.equal(rl.take(wide, req(), 0).ok, false);
  const single = rl.takeAll([narrow], req(), 100);
  assert.equal(single.ok === false && single.limit.name, 'narrow');
});
