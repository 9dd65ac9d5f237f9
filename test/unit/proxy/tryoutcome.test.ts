// What the end of a try leads to: resend, retry (or the attempts limit), or the failure's answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryOn, RetryPolicy } from '../../../src/config/traffic';
import type { AttemptFailure, FailureKind } from '../../../src/proxy/attempt';
import {
  TRY_TIMEOUT,
  TRY_TIMEOUT_VERDICT,
  failureOutcome,
  failureVerdict,
  midResponseFlag,
  resendsUnprocessed,
  responseOutcome,
  retryStep,
  type RetryStep,
} from '../../../src/proxy/tryoutcome';
import type { AttemptOutcome } from '../../../src/route/retry';

const policy = (retryOn: RetryOn[], attempts = 2): RetryPolicy => ({ attempts, retryOn, retriableStatusCodes: [], backoffBaseMs: 25, backoffMaxMs: 250 });

const failure = (kind: FailureKind, over: Partial<AttemptFailure> = {}): AttemptFailure => ({
  kind,
  code: undefined,
  message: kind,
  afterHeaders: false,
  unprocessed: false,
  ...over,
});

test('responseOutcome: the status, with the grpc-status when there is one', () => {
  assert.deepEqual(responseOutcome(503, ''), { kind: 'response', status: 503 });
  assert.deepEqual(responseOutcome(200, '14'), { kind: 'response', status: 200, grpcStatus: 14 });
  assert.deepEqual(responseOutcome(200, '0'), { kind: 'response', status: 200, grpcStatus: 0 });
});

test('failureOutcome: connect failure and refused stream as such, a reset or a malformed head as a reset', () => {
  const cases: [FailureKind, AttemptOutcome['kind']][] = [
    ['connect-failure', 'connect-failure'],
    ['refused-stream', 'refused-stream'],
    ['reset', 'reset'],
    ['protocol', 'reset'],
  ];
  for (const [kind, want] of cases) assert.equal(failureOutcome(failure(kind)).kind, want, kind);
  assert.equal(failureOutcome(failure('reset')), failureOutcome(failure('protocol')), 'shared, not made per try');
  assert.equal(TRY_TIMEOUT.kind, 'timeout');
});

test('failureVerdict and midResponseFlag: status, flag and catalog error of a failure', () => {
  /** [kind, code, error, flag, status]. */
  const cases: [FailureKind, string | undefined, string, string, number | undefined][] = [
    ['connect-failure', 'ECONNREFUSED', 'UPSTREAM_CONNECT', 'UF', 503],
    ['connect-failure', 'EMFILE', 'UPSTREAM_CONNECT', 'UF', 503],
    ['reset', 'ECONNRESET', 'UPSTREAM_TERMINATED', 'UC', 503],
    ['refused-stream', undefined, 'UPSTREAM_TERMINATED', 'UC', 503],
    ['reset', 'HPE_INVALID_CONSTANT', 'UPSTREAM_PROTOCOL', 'UPE', 502],
    ['protocol', undefined, 'UPSTREAM_PROTOCOL', 'UPE', 502],
  ];
  for (const [kind, code, error, flag, status] of cases) {
    const v = failureVerdict(failure(kind, { code }));
    assert.deepEqual([v.error, v.flag, v.status], [error, flag, status], `${kind} ${code}`);
  }
  assert.deepEqual([TRY_TIMEOUT_VERDICT.error, TRY_TIMEOUT_VERDICT.flag, TRY_TIMEOUT_VERDICT.status], ['UPSTREAM_TIMEOUT', 'UT', 504]);
  assert.equal(midResponseFlag(failure('protocol', { afterHeaders: true })), 'UPE');
  assert.equal(midResponseFlag(failure('reset', { afterHeaders: true })), 'UR');
  assert.equal(midResponseFlag(failure('connect-failure')), 'UR');
});

test('resendsUnprocessed: once, before anything of a response, with the body kept', () => {
  const un = failure('refused-stream', { unprocessed: true });
  const stale = failure('reset', { unprocessed: true });
  /** [failure, committed, resent, replayable, has a body, resends?]. */
  const cases: [AttemptFailure, boolean, boolean, boolean, boolean, boolean][] = [
    [un, false, false, true, false, true],
    [un, false, false, true, true, true],
    [un, false, true, true, false, false],
    [un, true, false, true, false, false],
    [un, false, false, false, true, false],
    [failure('refused-stream', { unprocessed: true, afterHeaders: true }), false, false, true, false, false],
    [failure('reset'), false, false, true, false, false],
    // A pooled HTTP/1 connection closed under the request: inferred, so bodyless requests only.
    [stale, false, false, true, false, true],
    [stale, false, false, true, true, false],
  ];
  for (const [f, committed, resent, replayable, hasBody, want] of cases) {
    assert.equal(resendsUnprocessed(f, committed, resent, replayable, hasBody), want, JSON.stringify([f, committed, resent, replayable, hasBody]));
  }
});

test('retryStep: final unless the policy retries the outcome and the request still can be; then the attempts decide', () => {
  const on5xx = policy(['5xx']);
  const connectOnly = policy(['connect-failure']);
  const grpc = policy(['unavailable']);
  /** [policy, outcome, isGrpc, retriable, retries, step]. */
  const cases: [RetryPolicy | undefined, AttemptOutcome, boolean, boolean, number, RetryStep][] = [
    [undefined, responseOutcome(503, ''), false, true, 0, 'final'],
    [on5xx, responseOutcome(503, ''), false, true, 0, 'retry'],
    [on5xx, responseOutcome(503, ''), false, true, 1, 'retry'],
    [on5xx, responseOutcome(503, ''), false, true, 2, 'limit'],
    [on5xx, responseOutcome(503, ''), false, false, 0, 'final'],
    [on5xx, responseOutcome(503, ''), false, false, 2, 'final'],
    [on5xx, responseOutcome(404, ''), false, true, 0, 'final'],
    [on5xx, TRY_TIMEOUT, false, true, 0, 'retry'],
    [on5xx, failureOutcome(failure('reset')), false, true, 0, 'retry'],
    [connectOnly, failureOutcome(failure('connect-failure')), false, true, 0, 'retry'],
    [connectOnly, failureOutcome(failure('reset')), false, true, 0, 'final'],
    [connectOnly, TRY_TIMEOUT, false, true, 0, 'final'],
    [grpc, responseOutcome(200, '14'), true, true, 0, 'retry'],
    [grpc, responseOutcome(200, '14'), false, true, 0, 'final'],
    [grpc, responseOutcome(200, '0'), true, true, 0, 'final'],
    [policy(['5xx'], 0), responseOutcome(503, ''), false, true, 0, 'final'],
  ];
  for (const [p, outcome, isGrpc, retriable, retries, want] of cases) {
    assert.equal(retryStep(p, outcome, isGrpc, retriable, retries), want, JSON.stringify([p?.retryOn, outcome, isGrpc, retriable, retries]));
  }
});
