// `nodemesh stat`'s loops against a scripted client: the live screen (alternate screen, frames, the
// last numbers kept with a line when the agent goes away), the plain stream off a terminal, JSON lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { AdminClient } from '../../../src/cli/admin-client';
import { runStat } from '../../../src/cli/stat';
import { MeshError } from '../../../src/errors';
import type { StatsSnapshot } from '../../../src/telemetry/admin-proto';

function snap(now: number, total: number): StatsSnapshot {
  const requests = { total, by_class: {}, success: total, errors: 0, duration_buckets: [total, 0], duration_sum_ms: 0, p50_ms: 0, p99_ms: 0, request_bytes: 0, response_bytes: 0 };
  return {
    agent: { node: 'n1', version: '1', started_unix_ms: 0, now_unix_ms: now, config_generation: 1, config_hash: 'h', datapath: 'none', trust_domain: 'td' },
    duration_bounds_ms: [1],
    services: [{ host: 'web.shop.svc.cluster.local', name: 'web', namespace: 'shop', reporter: 'source', dataplane: 'proxy', requests,
      tcp: { opened: 0, closed: 0, active: 0, sent_bytes: 0, received_bytes: 0 },
      kernel: { present: false, opened: 0, closed: 0, active: 0, sent_bytes: 0, received_bytes: 0, redirected: 0, spliced_bytes: 0 } }],
    datapath_events: {},
  };
}

/** Answers the scripted snapshots in turn (an Error entry is thrown); aborts after the last. */
function scripted(answers: (StatsSnapshot | Error)[], stop: AbortController): AdminClient {
  let i = 0;
  return {
    address: '127.0.0.1:15000',
    snapshot: async () => {
      const a = answers[Math.min(i, answers.length - 1)] as StatsSnapshot | Error;
      if (++i >= answers.length) stop.abort();
      if (a instanceof Error) throw a;
      return a;
    },
    config: () => Promise.reject(new Error('unused')),
    close: () => {},
  };
}

function out(tty: boolean): Writable & { text: string; isTTY: boolean; columns: number; rows: number } {
  const w = new Writable({ write(c: Buffer, _e, cb) { w.text += c.toString(); cb(); } }) as Writable & { text: string; isTTY: boolean; columns: number; rows: number };
  Object.assign(w, { text: '', isTTY: tty, columns: 160, rows: 40 });
  return w;
}

test('live screen: alternate screen, a frame per sample, rates from the second; a failed sample keeps the numbers', async () => {
  const stop = new AbortController();
  const gone = new MeshError('ADMIN_UNREACHABLE', '127.0.0.1:15000: connection refused (ECONNREFUSED)');
  const client = scripted([snap(1000, 10), snap(2000, 30), gone], stop);
  const w = out(true);
  assert.equal(await runStat({ address: client.address, intervalMs: 1, once: false, output: 'table', out: w, client, signal: stop.signal }), 0);
  assert.ok(w.text.startsWith('\x1b[?1049h\x1b[?25l'), 'alternate screen, cursor hidden');
  assert.ok(w.text.endsWith('\x1b[?25h\x1b[?1049l'), 'restored on the way out');
  const frames = w.text.split('\x1b[H').slice(1);
  assert.equal(frames.length, 3);
  assert.match(frames[0] ?? '', /rates after the next sample/);
  assert.match(frames[1] ?? '', /web\.shop\.svc\.cluster\.local +shop +out +20 +100%/);
  assert.match(frames[2] ?? '', /! the agent's admin API did not answer: 127\.0\.0\.1:15000: connection refused/);
  assert.match(frames[2] ?? '', /web\.shop\.svc\.cluster\.local +shop +out +20 /, 'the last numbers stay');
});

test('not a terminal: plain screens one after another, no escape codes', async () => {
  const stop = new AbortController();
  const w = out(false);
  await runStat({ address: 'a', intervalMs: 1, once: false, output: 'table', out: w, client: scripted([snap(1000, 1), snap(2000, 2)], stop), signal: stop.signal });
  assert.doesNotMatch(w.text, /\x1b/);
  assert.equal(w.text.split('nodemesh stat · ').length - 1, 2);
});

test('-o json: one object per sample, one per line; --once: one, from two samples', async () => {
  const stop = new AbortController();
  const w = out(true);
  await runStat({ address: 'a', intervalMs: 1, once: false, output: 'json', out: w, client: scripted([snap(1000, 1), snap(2000, 5)], stop), signal: stop.signal });
  const lines = w.text.trim().split('\n').map((l) => JSON.parse(l) as { interval_seconds: number | null; services: { requests_per_sec: number | null }[] });
  assert.deepEqual(lines.map((l) => [l.interval_seconds, l.services[0]?.requests_per_sec]), [[null, null], [1, 4]]);
  const once = out(true);
  assert.equal(await runStat({ address: 'a', intervalMs: 1, once: true, output: 'json', out: once, client: scripted([snap(1000, 1), snap(3000, 9)], new AbortController()) }), 0);
  assert.equal((JSON.parse(once.text) as { services: { requests_per_sec: number }[] }).services[0]?.requests_per_sec, 4);
  await assert.rejects(runStat({ address: 'a', intervalMs: 1, once: true, output: 'table', out: out(true), client: scripted([new MeshError('ADMIN_UNREACHABLE', 'x')], new AbortController()) }), /did not answer/);
});
