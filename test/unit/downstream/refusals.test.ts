import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RefusalLog, refusalLine } from '../../../src/downstream/refusals';

test('refusalLine names each reason with its count and the descriptor figures', () => {
  const l = refusalLine(new Map([['fd_exhausted', 3], ['draining', 1]]), { open: 113, limit: 128, reserve: 16 });
  assert.equal(l.fields.code, 'NM_E_DOWNSTREAM_REFUSED');
  assert.deepEqual(l.fields.refused, { fd_exhausted: 3, draining: 1 });
  assert.equal(l.fields.fd_limit, 128);
  assert.match(l.msg, /3 fd_exhausted: out of file descriptors.*; 1 draining/);
  const d = refusalLine(new Map([['max_connections', 2]]), { open: 1, limit: 2, reserve: 1 });
  assert.equal(d.fields.fd_limit, undefined, 'descriptor figures only with fd_exhausted');
});

test('RefusalLog: the first refusal at once, then one line per interval with the counts since', async () => {
  const lines: Record<string, unknown>[] = [];
  let now = 1_000;
  const log = new RefusalLog(40, (f) => lines.push(f), () => now);
  log.note('fd_exhausted', { open: 113, limit: 128, reserve: 16 });
  assert.equal(lines.length, 1);
  for (let i = 0; i < 100; i++) log.note('fd_exhausted');
  log.note('max_connections');
  assert.equal(lines.length, 1, 'bounded: nothing more within the interval');
  now += 40;
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(lines.length, 2, 'the burst is reported when the interval is up, without a further refusal');
  assert.deepEqual(lines[1]!.refused, { fd_exhausted: 100, max_connections: 1 });
  now += 1_000;
  log.note('draining');
  assert.equal(lines.length, 3);
  assert.deepEqual(lines[2]!.refused, { draining: 1 });
  log.flush();
  assert.equal(lines.length, 3, 'nothing to say, no line');
});
