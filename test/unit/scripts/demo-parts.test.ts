// The demo's parts: how much longer waits get on a loaded machine, what a failed part prints, and that
// one failed part does not stop the next.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { DemoParts, firstLine, waitStretch } from '../../../scripts/demo/parts';

test('waitStretch: load average per CPU, never below 1, at most 4', () => {
  const cases: [load: number, cpus: number, want: number][] = [
    [0, 2, 1],
    [1.5, 2, 1],
    [4, 2, 2],
    [10, 2, 4],
    [50, 2, 4],
    [3, 0, 3], // no CPU count: per one CPU
  ];
  for (const [load, cpus, want] of cases) assert.equal(waitStretch(load, cpus), want, `load ${load} on ${cpus}`);
});

test('firstLine: the first line of the message only (the logs after it go to the file)', () => {
  const cases: [unknown, string][] = [
    [new Error('timed out after 30 s waiting for node-0 agent ready\nnode-0: {"msg":"datapath attached"}'), 'timed out after 30 s waiting for node-0 agent ready'],
    [new Error(''), 'failed'],
    ['plain string', 'plain string'],
  ];
  for (const [e, want] of cases) assert.equal(firstLine(e), want);
});

test('a failed part: one line on stderr naming the log file, which holds the logs and the error; the next part runs', async (t) => {
  const parts = new DemoParts();
  t.after(() => fs.rmSync(parts.dir, { recursive: true, force: true }));
  const errors: string[] = [];
  t.mock.method(console, 'error', (s: string) => void errors.push(s));
  t.mock.method(console, 'log', () => undefined);
  const failed = await parts.run('part four', async (ctx) => {
    ctx.keepLogs(() => 'node-0: {"msg":"datapath attached"}');
    throw new Error('timed out after 30 s waiting for node-0 agent ready\nnode-0: recent lines');
  });
  let ran = false;
  const ok = await parts.run('part five', async () => void (ran = true));
  assert.equal(failed, false);
  assert.equal(ok, true);
  assert.ok(ran);
  assert.equal(errors.length, 1);
  const log = parts.outcomes[0]!.log;
  assert.match(errors[0]!, /^\npart four stopped: timed out after 30 s waiting for node-0 agent ready \(load average [\d.]+ on \d+ CPUs\); the agents' log: /);
  assert.ok(errors[0]!.endsWith(log));
  const text = fs.readFileSync(log, 'utf8');
  assert.match(text, /datapath attached[\s\S]*--- part four failed:\nError: timed out[\s\S]*recent lines/);
  assert.equal(parts.summary(), false);
  assert.match(errors[1]!, /did not complete: part four; the rest ran/);
});
