import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedFramer, HeadParser, MAX_HEAD_BYTES } from '../../../src/codec/h1parse';

interface Parsed {
  error?: string;
  status?: number;
  method?: string;
  target?: string;
  minor?: number;
  code?: number;
  headers?: string[];
  framing?: string;
  contentLength?: number;
  keepAlive?: boolean;
  expectContinue?: boolean;
  upgrade?: boolean;
  connTokens?: string[];
  /** Bytes left after the head (body or the next pipelined message). */
  rest?: string;
}

/** Feeds `text` in pieces of `step` bytes (Infinity = whole) and describes the outcome. */
function parse(text: string | Buffer, isRequest: boolean, step = Infinity): Parsed {
  const all = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const p = new HeadParser(isRequest);
  for (let at = 0; at < all.length; ) {
    const piece = all.subarray(at, Math.min(all.length, at + step));
    // Copies, so no test can pass by reading past the piece it was given.
    const r = p.execute(Buffer.from(piece), 0);
    if (r === -2) return { error: p.error!.code, status: p.error!.status };
    if (r >= 0) {
      const h = p.head!;
      const out: Parsed = {
        minor: h.minor,
        headers: h.rawHeaders(),
        framing: h.framing,
        contentLength: h.contentLength,
        keepAlive: h.keepAlive,
        rest: Buffer.concat([piece.subarray(r), all.subarray(at + piece.length)]).toString('latin1'),
      };
      if (isRequest) Object.assign(out, { method: h.method, target: h.target, expectContinue: h.expectContinue, upgrade: h.upgrade });
      else out.code = h.status;
      if (h.connTokens !== undefined) out.connTokens = h.connTokens;
      return out;
    }
    at += piece.length;
  }
  return { error: 'NEED_MORE' };
}

/** Same outcome whole, byte by byte, and in a few odd piece sizes. */
function parseEverySplit(text: string | Buffer, isRequest: boolean): Parsed {
  const whole = parse(text, isRequest);
  for (const step of [1, 2, 3, 7, 64]) assert.deepEqual(parse(text, isRequest, step), whole, `split into ${step}-byte pieces`);
  return whole;
}

const GOOD_REQUESTS: { name: string; text: string; want: Parsed }[] = [
  {
    name: 'simple GET',
    text: 'GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n',
    want: { method: 'GET', target: '/a?b=1', minor: 1, headers: ['Host', 'x', 'User-Agent', 't'], framing: 'none', contentLength: -1, keepAlive: true, expectContinue: false, upgrade: false, rest: '' },
  },
  {
    name: 'leading empty lines are skipped',
    text: '\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n',
    want: { method: 'GET', target: '/', minor: 1, headers: ['Host', 'x'], framing: 'none', contentLength: -1, keepAlive: true, expectContinue: false, upgrade: false, rest: '' },
  },
  {
    name: 'sized body stays for the caller',
    text: 'POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello',
    want: { method: 'POST', target: '/p', minor: 1, headers: ['Content-Length', '5'], framing: 'length', contentLength: 5, keepAlive: true, expectContinue: false, upgrade: false, rest: 'hello' },
  },
  {
    name: 'Content-Length 0 is no body',
    text: 'POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n',
    want: { method: 'POST', target: '/', minor: 1, headers: ['content-length', '0'], framing: 'none', contentLength: 0, keepAlive: true, expectContinue: false, upgrade: false, rest: '' },
  },
  {
    name: 'identical repeated Content-Length is one length',
    text: 'PUT / HTTP/1.1\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\nabc',
    want: { method: 'PUT', target: '/', minor: 1, headers: ['content-length', '3', 'Content-Length', '3'], framing: 'length', contentLength: 3, keepAlive: true, expectContinue: false, upgrade: false, rest: 'abc' },
  },
  {
    name: 'chunked (any case)',
    text: 'POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n',
    want: { method: 'POST', target: '/', minor: 1, headers: ['Transfer-Encoding', 'Chunked'], framing: 'chunked', contentLength: -1, keepAlive: true, expectContinue: false, upgrade: false, rest: '0\r\n\r\n' },
  },
  {
    name: 'HTTP/1.0 closes by default',
    text: 'GET / HTTP/1.0\r\n\r\n',
    want: { method: 'GET', target: '/', minor: 0, headers: [], framing: 'none', contentLength: -1, keepAlive: false, expectContinue: false, upgrade: false, rest: '' },
  },
  {
    name: 'HTTP/1.0 keep-alive',
    text: 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n',
    want: { method: 'GET', target: '/', minor: 0, headers: ['Connection', 'Keep-Alive'], framing: 'none', contentLength: -1, keepAlive: true, expectContinue: false, upgrade: false, rest: '' },
  },
  {
    name: 'Connection: close, and extra hop-by-hop names',
    text: 'GET / HTTP/1.1\r\nconnection: close, X-Hop ,upgrade\r\nupgrade: websocket\r\n\r\n',
    want: {
      method: 'GET', target: '/', minor: 1, headers: ['connection', 'close, X-Hop ,upgrade', 'upgrade', 'websocket'], framing: 'none', contentLength: -1,
      keepAlive: false, expectContinue: false, upgrade: true, connTokens: ['x-hop'], rest: '',
    },
  },
  {
    name: 'OWS around values is trimmed; empty values and obs-text are fine',
    text: 'GET / HTTP/1.1\r\nA:  1 \t\r\nB:\r\nC: caf\xe9\r\n\r\n',
    want: { method: 'GET', target: '/', minor: 1, headers: ['A', '1', 'B', '', 'C', 'caf\xe9'], framing: 'none', contentLength: -1, keepAlive: true, expectContinue: false, upgrade: false, rest: '' },
  },
  {
    name: 'Expect: 100-continue',
    text: 'POST / HTTP/1.1\r\nexpect: 100-Continue\r\ncontent-length: 1\r\n\r\n',
    want: { method: 'POST', target: '/', minor: 1, headers: ['expect', '100-Continue', 'content-length', '1'], framing: 'length', contentLength: 1, keepAlive: true, expectContinue: true, upgrade: false, rest: '' },
  },
  {
    name: 'absolute-form and asterisk-form targets',
    text: 'OPTIONS http://h:8080/x?y HTTP/1.1\r\n\r\n',
    want: { method: 'OPTIONS', target: 'http://h:8080/x?y', minor: 1, headers: [], framing: 'none', contentLength: -1, keepAlive: true, expectContinue: false, upgrade: false, rest: '' },
  },
  {
    name: 'extension methods are tokens',
    text: 'M-SEARCH * HTTP/1.1\r\n\r\n',
    want: { method: 'M-SEARCH', target: '*', minor: 1, headers: [], framing: 'none', contentLength: -1, keepAlive: true, expectContinue: false, upgrade: false, rest: '' },
  },
];

