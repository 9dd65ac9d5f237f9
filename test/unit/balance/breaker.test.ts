import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Breaker, Breakers, limitsOf, UNLIMITED } from '../../../src/balance/breaker';

const LIMITS: { name: string; pool: Parameters<typeof limitsOf>[0]; want: ReturnType<typeof limitsOf> }[] = [
  { name: 'no pool: unlimited', pool: undefined, want: { maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED, maxRequestsPerConnection: 0, maxRetries: UNLIMITED } },
  { name: 'unset and 0 fields: unlimited', pool: { maxConnections: 0, connectTimeoutMs: 5 }, want: { maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED, maxRequestsPerConnection: 0, maxRetries: UNLIMITED } },
  {
    name: 'all set',
    pool: { maxConnections: 1, http1MaxPendingRequests: 2, http2MaxRequests: 3, maxRequestsPerConnection: 4, maxRetries: 5 },
    want: { maxConnections: 1, maxPendingRequests: 2, maxRequests: 3, maxRequestsPerConnection: 4, maxRetries: 5 },
  },
];

for (const c of LIMITS) test(`breaker limits: ${c.name}`, () => assert.deepEqual(limitsOf(c.pool), c.want));

test('breaker: requests overflow past http2MaxRequests; done frees a slot', () => {
  const b = new Breaker('c', { http2MaxRequests: 2 });
  assert.deepEqual([b.tryRequest(), b.tryRequest(), b.tryRequest()], ['ok', 'ok', 'overflow']);
  b.requestDone();
  assert.equal(b.tryRequest(), 'ok');
  assert.equal(b.overflows.requests, 1);
  assert.equal(b.requests, 2);
});

test('breaker: retries overflow past maxRetries', () => {
  const b = new Breaker('c', { maxRetries: 1 });
  assert.deepEqual([b.tryRetry(), b.tryRetry()], [true, false]);
  b.retryDone();
  assert.equal(b.tryRetry(), true);
  assert.equal(b.overflows.retries, 1);
});

test('breaker: connections, then pending up to http1MaxPendingRequests, then overflow', () => {
  const b = new Breaker('c', { maxConnections: 2, http1MaxPendingRequests: 2 });
  const decisions: string[] = [];
  const order: string[] = [];
  for (const name of ['r1', 'r2', 'r3', 'r4', 'r5']) {
    const d = b.connectDecision();
    decisions.push(d);
    if (d === 'open') b.connectionOpened();
    else if (d === 'pending') assert.ok(b.enqueue(() => order.push(name)));
  }
  assert.deepEqual(decisions, ['open', 'open', 'pending', 'pending', 'overflow']);
  assert.equal(b.enqueue(() => order.push('late')), undefined, 'the queue is full');
  assert.deepEqual(b.overflows, { connections: 3, pending: 2, requests: 0, retries: 0 });
  // FIFO: a released (idle) connection goes to the oldest waiter.
  assert.equal(b.connectionReleased(), true);
  assert.deepEqual(order, ['r3']);
  // A closed connection makes room to open one: the next waiter is woken to open it.
  assert.equal(b.connectionClosed(), true);
  assert.deepEqual(order, ['r3', 'r4']);
  assert.equal(b.connectionReleased(), false, 'nobody waits');
  assert.equal(b.pending, 0);
  assert.equal(b.connections, 1);
});

test('breaker: cancelled waiters leave the queue; front re-queue keeps the turn', () => {
  const b = new Breaker('c', { maxConnections: 1, http1MaxPendingRequests: 3 });
  b.connectionOpened();
  const order: string[] = [];
  const w1 = b.enqueue(() => order.push('w1'))!;
  const w2 = b.enqueue(() => order.push('w2'))!;
  b.enqueue(() => order.push('w3'));
  assert.equal(w2.cancel(), true);
  assert.equal(w2.cancel(), false);
  assert.equal(b.pending, 2);
  b.enqueue(() => order.push('w0'), true);
  b.connectionReleased();
  b.connectionReleased();
  b.connectionReleased();
  assert.deepEqual(order, ['w0', 'w1', 'w3']);
  assert.equal(w1.cancel(), false, 'already woken');
  assert.equal(b.pending, 0);
  // Closing while at the limit wakes nobody when nobody waits; closing under the limit with waiters does.
  assert.equal(b.connectionClosed(), false);
});

test('breaker: maxRequestsPerConnection retires connections', () => {
  assert.deepEqual([1, 2, 3].map((n) => new Breaker('c', { maxRequestsPerConnection: 2 }).shouldRetire(n)), [false, true, true]);
  assert.equal(new Breaker('c', undefined).shouldRetire(1_000_000), false);
});

test('breakers: one per cluster, reconfigured in place with counters kept; retain drops', () => {
  const set = new Breakers();
  const pool = { http2MaxRequests: 1 };
  const b = set.breakerFor('outbound|80||a', pool);
  assert.equal(set.breakerFor('outbound|80||a', pool), b);
  b.tryRequest();
  const reloaded = set.breakerFor('outbound|80||a', { http2MaxRequests: 5 });
  assert.equal(reloaded, b);
  assert.equal(b.limits.maxRequests, 5);
  assert.equal(b.requests, 1);
  set.breakerFor('outbound|80||b', undefined);
  set.retain((name) => name.endsWith('|b'));
  assert.equal(set.get('outbound|80||a'), undefined);
  assert.equal(set.size, 1);
});
