import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { AccessLog } from '../../src/telemetry/accesslog';
import { collectAccessLog } from '../helpers/access-lines';
import { endpoint, eventually, meshConfig, raw, request, sample, startBackend, startProxy } from './proxy-helpers';

test('access log: one Envoy-style JSON line per request and per TCP connection; off writes nothing', async (t) => {
  const backend = await startBackend('a');
  const { accessLog: log, lines } = collectAccessLog();
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)]), { accessLog: log });
  const tcp = await startProxy(meshConfig([endpoint(backend.addr)], 'TCP'), { accessLog: log });
  const off = new AccessLog({ enabled: false, logger: pino({ level: 'info' }, new Writable({ write: () => assert.fail('disabled log wrote') })) });
  const quiet = await startProxy(meshConfig([endpoint(backend.addr)]), { accessLog: off });
  t.after(async () => {
    await Promise.all([proxy.close(), tcp.close(), quiet.close()]);
    await backend.close();
  });
  await request(proxy.addr, { path: '/p?x=1', headers: { 'user-agent': 'ua/1', 'x-request-id': 'rid-1', host: 'backend:80' } });
  await eventually(() => lines.length === 1, 'http line');
  const h = lines[0]!;
  assert.equal(h['module'], 'access');
  assert.equal(h['method'], 'GET');
  assert.equal(h['path'], '/p?x=1');
  assert.equal(h['protocol'], 'HTTP/1.1');
  assert.equal(h['response_code'], 200);
  assert.equal(h['response_flags'], '-');
  assert.equal(h['request_id'], 'rid-1');
  assert.equal(h['user_agent'], 'ua/1');
  assert.equal(h['authority'], 'backend:80');
  assert.equal(h['upstream_host'], `127.0.0.1:${backend.addr.port}`);
  assert.equal(h['upstream_cluster'], 'outbound|80||backend.default.svc.cluster.local');
  assert.equal(h['downstream_local_address'], '127.0.100.1:80');
  assert.match(String(h['downstream_remote_address']), /^127\.0\.0\.1:\d+$/);
  assert.match(String(h['upstream_local_address']), /^127\.0\.0\.1:\d+$/);
  assert.equal(typeof h['bytes_sent'], 'number');
  assert.equal(typeof h['duration'], 'number');
  assert.equal(typeof h['upstream_service_time'], 'number');
  assert.match(String(h['start_time']), /^\d{4}-\d\d-\d\dT/);
  for (const k of ['x_forwarded_for', 'connection_termination_details', 'bytes_received']) assert.ok(k in h, k);

  const r = await raw(tcp.addr, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200/);
  await eventually(() => lines.length === 2, 'tcp line');
  const c = lines[1]!;
  assert.equal(c['method'], null);
  assert.equal(c['response_code'], 0);
  assert.equal(c['bytes_received'], 46);
  assert.equal(c['bytes_sent'], Buffer.byteLength(r.text));
  assert.equal(c['upstream_host'], `127.0.0.1:${backend.addr.port}`);

  assert.equal((await request(quiet.addr)).status, 200);
});

test('a pooled upstream connection closed by the server is retried once on a fresh one (bodyless only)', async (t) => {
  // Serves exactly one request per connection, then drops the connection when the next one arrives.
  let served = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let requests = 0;
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        const end = buf.indexOf('\r\n\r\n') + 4;
        const head = buf.slice(0, end);
        const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + len) return;
        buf = buf.slice(end + len);
        if (++requests > 1) return void s.destroy();
        served++;
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  const proxy = await startProxy(meshConfig([endpoint(addr)]));
  t.after(async () => {
    await proxy.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  for (let i = 0; i < 4; i++) assert.equal((await request(proxy.addr)).status, 200, `GET ${i}`);
  assert.equal(served, 4);
  // With a body, nothing is replayed: the client sees the failure.
  const post = await request(proxy.addr, { method: 'POST', body: 'abc', headers: { 'content-length': 3 } });
  assert.equal(post.status, 503);
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_flags: 'UC' }), 1);
});

test('close(drainMs) stops accepting, lets an in-flight request finish with connection: close, then ends', async (t) => {
  const slow = await startBackend('slow', (_req, res) => setTimeout(() => res.end('late'), 100));
  const proxy = await startProxy(meshConfig([endpoint(slow.addr)]));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(async () => {
    agent.destroy();
    await proxy.close();
    await slow.close();
  });
  const pending = request(proxy.addr, { agent });
  await eventually(() => slow.requests === 1, 'request in flight');
  const closing = proxy.listener.close(5_000);
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'late');
  assert.equal(r.headers['connection'], 'close');
  await closing;
  assert.equal(proxy.listener.connections(), 0);
  await assert.rejects(request(proxy.addr), /ECONNREFUSED/);
});
