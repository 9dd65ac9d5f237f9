import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeadParser } from '../../../src/codec/h1parse';

// A slow client's head arrives a few bytes at a time: those bytes take a shorter path than a scan
// (src/codec/h1parse.ts execute()), which must decide exactly as the scan does.

test('a head trickled in pieces of any size is rejected in the piece that passes the limit', () => {
  const start = Buffer.from('GET / HTTP/1.1\r\nx: ');
  for (const step of [1, 3, 64, 65, 200]) {
    const p = new HeadParser(true, 100);
    assert.equal(p.execute(start, 0), -1);
    let fed = start.length;
    let r = -1;
    while (r === -1 && fed < 1000) {
      r = p.execute(Buffer.alloc(step, 'a'), 0);
      fed += step;
    }
    assert.equal(r, -2, `step ${step}`);
    assert.equal(p.error?.code, 'HEADERS_TOO_LARGE', `step ${step}`);
    assert.equal(fed, start.length + Math.ceil((101 - start.length) / step) * step, `step ${step}`);
  }
});

test('a head trickled a byte at a time ends, or fails, where it does when whole', () => {
  const cases: [string, number | string][] = [
    ['GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaa\r\n\r\nrest', 41],
    ['GET / HTTP/1.1\r\nHost: a\r\nX-Slow: a\ra\r\n\r\n', 'INVALID_HEADER_VALUE'],
    ['GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n', 'BARE_LF'],
  ];
  for (const [text, want] of cases) {
    const all = Buffer.from(text, 'latin1');
    const p = new HeadParser(true);
    let got: number | string = 'NEED_MORE';
    for (let at = 0; at < all.length; at++) {
      const r = p.execute(all.subarray(at, at + 1), 0);
      if (r === -2) got = p.error!.code;
      else if (r >= 0) got = at + r;
      if (r !== -1) break;
    }
    assert.equal(got, want, JSON.stringify(text));
  }
});