for (const c of GOOD_REQUESTS) {
  test(`request head: ${c.name}`, () => assert.deepEqual(parseEverySplit(c.text, true), c.want));
}

const BAD_REQUESTS: [string, string, string, number?][] = [
  ['request line with spaces in the target', 'GET /a b c HTTP/1.1\r\nhost: x\r\n\r\n', 'INVALID_VERSION'],
  ['two spaces after the method', 'GET  / HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
  ['HTTP/0.9 request line', 'GET /\r\n\r\n', 'INVALID_TARGET'],
  ['method with a separator', 'G(ET / HTTP/1.1\r\n\r\n', 'INVALID_METHOD'],
  ['method with NUL', 'GE\0T / HTTP/1.1\r\n\r\n', 'INVALID_METHOD'],
  ['empty method', ' / HTTP/1.1\r\n\r\n', 'INVALID_METHOD'],
  ['NUL in the target', 'GET /\0 HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
  ['DEL in the target', 'GET /\x7f HTTP/1.1\r\n\r\n', 'INVALID_TARGET'],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n', 'INVALID_VERSION'],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 'INVALID_VERSION'],
  ['lowercase version', 'GET / http/1.1\r\n\r\n', 'INVALID_VERSION'],
  ['trailing space after the version', 'GET / HTTP/1.1 \r\n\r\n', 'INVALID_VERSION'],
  ['short version', 'GET / HTTP/1\r\n\r\n', 'INVALID_VERSION'],
  ['bare CR in the request line', 'GET / HTTP/1.1\r\r\n\r\n', 'INVALID_VERSION'],
  ['bare LF ends the request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 'BARE_LF'],
  ['bare LF ends a field', 'GET / HTTP/1.1\r\nHost: x\n\r\n', 'BARE_LF'],
  ['bare LF ends the head', 'GET / HTTP/1.1\r\nHost: x\r\n\n', 'BARE_LF'],
  ['bare LF as a leading empty line', '\nGET / HTTP/1.1\r\n\r\n', 'BARE_LF'],
  ['bare CR inside a value', 'GET / HTTP/1.1\r\nA: 1\rB: 2\r\n\r\n', 'INVALID_HEADER_VALUE'],
  ['space inside a header name', 'GET / HTTP/1.1\r\nho st: x\r\n\r\n', 'INVALID_HEADER_NAME'],
  ['space before the colon', 'GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello', 'INVALID_HEADER_NAME'],
  ['empty header name', 'GET / HTTP/1.1\r\n: x\r\n\r\n', 'INVALID_HEADER_NAME'],
  ['field without a colon', 'GET / HTTP/1.1\r\nHost x\r\n\r\n', 'INVALID_HEADER_NAME'],
  ['non-token byte in a name', 'GET / HTTP/1.1\r\nX-\xe9: 1\r\n\r\n', 'INVALID_HEADER_NAME'],
  ['NUL in a value', 'GET / HTTP/1.1\r\nA: x\0y\r\n\r\n', 'INVALID_HEADER_VALUE'],
  ['control character in a value', 'GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n', 'INVALID_HEADER_VALUE'],
  ['DEL in a value', 'GET / HTTP/1.1\r\nA: x\x7f\r\n\r\n', 'INVALID_HEADER_VALUE'],
  ['obs-fold', 'GET / HTTP/1.1\r\nA: 1\r\n  continued\r\n\r\n', 'OBS_FOLD'],
  ['whitespace before the first field', 'GET / HTTP/1.1\r\n Host: x\r\n\r\n', 'OBS_FOLD'],
  ['tab-folded field', 'GET / HTTP/1.1\r\nA: 1\r\n\tB: 2\r\n\r\n', 'OBS_FOLD'],
  ['Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n', 'CONTENT_LENGTH_AND_TRANSFER_ENCODING'],
  ['Transfer-Encoding and Content-Length', 'POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n', 'CONTENT_LENGTH_AND_TRANSFER_ENCODING'],
  ['differing Content-Length', 'POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab', 'DUPLICATE_CONTENT_LENGTH'],
  ['Content-Length list', 'POST / HTTP/1.1\r\ncontent-length: 1, 2\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
  ['Content-Length with a sign', 'POST / HTTP/1.1\r\ncontent-length: +1\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
  ['negative Content-Length', 'POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
  ['hex Content-Length', 'POST / HTTP/1.1\r\ncontent-length: 0x10\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
  ['empty Content-Length', 'POST / HTTP/1.1\r\ncontent-length:\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
  ['Content-Length with inner space', 'POST / HTTP/1.1\r\ncontent-length: 1 2\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
  ['Content-Length beyond 2^53', 'POST / HTTP/1.1\r\ncontent-length: 9999999999999999\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
  ['Transfer-Encoding gzip', 'POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding gzip, chunked', 'POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding chunked, gzip', 'POST / HTTP/1.1\r\ntransfer-encoding: chunked, gzip\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding chunked twice in one field', 'POST / HTTP/1.1\r\ntransfer-encoding: chunked, chunked\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding chunked in two fields', 'POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding identity', 'POST / HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding with a look-alike', 'POST / HTTP/1.1\r\ntransfer-encoding: xchunked\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding with a vertical tab', 'POST / HTTP/1.1\r\ntransfer-encoding:\x0bchunked\r\n\r\n', 'INVALID_HEADER_VALUE'],
  ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n', 'TRANSFER_ENCODING_IN_HTTP_1_0'],
  ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', 'DUPLICATE_HOST'],
  ['more than 100 fields', `GET / HTTP/1.1\r\n${'a: b\r\n'.repeat(101)}\r\n`, 'TOO_MANY_HEADERS', 431],
  ['a head over 60 KiB', `GET / HTTP/1.1\r\nx: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`, 'HEADERS_TOO_LARGE', 431],
];

for (const [name, text, code, status] of BAD_REQUESTS) {
  test(`malformed request head → ${code}: ${name}`, () => {
    assert.deepEqual(parseEverySplit(text, true), { error: code, status: status ?? 400 });
  });
}

test('an oversized head is rejected as soon as it passes the limit, without waiting for its end', () => {
  const p = new HeadParser(true);
  assert.equal(p.execute(Buffer.from('GET / HTTP/1.1\r\nx: '), 0), -1);
  let r = -1;
  let fed = 0;
  while (r === -1 && fed < 2 * MAX_HEAD_BYTES) {
    r = p.execute(Buffer.alloc(1000, 'a'), 0);
    fed += 1000;
  }
  assert.equal(r, -2);
  assert.equal(p.error?.code, 'HEADERS_TOO_LARGE');
  assert.ok(fed <= MAX_HEAD_BYTES + 1000, `rejected after ${fed} bytes`);
});

test('pipelined requests: each head ends where the next begins, also across chunk boundaries', () => {
  const text = 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET /3 HTTP/1.1\r\n\r\n';
  for (const step of [Infinity, 1, 5, 17]) {
    const all = Buffer.from(text, 'latin1');
    const p = new HeadParser(true);
    const seen: string[] = [];
    let skip = 0;
    for (let at = 0; at < all.length; at += Math.min(step, all.length)) {
      const piece = Buffer.from(all.subarray(at, Math.min(all.length, at + step)));
      let off = 0;
      while (off < piece.length) {
        if (skip > 0) {
          const n = Math.min(skip, piece.length - off);
          skip -= n;
          off += n;
          continue;
        }
        const r = p.execute(piece, off);
        if (r === -1) break;
        assert.ok(r >= 0, `step ${step}: ${p.error?.code}`);
        seen.push(`${p.head!.method} ${p.head!.target}`);
        skip = p.head!.framing === 'length' ? p.head!.contentLength : 0;
        p.reset();
        off = r;
      }
    }
    assert.deepEqual(seen, ['GET /1', 'POST /2', 'GET /3'], `step ${step}`);
  }
});

test('a head parsed in place references the received bytes; one assembled from pieces is a private copy', () => {
  const chunk = Buffer.from('GET / HTTP/1.1\r\nA: 1\r\n\r\n');
  const p = new HeadParser(true);
  assert.equal(p.execute(chunk, 0), chunk.length);
  assert.equal(p.head!.buf, chunk);
  p.reset();
  assert.equal(p.execute(Buffer.from('GET / HTTP/1.1\r\nA:'), 0), -1);
  assert.equal(p.started, true);
  const tail = Buffer.from(' 2\r\n\r\nNEXT');
  assert.equal(p.execute(tail, 0), 6);
  assert.deepEqual(p.head!.rawHeaders(), ['A', '2']);
  assert.notEqual(p.head!.buf, tail);
});

test('execute refuses to run on before reset()', () => {
  const p = new HeadParser(true);
  p.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0);
  assert.throws(() => p.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0), /reset/);
});

const RESPONSES: { name: string; text: string; want: Parsed }[] = [
  {
    name: 'sized',
    text: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok',
    want: { minor: 1, code: 200, headers: ['Content-Length', '2', 'Connection', 'keep-alive'], framing: 'length', contentLength: 2, keepAlive: true, rest: 'ok' },
  },
  {
    name: 'chunked',
    text: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n',
    want: { minor: 1, code: 200, headers: ['transfer-encoding', 'chunked'], framing: 'chunked', contentLength: -1, keepAlive: true, rest: '' },
  },
  {
    name: 'close-delimited body cannot keep the connection',
    text: 'HTTP/1.1 200 OK\r\nx: y\r\n\r\nabc',
    want: { minor: 1, code: 200, headers: ['x', 'y'], framing: 'close', contentLength: -1, keepAlive: false, rest: 'abc' },
  },
  {
    name: '204 and 304 have no body whatever they say',
    text: 'HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n',
    want: { minor: 1, code: 304, headers: ['content-length', '10'], framing: 'none', contentLength: 10, keepAlive: true, rest: '' },
  },
  {
    name: 'interim response',
    text: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n',
    want: { minor: 1, code: 100, headers: [], framing: 'none', contentLength: -1, keepAlive: true, rest: 'HTTP/1.1 200 OK\r\n' },
  },
  {
    name: 'HTTP/1.0 without keep-alive',
    text: 'HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n',
    want: { minor: 0, code: 200, headers: ['content-length', '0'], framing: 'none', contentLength: 0, keepAlive: false, rest: '' },
  },
  {
    name: 'no reason phrase, and an empty one',
    text: 'HTTP/1.1 404\r\ncontent-length: 0\r\nconnection: close\r\n\r\n',
    want: { minor: 1, code: 404, headers: ['content-length', '0', 'connection', 'close'], framing: 'none', contentLength: 0, keepAlive: false, rest: '' },
  },
];

for (const c of RESPONSES) {
  test(`response head: ${c.name}`, () => assert.deepEqual(parseEverySplit(c.text, false), c.want));
}

const BAD_RESPONSES: [string, string, string][] = [
  ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'INVALID_STATUS'],
  ['status below 100', 'HTTP/1.1 099 x\r\n\r\n', 'INVALID_STATUS'],
  ['letters in the status', 'HTTP/1.1 2x0 OK\r\n\r\n', 'INVALID_STATUS'],
  ['no space after the status', 'HTTP/1.1 200OK\r\n\r\n', 'INVALID_STATUS'],
  ['not HTTP', 'ICY 200 OK\r\n\r\n', 'INVALID_VERSION'],
  ['HTTP/2', 'HTTP/2 200 OK\r\n\r\n', 'INVALID_VERSION'],
  ['control byte in the reason', 'HTTP/1.1 200 O\x01K\r\n\r\n', 'INVALID_REASON'],
  ['a request where a response belongs', 'GET / HTTP/1.1\r\n\r\n', 'INVALID_VERSION'],
  ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n', 'CONTENT_LENGTH_AND_TRANSFER_ENCODING'],
  ['differing Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n', 'DUPLICATE_CONTENT_LENGTH'],
  ['unsupported coding', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
  ['bare LF', 'HTTP/1.1 200 OK\nx: y\r\n\r\n', 'BARE_LF'],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nx: y\r\n z\r\n\r\n', 'OBS_FOLD'],
];

for (const [name, text, code] of BAD_RESPONSES) {
  test(`malformed response head → ${code}: ${name}`, () => {
    assert.equal(parseEverySplit(text, false).error, code);
  });
}

// ---- chunked framer ------------------------------------------------------------------------------

/** Feeds a chunked body in `step`-byte pieces; returns the data, the bytes consumed and what is left. */
function frame(text: string, step = Infinity): { data?: string; error?: string; consumed?: number; done?: boolean } {
  const all = Buffer.from(text, 'latin1');
  const f = new ChunkedFramer();
  const parts: Buffer[] = [];
  const sink = (b: Buffer, s: number, e: number): void => void parts.push(Buffer.from(b.subarray(s, e)));
  let consumed = 0;
  for (let at = 0; at < all.length && !f.done; ) {
    const piece = Buffer.from(all.subarray(at, Math.min(all.length, at + step)));
    const r = f.feed(piece, 0, piece.length, sink);
    if (r === -1) return { error: f.error! };
    consumed += r;
    at += piece.length;
  }
  const data = Buffer.concat(parts).toString('latin1');
  assert.equal(f.dataBytes, data.length);
  return { data, consumed, done: f.done };
}

const GOOD_CHUNKED: [string, string, string, number?][] = [
  ['one chunk', '5\r\nhello\r\n0\r\n\r\n', 'hello'],
  ['several chunks, hex sizes in both cases', 'a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n', '0123456789abcdefghij'],
  ['leading zeros', '005\r\nhello\r\n0000\r\n\r\n', 'hello'],
  ['extensions', '5;name=value;x\r\nhello\r\n0;last\r\n\r\n', 'hello'],
  ['trailers', '5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n', 'hello'],
  ['empty body', '0\r\n\r\n', ''],
  ['stops at the end of the body', '2\r\nok\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n', 'ok', 12],
];

for (const [name, text, data, consumed] of GOOD_CHUNKED) {
  test(`chunked body: ${name}`, () => {
    for (const step of [Infinity, 1, 2, 3, 5]) {
      const r = frame(text, step);
      assert.deepEqual(r, { data, consumed: consumed ?? text.length, done: true }, `step ${step}`);
    }
    const whole = new ChunkedFramer();
    assert.equal(whole.feed(Buffer.from(text, 'latin1'), 0, text.length), consumed ?? text.length);
  });
}

const BAD_CHUNKED: [string, string][] = [
  ['non-hex size', 'zz\r\n'],
  ['empty size', '\r\nhello\r\n0\r\n\r\n'],
  ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
  ['negative size', '-5\r\nhello\r\n0\r\n\r\n'],
  ['space after the size', '5 \r\nhello\r\n0\r\n\r\n'],
  ['bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
  ['bare CR after the size', '5\rhello\r\n0\r\n\r\n'],
  ['data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
  ['bare LF after data', '3\r\nabc\n0\r\n\r\n'],
  ['size over 2^52', 'ffffffffffffff\r\n'],
  ['control byte in an extension', '5;a\x01\r\nhello\r\n0\r\n\r\n'],
  ['bare LF in a trailer', '0\r\nX: 1\n\r\n'],
  ['folded trailer', '0\r\n x: 1\r\n\r\n'],
  ['bare CR at the end', '0\r\n\r\r'],
];

for (const [name, text] of BAD_CHUNKED) {
  test(`malformed chunked body: ${name}`, () => {
    for (const step of [Infinity, 1, 4]) assert.ok(frame(text, step).error, `step ${step}: accepted`);
  });
}

test('chunked passthrough: feed reports how far the body goes, so the bytes can be forwarded unmodified', () => {
  const f = new ChunkedFramer();
  const b = Buffer.from('4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT');
  assert.equal(f.feed(b, 0, 10), 10);
  assert.equal(f.done, false);
  assert.equal(f.dataBytes, 4);
  assert.equal(f.feed(b, 10, b.length), b.length - 4);
  assert.equal(f.done, true);
  assert.equal(f.dataBytes, 9);
});
