import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMessage, type MessageKind } from '../../../../src/codec/h2/message';

// RFC 9113 §8.1-8.3 message rules as a table: header list → malformed reason, or what is tracked.

const REQ = [':method', 'GET', ':scheme', 'https', ':path', '/a', ':authority', 'example.test'];

test('HTTP message checks', () => {
  const cases: [MessageKind, string[], string | { contentLength: number; status: number; method: string }][] = [
    ['request', REQ, { contentLength: -1, status: 0, method: 'GET' }],
    ['request', [...REQ, 'content-length', '12', 'content-length', '12'], { contentLength: 12, status: 0, method: 'GET' }],
    ['request', [...REQ, 'content-length', '12', 'content-length', '13'], 'conflicting content-length'],
    ['request', [...REQ, 'content-length', '-1'], 'invalid content-length'],
    ['request', [...REQ, 'te', 'trailers'], { contentLength: -1, status: 0, method: 'GET' }],
    ['request', [...REQ, 'te', 'gzip'], 'TE other than "trailers"'],
    ['request', [...REQ, 'keep-alive', '5'], 'connection-specific field keep-alive'],
    ['request', [...REQ, 'transfer-encoding', 'chunked'], 'connection-specific field transfer-encoding'],
    ['request', [...REQ, 'x-a', ' padded'], 'invalid value of x-a'],
    ['request', [...REQ, 'x-a', 'a\r\nb'], 'invalid value of x-a'],
    ['request', [...REQ, 'x-a', 'nul\0'], 'invalid value of x-a'],
    ['request', [...REQ, 'x a', 'b'], 'invalid field name "x a"'],
    ['request', [...REQ, '', 'b'], 'empty field name'],
    ['request', [':method', 'CONNECT', ':authority', 'db:5432'], { contentLength: -1, status: 0, method: 'CONNECT' }],
    ['request', [':method', 'CONNECT', ':authority', 'db:5432', ':path', '/'], 'CONNECT with :scheme or :path, or without :authority'],
    ['request', [':method', 'CONNECT', ':authority', 'db:5432', ':protocol', 'websocket'], 'unknown pseudo-header :protocol'],
    ['response', [':status', '200', 'content-length', '0'], { contentLength: 0, status: 200, method: '' }],
    ['response', [':status', '20'], 'invalid :status'],
    ['response', ['x', 'y'], 'missing :status'],
    ['response', [':status', '200', ':path', '/'], 'unknown pseudo-header :path'],
    ['trailers', ['grpc-status', '0'], { contentLength: -1, status: 0, method: '' }],
    ['trailers', [':status', '200'], 'pseudo-header :status in trailers'],
  ];
  for (const [kind, headers, want] of cases) {
    assert.deepEqual(checkMessage(kind, headers), want, `${kind} ${JSON.stringify(headers)}`);
  }
});
