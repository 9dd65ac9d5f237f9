import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardRequestHeaders, forwardResponseHeaders, hasRequestBody } from '../../../src/l7/headers';
import { defaultHost, originPath } from '../../../src/l7/exchange';

const ID = (): string => 'generated-id';

const REQUEST_CASES: { name: string; raw: string[]; want: string[]; chunked?: boolean }[] = [
  { name: 'adds request id and forwarded proto', raw: ['Host', 'a'], want: ['Host', 'a', 'x-request-id', 'generated-id', 'x-forwarded-proto', 'http'] },
  {
    name: 'keeps an existing request id and forwarded proto (any case)',
    raw: ['X-Request-Id', 'r1', 'X-Forwarded-Proto', 'https'],
    want: ['X-Request-Id', 'r1', 'X-Forwarded-Proto', 'https'],
  },
  {
    name: 'strips hop-by-hop and Expect',
    raw: ['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'x', 'Upgrade', 'websocket', 'Trailer', 'x', 'Expect', '100-continue', 'A', '1'],
    want: ['A', '1', 'x-request-id', 'generated-id', 'x-forwarded-proto', 'http'],
  },
  {
    name: 'strips headers named by Connection',
    raw: ['X-Secret', 's', 'Connection', 'close, X-Secret', 'B', '2'],
    want: ['B', '2', 'x-request-id', 'generated-id', 'x-forwarded-proto', 'http'],
  },
  { name: 'TE kept only as trailers', raw: ['TE', 'gzip, trailers'], want: ['TE', 'trailers', 'x-request-id', 'generated-id', 'x-forwarded-proto', 'http'] },
  { name: 'TE without trailers dropped', raw: ['TE', 'gzip'], want: ['x-request-id', 'generated-id', 'x-forwarded-proto', 'http'] },
  {
    name: 'chunked body is re-chunked',
    raw: ['Transfer-Encoding', 'chunked'],
    want: ['transfer-encoding', 'chunked', 'x-request-id', 'generated-id', 'x-forwarded-proto', 'http'],
    chunked: true,
  },
  {
    name: 'repeated headers keep order and case',
    raw: ['Cookie', 'a=1', 'cookie', 'b=2'],
    want: ['Cookie', 'a=1', 'cookie', 'b=2', 'x-request-id', 'generated-id', 'x-forwarded-proto', 'http'],
  },
];

for (const c of REQUEST_CASES) {
  test(`request headers: ${c.name}`, () => {
    const r = forwardRequestHeaders(c.raw, ID);
    assert.deepEqual(r.headers, c.want);
    assert.equal(r.chunked, c.chunked ?? false);
  });
}

test('request id is reported whether generated or kept', () => {
  assert.equal(forwardRequestHeaders([], ID).requestId, 'generated-id');
  assert.equal(forwardRequestHeaders(['x-request-id', 'abc'], ID).requestId, 'abc');
});

test('response headers: hop-by-hop stripped, connection: close added while draining', () => {
  const raw = ['Content-Length', '5', 'Connection', 'keep-alive, X-Internal', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'X-Internal', '1', 'Set-Cookie', 'a', 'Set-Cookie', 'b'];
  assert.deepEqual(forwardResponseHeaders(raw, false), ['Content-Length', '5', 'Set-Cookie', 'a', 'Set-Cookie', 'b']);
  assert.deepEqual(forwardResponseHeaders(['A', '1'], true), ['A', '1', 'connection', 'close']);
});

test('hasRequestBody', () => {
  assert.equal(hasRequestBody({}), false);
  assert.equal(hasRequestBody({ 'content-length': '0' }), false);
  assert.equal(hasRequestBody({ 'content-length': '12' }), true);
  assert.equal(hasRequestBody({ 'transfer-encoding': 'chunked' }), true);
});

test('Host for HTTP/1.0 requests without one', () => {
  assert.equal(forwardRequestHeaders(['Host', 'a'], ID).hasHost, true);
  assert.equal(forwardRequestHeaders(['Accept', '*/*'], ID).hasHost, false);
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
