import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedFramer } from '../../../src/codec/h1chunked';
import { chunk, finishHead, lastChunk, requestFields, withBody } from '../../../src/upstream/h1/request';

test('request head: request line, host, fields; the framing field by the framing chosen', () => {
  const f = requestFields('POST', '/a?b=1', 'svc:8080', [['x-a', '1'], ['transfer-encoding', 'chunked'], ['content-length', '3']]);
  assert.equal(f.contentLength, 3);
  assert.equal(finishHead(f, 'length', 'POST'), 'POST /a?b=1 HTTP/1.1\r\nhost: svc:8080\r\nx-a: 1\r\ncontent-length: 3\r\n\r\n');
  const g = requestFields('PATCH', '/', 'h', [['connection', 'keep-alive, Close']]);
  assert.equal(g.close, true);
  assert.equal(finishHead(g, 'none', 'PATCH'), 'PATCH / HTTP/1.1\r\nhost: h\r\nconnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n');
  assert.equal(finishHead(g, 'chunked', 'PATCH'), 'PATCH / HTTP/1.1\r\nhost: h\r\nconnection: keep-alive, Close\r\ntransfer-encoding: chunked\r\n\r\n');
  assert.equal(finishHead(requestFields('GET', '/', 'h', []), 'none', 'GET'), 'GET / HTTP/1.1\r\nhost: h\r\n\r\n');
  for (const bad of [() => requestFields('G ET', '/', 'h', []), () => requestFields('GET', '/a b', 'h', []), () => requestFields('GET', '/', 'h\r\nx: y', []),
    () => requestFields('GET', '/', 'h', [['x', 'a\nb']]), () => requestFields('GET', '/', 'h', [['content-length', '1x']])]) {
    assert.throws(bad, TypeError);
  }
});

test('chunk coding: a chunk (optionally after the head), the last chunk with safe trailers only', () => {
  assert.equal(chunk(Buffer.from('hello')).toString(), '5\r\nhello\r\n');
  assert.equal(chunk(Buffer.alloc(17, 'a'), 'HEAD\r\n\r\n').toString(), `HEAD\r\n\r\n11\r\n${'a'.repeat(17)}\r\n`);
  assert.equal(lastChunk(undefined), '0\r\n\r\n');
  assert.equal(lastChunk([['x-sum', '1'], ['bad name', 'v'], ['x-split', 'a\r\nb']]), '0\r\nx-sum: 1\r\n\r\n');
  assert.equal(withBody('H', Buffer.from('b')).toString(), 'Hb');
});

test('chunked decoding keeps trailers when asked, the same for any split of the bytes', () => {
  const wire = Buffer.from('3\r\nabc\r\n0\r\nGrpc-Status: 0\r\nGrpc-Message:  ok \r\n\r\nNEXT');
  for (const step of [1, 2, 5, wire.length]) {
    const f = new ChunkedFramer(true);
    const data: string[] = [];
    let end = -2;
    for (let i = 0; i < wire.length && !f.done; i += step) {
      const r = f.feed(wire, i, Math.min(wire.length, i + step), (b, s, e) => data.push(b.toString('latin1', s, e)));
      end = r;
    }
    assert.equal(data.join(''), 'abc');
    assert.equal(wire.toString('latin1', end), 'NEXT', `step ${step}`);
    assert.deepEqual(f.trailers(), [['grpc-status', '0'], ['grpc-message', 'ok']]);
  }
  const plain = new ChunkedFramer();
  plain.feed(wire, 0, wire.length);
  assert.equal(plain.trailers(), undefined, 'not kept unless asked');
});

test('requestFields: cookie fields (split by HTTP/2) go as one line joined with "; "', () => {
  const f = requestFields('GET', '/', 'h', [['cookie', 'a=1'], ['x', 'y'], ['cookie', 'b=2']]);
  assert.equal(f.text, 'GET / HTTP/1.1\r\nhost: h\r\nx: y\r\ncookie: a=1; b=2\r\n');
  assert.equal(requestFields('GET', '/', 'h', [['cookie', 'a=1']]).text, 'GET / HTTP/1.1\r\nhost: h\r\ncookie: a=1\r\n');
});
