import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeadParser, type Head } from '../../../src/codec/h1parse';
import {
  defaultHost, droppedRequestField, HOP_BY_HOP, newRequestId, nextRequestSeq, originPath, requestIdOf, upstreamRequestHead,
} from '../../../src/codec/headers';

function head(text: string, isRequest: boolean): Head {
  const p = new HeadParser(isRequest);
  const r = p.execute(Buffer.from(text, 'latin1'), 0);
  assert.ok(r >= 0, `parse failed: ${p.error?.code ?? 'incomplete'}`);
  return p.head!;
}

const RW = { host: 'svc.ns.svc.cluster.local', idSeq: 0x0123456789ab };
const ADDED = `x-request-id: ${requestIdOf(0x0123456789ab)}\r\nx-forwarded-proto: http\r\n`;

const REQUEST_CASES: { name: string; text: string; want: string }[] = [
  { name: 'adds request id and forwarded proto', text: 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', want: `GET / HTTP/1.1\r\nHost: a\r\n${ADDED}\r\n` },
  {
    name: 'keeps an existing request id and forwarded proto (any case)',
    text: 'GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: r1\r\nX-Forwarded-Proto: https\r\n\r\n',
    want: 'GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: r1\r\nX-Forwarded-Proto: https\r\n\r\n',
  },
  {
    name: 'strips hop-by-hop and Expect',
    text:
      'POST / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\nUpgrade: websocket\r\n' +
      'Trailer: x\r\nExpect: 100-continue\r\nA: 1\r\ncontent-length: 0\r\n\r\n',
    want: `POST / HTTP/1.1\r\nHost: a\r\nA: 1\r\ncontent-length: 0\r\n${ADDED}\r\n`,
  },
  {
    name: 'strips headers named by Connection',
    text: 'GET / HTTP/1.1\r\nHost: a\r\nX-Secret: s\r\nConnection: close, X-Secret\r\nB: 2\r\n\r\n',
    want: `GET / HTTP/1.1\r\nHost: a\r\nB: 2\r\n${ADDED}\r\n`,
  },
  {
    name: 'Connection cannot strip framing or Host',
    text: 'POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length, host, transfer-encoding\r\nContent-Length: 2\r\n\r\n',
    want: `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n${ADDED}\r\n`,
  },
  { name: 'TE kept only as trailers', text: 'GET / HTTP/1.1\r\nHost: a\r\nTE: gzip, trailers\r\n\r\n', want: `GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n${ADDED}\r\n` },
  { name: 'TE without trailers dropped', text: 'GET / HTTP/1.1\r\nHost: a\r\nTE: gzip\r\n\r\n', want: `GET / HTTP/1.1\r\nHost: a\r\n${ADDED}\r\n` },
  {
    name: 'a chunked body is forwarded as received, so Transfer-Encoding stays in place',
    text: 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\n\r\n',
    want: `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\n${ADDED}\r\n`,
  },
  {
    name: 'repeated headers keep order and case',
    text: 'GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n',
    want: `GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\ncookie: b=2\r\n${ADDED}\r\n`,
  },
  {
    name: 'HTTP/1.0 without Host: upstream is HTTP/1.1 with the service host',
    text: 'GET /old HTTP/1.0\r\nAccept: */*\r\n\r\n',
    want: `GET /old HTTP/1.1\r\nAccept: */*\r\nhost: svc.ns.svc.cluster.local\r\n${ADDED}\r\n`,
  },
  {
    name: 'absolute-form target becomes origin-form',
    text: 'GET http://a:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n',
    want: `GET /x?y HTTP/1.1\r\nHost: a\r\n${ADDED}\r\n`,
  },
];

for (const c of REQUEST_CASES) {
  test(`request head: ${c.name}`, () => {
    assert.equal(upstreamRequestHead(head(c.text, true), RW).toString('latin1'), c.want);
  });
}

test('request head and the first body bytes come out as one buffer', () => {
  const body = Buffer.from('xxhelloyy');
  const out = upstreamRequestHead(head('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n', true), RW, body, 2, 7);
  assert.equal(out.toString('latin1'), `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n${ADDED}\r\nhello`);
});


test('request ids written into heads match their text form, at both ends of the counter', () => {
  for (const idSeq of [0, 1, 0xffffff, 0x1000000, 2 ** 48 - 1]) {
    const out = upstreamRequestHead(head('GET / HTTP/1.1\r\nHost: a\r\n\r\n', true), { host: 'h', idSeq }).toString('latin1');
    assert.match(out, new RegExp(`\r\nx-request-id: ${requestIdOf(idSeq)}\r\n`));
  }
  assert.match(requestIdOf(0), /-000000000000$/);
  assert.match(requestIdOf(2 ** 48 - 1), /-ffffffffffff$/);
  assert.notEqual(nextRequestSeq(), nextRequestSeq());
});

test('request ids: UUID-shaped, version 4, unique', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = newRequestId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 10_000);
});

test('Host for HTTP/1.0 requests without one', () => {
  assert.equal(head('GET / HTTP/1.1\r\nHost: a\r\n\r\n', true).hostCount, 1);
  assert.equal(head('GET / HTTP/1.0\r\nAccept: */*\r\n\r\n', true).hostCount, 0);
  assert.equal(defaultHost('svc.ns.svc.cluster.local', 80, '10.96.0.1'), 'svc.ns.svc.cluster.local');
  assert.equal(defaultHost('svc.ns.svc.cluster.local', 8080, '10.96.0.1'), 'svc.ns.svc.cluster.local:8080');
  assert.equal(defaultHost(undefined, 8080, '10.96.0.1'), '10.96.0.1:8080');
});

test('originPath', () => {
  assert.equal(originPath('/a?b'), '/a?b');
  assert.equal(originPath('*'), '*');
  assert.equal(originPath('http://host:8080/x/y?z'), '/x/y?z');
  assert.equal(originPath('http://host'), '/');
});

test('hop-by-hop by name: one list; requests also drop expect and host, responses keep what they need', () => {
  assert.deepEqual([...HOP_BY_HOP].sort(), ['connection', 'http2-settings', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
  for (const name of [...HOP_BY_HOP, 'expect', 'host']) assert.equal(droppedRequestField(name), true, name);
  for (const name of ['content-type', 'content-length', 'x-request-id', 'grpc-timeout', 'cookie']) assert.equal(droppedRequestField(name), false, name);
  for (const name of ['content-type', 'content-length', 'set-cookie', 'grpc-status', 'location']) assert.equal(HOP_BY_HOP.has(name), false, name);
});
