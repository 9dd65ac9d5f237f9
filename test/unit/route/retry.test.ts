// Retry decisions: which outcomes each retryOn condition retries (Envoy), the jittered backoff, and the
// retry budget's counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryOn, RetryPolicy } from '../../../src/config/traffic';
import { RetryBudget, backoffMs, shouldRetry, type AttemptOutcome } from '../../../src/route/retry';

const policy = (retryOn: RetryOn[], over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  attempts: 2,
  retryOn,
  retriableStatusCodes: [],
  backoffBaseMs: 25,
  backoffMaxMs: 250,
  ...over,
});

const status = (s: number, grpcStatus?: number): AttemptOutcome => ({ kind: 'response', status: s, ...(grpcStatus === undefined ? {} : { grpcStatus }) });
const CONNECT: AttemptOutcome = { kind: 'connect-failure' };
const RESET: AttemptOutcome = { kind: 'reset' };
const REFUSED: AttemptOutcome = { kind: 'refused-stream' };
const TIMEOUT: AttemptOutcome = { kind: 'timeout' };

/** [retryOn, outcome, isGrpc, retried?]. */
const TABLE: readonly [RetryOn[], AttemptOutcome, boolean, boolean][] = [
  [['5xx'], status(500), false, true],
  [['5xx'], status(503), false, true],
  [['5xx'], status(599), false, true],
  [['5xx'], status(404), false, false],
  [['5xx'], status(200), false, false],
  [['5xx'], CONNECT, false, true],
  [['5xx'], RESET, false, true],
  [['5xx'], REFUSED, false, true],
  [['5xx'], TIMEOUT, false, true],
  [['gateway-error'], status(502), false, true],
  [['gateway-error'], status(503), false, true],
  [['gateway-error'], status(504), false, true],
  [['gateway-error'], status(500), false, false],
  [['gateway-error'], CONNECT, false, true],
  [['gateway-error'], TIMEOUT, false, true],
  [['reset'], RESET, false, true],
  [['reset'], TIMEOUT, false, true],
  [['reset'], CONNECT, false, true],
  [['reset'], status(503), false, false],
  [['connect-failure'], CONNECT, false, true],
  [['connect-failure'], RESET, false, false],
  [['connect-failure'], TIMEOUT, false, false],
  [['connect-failure'], status(503), false, false],
  [['refused-stream'], REFUSED, false, true],
  [['refused-stream'], RESET, false, false],
  [['retriable-4xx'], status(409), false, true],
  [['retriable-4xx'], status(429), false, false],
  [['retriable-4xx'], status(500), false, false],
  [['cancelled'], status(200, 1), true, true],
  [['deadline-exceeded'], status(200, 4), true, true],
  [['resource-exhausted'], status(200, 8), true, true],
  [['internal'], status(200, 13), true, true],
  [['unavailable'], status(200, 14), true, true],
  [['unavailable'], status(200, 13), true, false],
  [['unavailable'], status(200), true, false],
  [['unavailable'], status(200, 14), false, false],
  [['unavailable'], CONNECT, true, false],
  [['cancelled', 'unavailable'], status(200, 14), true, true],
  [['5xx'], status(200, 14), true, false],
  [[], status(503), false, false],
  [[], RESET, false, false],
];

test('shouldRetry: every retryOn condition against every kind of outcome', () => {
  for (const [on, outcome, grpc, want] of TABLE) {
    assert.equal(shouldRetry(policy(on), outcome, grpc), want, `${on.join(',')} / ${JSON.stringify(outcome)} grpc=${grpc}`);
  }
});

test('retriable status codes; attempts 0 never retries', () => {
  const p = policy(['retriable-status-codes'], { retriableStatusCodes: [429, 418] });
  assert.equal(shouldRetry(p, status(429), false), true);
  assert.equal(shouldRetry(p, status(418), false), true);
  assert.equal(shouldRetry(p, status(503), false), false);
  assert.equal(shouldRetry(policy(['5xx'], { attempts: 0 }), status(503), false), false);
});

test('backoff: full jitter over base × 2^retry, capped at max', () => {
  const p = policy(['5xx']);
  const cases: [number, number, number][] = [
    [0, 1, 25],
    [1, 1, 50],
    [2, 1, 100],
    [3, 1, 200],
    [4, 1, 250],
    [60, 1, 250],
    [2, 0.5, 50],
    [2, 0, 0],
  ];
  for (const [idx, rnd, want] of cases) assert.equal(backoffMs(p, idx, () => rnd), want, `retry ${idx} random ${rnd}`);
});

test('retry budget: max(minRetryConcurrency, percent of active requests), then maxRetries', () => {
  const b = new RetryBudget({ budgetPercent: 20, minRetryConcurrency: 3 });
  for (let i = 0; i < 10; i++) b.requestStarted();
  // 20% of 10 = 2 < 3: the minimum applies.
  assert.deepEqual([b.tryRetry(), b.tryRetry(), b.tryRetry(), b.tryRetry()], ['ok', 'ok', 'ok', 'budget']);
  assert.equal(b.activeRetries, 3);
  for (let i = 0; i < 10; i++) b.requestStarted();
  // 20% of 20 = 4.
  assert.deepEqual([b.tryRetry(), b.tryRetry()], ['ok', 'budget']);
  b.retryEnded();
  assert.equal(b.tryRetry(), 'ok');
  for (let i = 0; i < 30; i++) b.requestEnded(); // never below zero
  assert.equal(b.activeRequests, 0);
  for (let i = 0; i < 10; i++) b.retryEnded();
  assert.equal(b.activeRetries, 0);

  const capped = new RetryBudget({ maxRetries: 1 });
  for (let i = 0; i < 100; i++) capped.requestStarted();
  assert.deepEqual([capped.tryRetry(), capped.tryRetry()], ['ok', 'limit']);

  const defaults = new RetryBudget();
  assert.deepEqual([defaults.tryRetry(), defaults.tryRetry(), defaults.tryRetry(), defaults.tryRetry()], ['ok', 'ok', 'ok', 'budget']);
});
