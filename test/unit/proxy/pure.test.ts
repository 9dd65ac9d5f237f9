import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpcStatusForHttp, grpcStatusOf, grpcTimeoutMs, encodeGrpcMessage, trailersOnly } from '../../../src/proxy/grpc';
import { cookieValue, hashKeyOf, queryParam, setCookieValue, type HashInput } from '../../../src/proxy/hashkey';
import { addProxyFields, applyEdits, getHeader, responseFields, shadowAuthority } from '../../../src/proxy/headerops';
import type { HeaderList } from '../../../src/proxy/types';

test('applyEdits: remove, then set (replacing every value), then add; no edits returns the same list', () => {
  const list: HeaderList = [['a', '1'], ['b', '2'], ['b', '3'], ['c', '4']];
  assert.equal(applyEdits(list, undefined), list);
  assert.equal(applyEdits(list, { remove: [], set: [], add: [] }), list);
  assert.deepEqual(applyEdits(list, { remove: ['c'], set: [['b', 'x']], add: [['a', '5'], ['d', '6']] }), [
    ['a', '1'],
    ['b', 'x'],
    ['a', '5'],
    ['d', '6'],
  ]);
  assert.deepEqual(applyEdits([], { remove: ['x'], set: [['y', '1']], add: [] }), [['y', '1']]);
});

test('shadowAuthority: -shadow before the port, IPv6 literals kept intact', () => {
  const cases: [string, string][] = [
    ['web', 'web-shadow'],
    ['web.default:8080', 'web.default-shadow:8080'],
    ['[::1]:80', '[::1]-shadow:80'],
    ['[::1]', '[::1]-shadow'],
    ['', '-shadow'],
  ];
  for (const [input, want] of cases) assert.equal(shadowAuthority(input), want, input);
});

test('responseFields drops hop-by-hop, pseudo and Connection-named fields; a clean list is returned as is', () => {
  const clean: HeaderList = [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']];
  assert.equal(responseFields(clean), clean);
  assert.deepEqual(
    responseFields([[':status', '200'], ['connection', 'close, x-hop'], ['x-hop', '1'], ['keep-alive', 'timeout=5'], ['transfer-encoding', 'chunked'], ['x-ok', '2']]),
    [['x-ok', '2']],
  );
});

test('addProxyFields adds x-request-id and x-forwarded-proto only when absent', () => {
  assert.deepEqual(addProxyFields([['a', '1']], { requestId: 'id-1' }), [['a', '1'], ['x-request-id', 'id-1'], ['x-forwarded-proto', 'http']]);
  assert.deepEqual(addProxyFields([['x-request-id', 'mine'], ['x-forwarded-proto', 'https']], { requestId: 'id-2' }), [['x-request-id', 'mine'], ['x-forwarded-proto', 'https']]);
  assert.deepEqual(addProxyFields([], { requestId: undefined }), [['x-forwarded-proto', 'http']]);
  assert.equal(getHeader([['a', '1'], ['a', '2']], 'a'), '1');
});

function input(headers: HeaderList, path = '/', sourceIp = '10.0.0.1'): HashInput {
  return { header: (n) => getHeader(headers, n), headers: () => headers, path, sourceIp };
}

test('hashKeyOf: header, source ip, query parameter, and a cookie issued when absent', () => {
  const gen = (): string => 'generated';
  assert.deepEqual(hashKeyOf(undefined, input([]), gen), { key: undefined });
  assert.deepEqual(hashKeyOf({ header: 'x-user' }, input([['x-user', 'alice']]), gen), { key: 'alice' });
  assert.deepEqual(hashKeyOf({ header: 'x-user' }, input([]), gen), { key: undefined });
  assert.deepEqual(hashKeyOf({ sourceIp: true }, input([], '/', '10.1.2.3'), gen), { key: '10.1.2.3' });
  assert.deepEqual(hashKeyOf({ queryParameter: 'u' }, input([], '/p?a=1&u=b%20c'), gen), { key: 'b c' });
  assert.deepEqual(hashKeyOf({ queryParameter: 'u' }, input([], '/p?a=1'), gen), { key: undefined });
  const cookie = { cookie: { name: 's', path: '/', ttlMs: 90_000 } };
  assert.deepEqual(hashKeyOf(cookie, input([['cookie', 'x=1; s="abc"']]), gen), { key: 'abc' });
  assert.deepEqual(hashKeyOf(cookie, input([['cookie', 'x=1'], ['cookie', 's=def']]), gen), { key: 'def' });
  assert.deepEqual(hashKeyOf(cookie, input([]), gen), { key: 'generated', setCookie: 's="generated"; Max-Age=90; Path=/; HttpOnly' });
});

test('cookie helpers: values across split Cookie fields, session cookies, query decoding', () => {
  assert.equal(cookieValue([['cookie', 'a=1;b=2']], 'b'), '2');
  assert.equal(cookieValue([['cookie', 'ab=1']], 'a'), undefined);
  assert.equal(setCookieValue('n', 'v', undefined, 0), 'n="v"; HttpOnly');
  assert.equal(setCookieValue('n', 'v', '/app', 500), 'n="v"; Max-Age=1; Path=/app; HttpOnly');
  const table: [string, string, string | undefined][] = [
    ['/x?k=v', 'k', 'v'],
    ['/x?k', 'k', ''],
    ['/x?a=1&k=2&k=3', 'k', '2'],
    ['/x?k=a+b#frag', 'k', 'a b'],
    ['/x?k=%zz', 'k', '%zz'],
    ['/x', 'k', undefined],
  ];
  for (const [path, name, want] of table) assert.equal(queryParam(path, name), want, path);
});

test('grpc-timeout parsing (units H M S m u n), malformed values ignored', () => {
  const table: [string | undefined, number | undefined][] = [
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3_000],
    ['150m', 150],
    ['2500u', 2.5],
    ['1000000n', 1],
    ['123456789S', undefined],
    ['10', undefined],
    ['-1S', undefined],
    ['1s', undefined],
    [undefined, undefined],
  ];
  for (const [v, want] of table) assert.equal(grpcTimeoutMs(v), want, String(v));
});

test('gRPC status of local answers follows the HTTP-to-gRPC table; messages are percent-encoded', () => {
  const table: [number, number][] = [
    [400, 13],
    [401, 16],
    [403, 7],
    [404, 12],
    [429, 14],
    [502, 14],
    [503, 14],
    [504, 14],
    [418, 2],
    [500, 2],
  ];
  for (const [http, grpc] of table) assert.equal(grpcStatusForHttp(http), grpc, String(http));
  assert.equal(encodeGrpcMessage('upstream request timeout'), 'upstream request timeout');
  assert.equal(encodeGrpcMessage('100% é'), '100%25 %C3%A9');
  assert.deepEqual(trailersOnly(14, 'x'), [['content-type', 'application/grpc'], ['grpc-status', '14'], ['grpc-message', 'x']]);
  assert.deepEqual(trailersOnly(0, ''), [['content-type', 'application/grpc'], ['grpc-status', '0']]);
  assert.equal(grpcStatusOf([['grpc-status', ' 5 ']]), '5');
  assert.equal(grpcStatusOf(undefined), '');
});
