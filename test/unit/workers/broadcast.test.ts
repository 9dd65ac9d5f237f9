// Config reload across workers: two-phase broadcast, acks, rejections, timeouts naming the silent
// workers, joins and exits, readiness — as tables of events and the effects each one must produce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initial, ready, step, type BroadcastState, type Effect, type Event } from '../../../src/workers/broadcast';

type Row = [Event, Effect[], boolean?]; // event, effects wanted, ready after (when given)

function run(rows: Row[], s: BroadcastState = initial(1000)): BroadcastState {
  rows.forEach(([e, want, rdy], i) => {
    const r = step(s, e);
    assert.deepEqual(r.effects, want, `row ${i}: ${JSON.stringify(e)}`);
    s = r.state;
    if (rdy !== undefined) assert.equal(ready(s), rdy, `row ${i}: ready`);
  });
  return s;
}

const W = ['w0', 'w1'];
const join = (worker: string, now = 0): Event => ({ kind: 'join', worker, now });
const ack = (kind: 'prepared' | 'committed', worker: string, gen: number, now = 0): Event => ({ kind, worker, gen, now });

test('start: two workers, first config prepared and committed by both, then ready', () => {
  run([
    [join('w0'), [], false],
    [join('w1'), [], false],
    [{ kind: 'publish', now: 0 }, [{ send: 'prepare', gen: 1, to: W }], false],
    [ack('prepared', 'w0', 1), [], false],
    [ack('prepared', 'w0', 1), [], false], // a repeated ack changes nothing
    [ack('prepared', 'w1', 1), [{ send: 'commit', gen: 1, to: W }], false],
    [ack('committed', 'w1', 1), [], false],
    [ack('committed', 'w0', 1), [{ outcome: 'applied', gen: 1 }], true],
  ]);
});

function started(): BroadcastState {
  return run([
    [join('w0'), []],
    [join('w1'), []],
    [{ kind: 'publish', now: 0 }, [{ send: 'prepare', gen: 1, to: W }]],
    [ack('prepared', 'w0', 1), []],
    [ack('prepared', 'w1', 1), [{ send: 'commit', gen: 1, to: W }]],
    [ack('committed', 'w0', 1), []],
    [ack('committed', 'w1', 1), [{ outcome: 'applied', gen: 1 }], true],
  ]);
}

test('a reload: workers keep serving the running generation until every one prepared', () => {
  run(
    [
      [{ kind: 'publish', now: 100 }, [{ send: 'prepare', gen: 2, to: W }], true],
      [ack('prepared', 'w1', 2), [], true],
      [ack('prepared', 'w1', 1), [], true], // a stale generation is ignored
      [ack('prepared', 'w0', 2), [{ send: 'commit', gen: 2, to: W }], true],
      [ack('committed', 'w0', 2), [], false], // w1 still runs 1: not ready until both switched
      [ack('committed', 'w1', 2), [{ outcome: 'applied', gen: 2 }], true],
    ],
    started(),
  );
});

test('a worker rejects the snapshot: aborted everywhere, the running generation stays', () => {
  const s = run(
    [
      [{ kind: 'publish', now: 100 }, [{ send: 'prepare', gen: 2, to: W }]],
      [ack('prepared', 'w0', 2), []],
      [{ kind: 'rejected', worker: 'w1', gen: 2, error: 'out of memory', now: 110 }, [{ send: 'abort', gen: 2, to: W }, { outcome: 'rejected', gen: 2, worker: 'w1', error: 'out of memory' }], true],
      [ack('prepared', 'w1', 2), [], true],
    ],
    started(),
  );
  assert.equal(s.current, 1);
});

test('timeouts name the workers that did not ack', () => {
  const s = run(
    [
      [{ kind: 'publish', now: 100 }, [{ send: 'prepare', gen: 2, to: W }]],
      [ack('prepared', 'w0', 2), []],
      [{ kind: 'tick', now: 1099 }, []],
      [{ kind: 'tick', now: 1100 }, [{ outcome: 'timeout', gen: 2, phase: 'prepare', workers: ['w1'] }, { send: 'abort', gen: 2, to: W }], true],
      [{ kind: 'tick', now: 5000 }, []],
      [{ kind: 'publish', now: 6000 }, [{ send: 'prepare', gen: 3, to: W }]],
      [ack('prepared', 'w0', 3, 6001), []],
      [ack('prepared', 'w1', 3, 6002), [{ send: 'commit', gen: 3, to: W }]],
      [ack('committed', 'w0', 3, 6003), []],
      [{ kind: 'tick', now: 7001 }, []], // the commit phase started at 6002
      [{ kind: 'tick', now: 7002 }, [{ outcome: 'timeout', gen: 3, phase: 'commit', workers: ['w1'] }], false],
      [{ kind: 'exit', worker: 'w1', now: 7003 }, [], true], // the silent worker is restarted ...
      [join('w1', 7004), [{ send: 'install', gen: 3, to: ['w1'] }], false], // ... and gets generation 3
      [ack('committed', 'w1', 3, 7005), [], true],
    ],
    started(),
  );
  assert.equal(s.current, 3);
});

test('a newer publish supersedes a pending prepare', () => {
  run(
    [
      [{ kind: 'publish', now: 100 }, [{ send: 'prepare', gen: 2, to: W }]],
      [ack('prepared', 'w0', 2), []],
      [{ kind: 'publish', now: 200 }, [{ send: 'abort', gen: 2, to: W }, { send: 'prepare', gen: 3, to: W }]],
      [ack('prepared', 'w1', 2), []],
      [ack('prepared', 'w1', 3), []],
      [ack('prepared', 'w0', 3), [{ send: 'commit', gen: 3, to: W }]],
    ],
    started(),
  );
});

test('joins and exits during a reload', () => {
  run(
    [
      [{ kind: 'publish', now: 100 }, [{ send: 'prepare', gen: 2, to: W }]],
      // a worker starting mid-prepare gets the running generation and the pending prepare
      [join('w2'), [{ send: 'install', gen: 1, to: ['w2'] }, { send: 'prepare', gen: 2, to: ['w2'] }], false],
      [ack('committed', 'w2', 1), [], true],
      [ack('prepared', 'w0', 2), []],
      [ack('prepared', 'w2', 2), []],
      // the one still missing exits: nobody waits for it
      [{ kind: 'exit', worker: 'w1', now: 150 }, [{ send: 'commit', gen: 2, to: ['w0', 'w2'] }]],
      // a worker joining mid-commit installs the decided generation and is waited for
      [join('w3'), [{ send: 'install', gen: 2, to: ['w3'] }]],
      [ack('committed', 'w0', 2), []],
      [ack('committed', 'w2', 2), []],
      [ack('committed', 'w3', 2), [{ outcome: 'applied', gen: 2 }], true],
      [{ kind: 'exit', worker: 'nobody', now: 300 }, [], true],
    ],
    started(),
  );
});

test('no workers: a publish applies at once, and a worker joining later installs it', () => {
  run([
    [{ kind: 'publish', now: 0 }, [{ send: 'prepare', gen: 1, to: [] }, { send: 'commit', gen: 1, to: [] }, { outcome: 'applied', gen: 1 }], false],
    [join('w0'), [{ send: 'install', gen: 1, to: ['w0'] }], false],
    [ack('committed', 'w0', 1), [], true],
  ]);
});
