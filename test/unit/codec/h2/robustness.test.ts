import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, PREFACE, S, T } from '../../../../src/codec/h2/constants';
import { H2Connection } from '../../../../src/codec/h2/connection';
import { HpackDecoder, HpackEncoder } from '../../../../src/codec/h2/hpack';
import { huffmanDecode } from '../../../../src/codec/h2/huffman';
import * as W from '../../../../src/codec/h2/writer';
import { GET, parseFrames, POST } from './harness';

// Hostile input never throws: whatever the bytes, the codec answers with events, RST_STREAM or GOAWAY.
// Seeded, so a failure reproduces.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function validTraffic(): Buffer {
  const enc = new HpackEncoder();
  const parts = [PREFACE, W.settings([[S.INITIAL_WINDOW_SIZE, 1000], [S.HEADER_TABLE_SIZE, 256]]), W.settingsAck()];
  for (let i = 0; i < 6; i++) {
    const id = 1 + 2 * i;
    parts.push(W.headers(id, enc.encode(i % 2 ? POST : [...GET, 'x-i', String(i), 'cookie', 'abc'.repeat(i)]), i % 2 === 0, i === 3 ? 10 : 16_384));
    if (i % 2) parts.push(W.frame(T.DATA, F.PADDED, id, Buffer.from([2, 1, 2, 3, 0, 0])), W.windowUpdate(id, 10), W.frame(T.DATA, F.END_STREAM, id, Buffer.from('end')));
    parts.push(W.ping(Buffer.alloc(8, i), false), W.priority(id, 0, 16));
  }
  parts.push(W.rstStream(11, 8), W.goaway(11, 0));
  return Buffer.concat(parts);
}

test('mutated client traffic: the server connection never throws and ends in a consistent state', () => {
  const base = validTraffic();
  const rand = rng(1234);
  let goaways = 0;
  for (let round = 0; round < 1500; round++) {
    const bytes = Buffer.from(base);
    const flips = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < flips; k++) bytes[PREFACE.length + Math.floor(rand() * (bytes.length - PREFACE.length))] = Math.floor(rand() * 256);
    const conn = new H2Connection({ role: 'server' });
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + Math.floor(rand() * 64);
      const events = conn.receive(bytes.subarray(at, at + n));
      for (const e of events) {
        if (e.kind === 'headers' && e.endStream) {
          conn.sendHeaders(e.stream, [':status', '200'], false);
          conn.sendData(e.stream, Buffer.alloc(50), true);
        }
      }
      at += n;
    }
    const out = parseFrames(Buffer.concat(conn.takeOutput()));
    if (conn.closed) {
      goaways++;
      assert.ok(out.some((f) => f.type === T.GOAWAY), `round ${round}: closed without GOAWAY`);
    }
  }
  assert.ok(goaways > 100, 'mutations do reach the error paths');
});

test('random bytes after a valid preface and as a client: never throws', () => {
  const rand = rng(99);
  for (let round = 0; round < 800; round++) {
    const junk = Buffer.alloc(200 + Math.floor(rand() * 300));
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rand() * 256);
    // Make frame headers plausible some of the time: small lengths, known types.
    for (let at = 0; at + 9 < junk.length && rand() < 0.7; at += 9 + junk[at + 2]!) {
      junk[at] = 0;
      junk[at + 1] = 0;
      junk[at + 3] = Math.floor(rand() * 11);
    }
    const server = new H2Connection({ role: 'server' });
    server.receive(Buffer.concat([PREFACE, W.settings([])]));
    server.receive(junk);
    const client = new H2Connection({ role: 'client' });
    client.request(GET, false);
    client.receive(Buffer.concat([W.settings([]), junk]));
    assert.ok(true);
  }
});

test('HPACK decoder and Huffman decoder on random input: a result or a clean failure', () => {
  const rand = rng(7);
  for (let round = 0; round < 5000; round++) {
    const b = Buffer.alloc(1 + Math.floor(rand() * 60));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
    const d = new HpackDecoder({ maxHeaderListSize: 1000 });
    const r = d.decode(b);
    if (r === undefined) assert.ok(d.error.length > 0);
    else assert.equal(r.headers.length % 2, 0);
    const h = huffmanDecode(b, 0, b.length);
    assert.ok(h === undefined || typeof h === 'string');
  }
});
