import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { classify, declaredProtocol, detect, pathFor, SNIFF_LIMIT, type Sniffed } from '../../../src/downstream/detect';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const H2 = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

const CASES: [string, Buffer, Sniffed][] = [
  ['empty', b(''), 'need-more'],
  ['GET request line', b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'http1'],
  ['HTTP/1.0', b('GET /x HTTP/1.0\r\n'), 'http1'],
  ['bare LF line end', b('GET / HTTP/1.1\n'), 'http1'],
  ['POST absolute-form', b('POST http://a/b HTTP/1.1\r\n'), 'http1'],
  ['OPTIONS *', b('OPTIONS * HTTP/1.1\r\n'), 'http1'],
  ['WebDAV method', b('PROPFIND /d HTTP/1.1\r\n'), 'http1'],
  ['method only', b('GET'), 'need-more'],
  ['method and space', b('GET '), 'need-more'],
  ['partial target', b('GET /index.ht'), 'need-more'],
  ['partial version', b('GET / HTT'), 'need-more'],
  ['version without CRLF yet', b('GET / HTTP/1.1'), 'need-more'],
  ['CR without LF yet', b('GET / HTTP/1.1\r'), 'need-more'],
  ['HTTP/2 version on request line', b('GET / HTTP/2.0\r\n'), 'opaque'],
  ['lowercase method (memcached)', b('get key\r\n'), 'opaque'],
  ['Redis inline command', b('SET key value\r\n'), 'opaque'],
  ['Redis RESP', b('*1\r\n$4\r\nPING\r\n'), 'opaque'],
  ['two spaces after method', b('GET  / HTTP/1.1\r\n'), 'opaque'],
  ['garbage after version', b('GET / HTTP/1.1xx'), 'opaque'],
  ['method too long', b(`${'A'.repeat(30)} / HTTP/1.1\r\n`), 'opaque'],
  ['h2 preface', b(H2), 'h2'],
  ['h2 preface plus frames', Buffer.concat([b(H2), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]), 'h2'],
  ['h2 preface prefix', b('PRI * HTTP/2'), 'need-more'],
  ['PRI as an HTTP/1 method', b('PRI /x HTTP/1.1\r\n'), 'http1'],
  ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'tls'],
  ['TLS first byte only', Buffer.from([0x16]), 'need-more'],
  ['0x16 not followed by 0x03', Buffer.from([0x16, 0x01]), 'opaque'],
  ['binary', Buffer.from([0x00, 0x01, 0x02]), 'opaque'],
  ['MySQL-like greeting', Buffer.from([0x4a, 0x00, 0x00, 0x00, 0x0a]), 'opaque'],
  ['long URL past the limit', b(`GET /${'a'.repeat(SNIFF_LIMIT)}`), 'http1'],
  ['long token past the limit', b('A'.repeat(SNIFF_LIMIT + 10)), 'opaque'],
];

for (const [name, input, want] of CASES) {
  test(`classify: ${name} → ${want}`, () => {
    assert.equal(classify(input), want);
  });
}

test('declared port protocols skip sniffing', () => {
  assert.equal(declaredProtocol(undefined), undefined);
  assert.equal(declaredProtocol('HTTP'), 'http1');
  for (const p of ['TCP', 'TLS', 'HTTPS'] as const) assert.equal(declaredProtocol(p), 'opaque', p);
  for (const p of ['HTTP2', 'GRPC'] as const) assert.equal(declaredProtocol(p), 'h2', p);
  assert.equal(pathFor('http1'), 'http1');
  assert.equal(pathFor('h2'), 'h2');
  for (const p of ['tls', 'opaque'] as const) assert.equal(pathFor(p), 'tcp', p);
});

async function pair(): Promise<{ server: net.Server; client: net.Socket; accepted: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [accepted] = (await once(server, 'connection')) as [net.Socket];
  return { server, client, accepted };
}

test('detect classifies, then hands back every byte it read', async (t) => {
  const { server, client, accepted } = await pair();
  t.after(() => {
    client.destroy();
    accepted.destroy();
    server.close();
  });
  client.write('GET /a');
  setTimeout(() => client.write(' HTTP/1.1\r\nhost: x\r\n\r\n'), 10);
  const r = await detect(accepted, 5_000);
  assert.deepEqual(r, { protocol: 'http1', outcome: 'decided', head: undefined });
  const chunks: Buffer[] = [];
  accepted.on('data', (c: Buffer) => chunks.push(c));
  accepted.resume(); // detect leaves the socket paused for its next consumer
  client.end();
  await once(accepted, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'GET /a HTTP/1.1\r\nhost: x\r\n\r\n');
});

test('detect times out to opaque when the client waits for the server', async (t) => {
  const { server, client, accepted } = await pair();
  t.after(() => {
    client.destroy();
    accepted.destroy();
    server.close();
  });
  assert.deepEqual(await detect(accepted, 20), { protocol: 'opaque', outcome: 'timeout', head: undefined });
});

test('detect returns bytes of a client that half-closed before a decision', async (t) => {
  const { server, client, accepted } = await pair();
  t.after(() => {
    client.destroy();
    accepted.destroy();
    server.close();
  });
  client.end('GET /');
  const r = await detect(accepted, 5_000);
  assert.equal(r.protocol, 'opaque');
  assert.equal(r.outcome, 'ended');
  assert.equal(r.head?.toString(), 'GET /');
});
