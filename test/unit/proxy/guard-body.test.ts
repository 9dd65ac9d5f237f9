import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { BodyReader, type BodyTap, type BodyTarget } from '../../../src/proxy/body';
import { DEFAULT_LIMITS, Guard, RateCounter } from '../../../src/codec/h2/guard';
import type { HeaderList } from '../../../src/proxy/types';

test('RateCounter: counts within the window, the previous bucket fading out, a long gap resets', () => {
  const w = new RateCounter(1_000);
  assert.equal(w.hit(0), 1);
  assert.equal(w.hit(500), 2);
  assert.equal(w.hit(999), 3);
  // Next bucket at 1000..2000: at 1500 half of the previous three still count.
  assert.equal(w.hit(1_500), 1 + 3 * 0.5);
  assert.equal(w.hit(5_000), 1);
});

test('Guard: rapid reset by rate and by share of streams; only premature resets count', () => {
  const limits = { ...DEFAULT_LIMITS, maxResets: 10, resetFloor: 5 };
  // By rate: 11 resets within the window (share stays low).
  const byRate = new Guard({ ...limits, resetFloor: 1_000 });
  let verdict;
  for (let i = 0; i < 11; i++) verdict = byRate.reset(i);
  assert.equal(verdict, 'rapid_reset');
  // By share: past the floor, more resets than half the streams opened.
  const byShare = new Guard(limits);
  for (let i = 0; i < 8; i++) byShare.streamOpened();
  const got = [0, 1, 2, 3, 4].map((i) => byShare.reset(i * 5_000));
  assert.deepEqual(got, [undefined, undefined, undefined, undefined, 'rapid_reset']);
  // A long-lived stream cancelled by the client is not abuse.
  const calm = new Guard(limits);
  for (let i = 0; i < 50; i++) assert.equal(calm.reset(10_000 + i, 0), undefined);
});

test('Guard: PING and SETTINGS floods by rate', () => {
  const g = new Guard({ ...DEFAULT_LIMITS, maxPings: 3, maxSettings: 2, windowMs: 1_000 });
  assert.deepEqual([0, 1, 2, 3].map((t) => g.ping(t)), [undefined, undefined, undefined, 'ping_flood']);
  assert.deepEqual([0, 1, 2].map((t) => g.settings(t)), [undefined, undefined, 'settings_flood']);
  const slow = new Guard({ ...DEFAULT_LIMITS, maxPings: 3, windowMs: 1_000 });
  for (let i = 0; i < 20; i++) assert.equal(slow.ping(i * 2_000), undefined);
});

class Collect implements BodyTarget {
  chunks: string[] = [];
  ended = false;
  trailers: HeaderList | undefined;
  full = false;
  write(c: Buffer): boolean {
    this.chunks.push(c.toString());
    return !this.full;
  }
  end(t?: HeaderList): void {
    this.ended = true;
    this.trailers = t;
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('BodyReader: nothing is read before a try attaches; a retry gets the kept body, then the rest', async () => {
  const src = new PassThrough();
  src.write('ab');
  const events: string[] = [];
  const r = new BodyReader({ body: src }, () => [['x-t', '1']], 100, { ended: () => events.push('ended'), broken: () => events.push('broken') });
  await tick();
  assert.equal(r.bytes, 0, 'unread until attached');
  const first = new Collect();
  r.attach(first);
  await tick();
  assert.deepEqual(first.chunks, ['ab']);
  r.detach();
  src.write('cd');
  const second = new Collect();
  r.attach(second);
  await tick();
  src.end('ef');
  await tick();
  assert.deepEqual(second.chunks.join(''), 'abcdef');
  assert.ok(second.ended);
  assert.deepEqual(second.trailers, [['x-t', '1']]);
  assert.deepEqual(events, ['ended']);
  assert.equal(r.bytes, 6);
  assert.ok(r.replayable);
});

test('BodyReader: past the replay bound no retry is possible; backpressure pauses the client side', async () => {
  const src = new PassThrough();
  const r = new BodyReader({ body: src }, () => undefined, 4, { ended: () => undefined, broken: () => undefined });
  const t = new Collect();
  t.full = true;
  r.attach(t);
  src.write('abc');
  await tick();
  assert.ok(r.replayable);
  assert.ok(src.isPaused(), 'the try is full: the client body is paused');
  t.full = false;
  r.drained();
  src.write('de');
  await tick();
  assert.equal(r.replayable, false);
  assert.equal(t.chunks.join(''), 'abcde');
});

test('BodyReader: a lagging tap drops out, a complete one finishes, a broken body abandons them', async () => {
  const src = new PassThrough();
  const log: string[] = [];
  const tap = (name: string, keep: (n: number) => boolean): BodyTap => {
    let n = 0;
    return { feed: () => keep(++n), finish: () => log.push(`${name} finished`), abandon: () => log.push(`${name} abandoned`) };
  };
  const r = new BodyReader({ body: src }, () => undefined, 0, { ended: () => undefined, broken: () => log.push('broken') });
  r.addTap(tap('steady', () => true));
  r.addTap(tap('laggard', (n) => n < 2));
  r.attach(new Collect());
  src.write('1');
  src.write('2');
  src.end();
  await tick();
  assert.deepEqual(log, ['steady finished']);

  const src2 = new PassThrough();
  const log2: string[] = [];
  const r2 = new BodyReader({ body: src2 }, () => undefined, 0, { ended: () => undefined, broken: () => log2.push('broken') });
  r2.addTap({ feed: () => true, finish: () => log2.push('finished'), abandon: () => log2.push('abandoned') });
  r2.attach(new Collect());
  src2.write('x');
  src2.destroy();
  await tick();
  assert.deepEqual(log2, ['abandoned', 'broken']);
});

test('BodyReader: a known-empty body ends at the first attach without reading the stream; a retry gets the end again', () => {
  const src = new PassThrough();
  const log: string[] = [];
  const r = new BodyReader({ body: src }, () => undefined, 100, { ended: () => log.push('ended'), broken: () => log.push('broken') }, true);
  r.addTap({ feed: () => true, finish: () => log.push('tap finished'), abandon: () => log.push('tap abandoned') });
  assert.equal(r.ended, false, 'not ended before a try is attached');
  const first = new Collect();
  r.attach(first);
  assert.ok(first.ended);
  assert.deepEqual(first.chunks, []);
  assert.deepEqual(log, ['tap finished', 'ended']);
  assert.equal(src.listenerCount('data'), 0, 'the stream is never read');
  r.detach();
  const second = new Collect();
  r.attach(second);
  assert.ok(second.ended);
  assert.ok(r.replayable);
  r.close();
  assert.deepEqual(log, ['tap finished', 'ended']);
  assert.equal(r.bytes, 0);
});
