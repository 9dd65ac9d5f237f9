// Worker side of the shared rate limit test: hammers the shared buckets phase by phase, on a clock the
// test thread moves through the shared memory, and reports how many takes were admitted per key.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedRateLimiter } from '../../../src/policy/sharedratelimit';
import { limit, req } from '../route/helpers';

interface Data {
  readonly table: SharedArrayBuffer;
  /** Int32: [phase, clock ms] */
  readonly control: SharedArrayBuffer;
  readonly phases: number;
  readonly attemptsPerPhase: number;
}
const d = workerData as Data;
const rl = new SharedRateLimiter({ buffer: d.table });
const ctl = new Int32Array(d.control);
const whole = limit('whole', { maxTokens: 1000, tokensPerFill: 3, fillIntervalMs: 100 });
const keyed = limit('keyed', { maxTokens: 4, tokensPerFill: 2, fillIntervalMs: 100, perKey: { header: 'x-user' } });
const users = ['a', 'b'].map((u) => req({ headers: { 'x-user': u } }));
const admitted = { whole: 0, a: 0, b: 0, both: 0 };
const both = limit('both', { maxTokens: 5, tokensPerFill: 1, fillIntervalMs: 100 });
const bothNarrow = limit('both-narrow', { maxTokens: 7, tokensPerFill: 2, fillIntervalMs: 100 });

for (let phase = 0; phase < d.phases; phase++) {
  while (Atomics.load(ctl, 0) < phase) Atomics.wait(ctl, 0, phase - 1, 1000);
  const now = Atomics.load(ctl, 1);
  for (let i = 0; i < d.attemptsPerPhase; i++) {
    if (rl.take(whole, req(), now).ok) admitted.whole++;
    if (rl.take(keyed, users[i & 1], now).ok) admitted[i & 1 ? 'b' : 'a']++;
    if (rl.takeAll([both, bothNarrow], req(), now).ok) admitted.both++;
  }
  parentPort!.postMessage({ phase });
}
parentPort!.postMessage({ admitted });
