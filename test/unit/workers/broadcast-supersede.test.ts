// A publish while the previous generation is being committed: that commit was decided and goes on,
// so it becomes the running generation. A rejection of the newer one then leaves the agent ready on
// it, and a worker that joins installs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initial, ready, step, type BroadcastState, type Event } from '../../../src/workers/broadcast';

function run(events: Event[]): { s: BroadcastState; last: ReturnType<typeof step>['effects'] } {
  let s = initial(1000);
  let last: ReturnType<typeof step>['effects'] = [];
  for (const e of events) ({ state: s, effects: last } = step(s, e));
  return { s, last };
}

const start: Event[] = [
  { kind: 'join', worker: 'w0', now: 0 },
  { kind: 'join', worker: 'w1', now: 0 },
  { kind: 'publish', now: 0 },
  { kind: 'prepared', worker: 'w0', gen: 1, now: 0 },
  { kind: 'prepared', worker: 'w1', gen: 1, now: 0 },
  { kind: 'committed', worker: 'w0', gen: 1, now: 0 },
  { kind: 'committed', worker: 'w1', gen: 1, now: 0 },
  // generation 2 prepared everywhere: its commit is on the way when generation 3 is published
  { kind: 'publish', now: 1 },
  { kind: 'prepared', worker: 'w0', gen: 2, now: 1 },
  { kind: 'prepared', worker: 'w1', gen: 2, now: 1 },
  { kind: 'publish', now: 2 },
];

test('broadcast: a commit superseded by a newer publish becomes the running generation', () => {
  const table: { name: string; then: Event[]; current: number; ready: boolean }[] = [
    { name: 'commits not yet acked', then: [], current: 2, ready: false },
    { name: 'commits acked', then: [{ kind: 'committed', worker: 'w0', gen: 2, now: 2 }, { kind: 'committed', worker: 'w1', gen: 2, now: 2 }], current: 2, ready: true },
    {
      name: 'commits acked, then generation 3 rejected',
      then: [{ kind: 'committed', worker: 'w0', gen: 2, now: 2 }, { kind: 'committed', worker: 'w1', gen: 2, now: 2 }, { kind: 'rejected', worker: 'w1', gen: 3, error: 'x', now: 3 }],
      current: 2,
      ready: true,
    },
  ];
  for (const row of table) {
    const { s } = run([...start, ...row.then]);
    assert.equal(s.current, row.current, row.name);
    assert.equal(ready(s), row.ready, row.name);
  }
});

test('broadcast: a worker joining after a superseded commit installs that generation', () => {
  const { last } = run([...start, { kind: 'join', worker: 'w2', now: 2 }]);
  assert.deepEqual(last, [
    { send: 'install', gen: 2, to: ['w2'] },
    { send: 'prepare', gen: 3, to: ['w2'] },
  ]);
});
