import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import { H2Pool } from '../../src/upstream/h2/pool';
import { eventually, request, sample, startBackend } from './proxy-helpers';
import { h2backend, h2connect, h2request, H2Harness, meshOf } from './fixtures/h2-harness';

function get(pool: H2Pool, addr: Addr, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const head = [':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', p];
    pool.request(`${addr.address}:${addr.port}`, addr, head, 'GET', { endStream: true }, {
      headers: (h) => resolve(Number(h[h.indexOf(':status') + 1])),
      abort: (why, code) => reject(new Error(`stream ${why} (code ${code})`)),
    });
  });
}

test('h2 pool: the peer’s maxConcurrentStreams is honoured by opening more sessions', async (t) => {
  const held: (() => void)[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
  server.on('session', (s) => sessions.add(s));
  server.on('stream', (stream) => held.push(() => stream.respond({ ':status': 200 }, { endStream: true })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  const pool = new H2Pool({ connectTimeoutMs: 1_000, idleTimeoutMs: 0 });
  t.after(() => {
    pool.close();
    for (const s of sessions) s.destroy();
    server.close();
  });
  // The first session learns the limit from SETTINGS before more streams are put on it.
  const first = get(pool, addr, '/0');
  await eventually(() => held.length === 1, 'first stream arrived');
  const rest = [1, 2, 3, 4].map((i) => get(pool, addr, `/${i}`));
  await eventually(() => held.length === 5, 'all five streams reached the server');
  assert.equal(sessions.size, 3, 'two streams per session: three sessions');
  for (const h of held) h();
  assert.deepEqual(await Promise.all([first, ...rest]), [200, 200, 200, 200, 200]);
});

test('h2 pool: a peer allowing more than 100 streams gets them on one session once its limit is known', async (t) => {
  const held: (() => void)[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer({ settings: { maxConcurrentStreams: 500 } });
  server.on('session', (s) => sessions.add(s));
  server.on('stream', (stream) => held.push(() => stream.respond({ ':status': 200 }, { endStream: true })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  const pool = new H2Pool({ connectTimeoutMs: 1_000, idleTimeoutMs: 0 });
  t.after(() => {
    pool.close();
    for (const s of sessions) s.destroy();
    server.close();
  });
  const first = get(pool, addr, '/0');
  await eventually(() => held.length === 1, 'first stream arrived');
  const rest = Array.from({ length: 149 }, (_, i) => get(pool, addr, `/${i + 1}`));
  await eventually(() => held.length === 150, 'all streams reached the server');
  assert.equal(sessions.size, 1, '150 streams in flight on the one session the peer allows 500 on');
  for (const h of held) h();
  const codes = await Promise.all([first, ...rest]);
  assert.ok(codes.every((c) => c === 200));
});

test('h2 upstream GOAWAY: later requests move to a new session, a stream refused in the race is resent once; idle sessions close', async (t) => {
  let n = 0;
  const sessions = new Set<unknown>();
  const backend = await h2backend((stream) => {
    n++;
    sessions.add(stream.session);
    stream.respond({ ':status': 200 });
    stream.end(`r${n}`);
    // Every session serves one stream, then says GOAWAY.
    stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
  });
  const mesh = new H2Harness(meshOf([{ name: 'drainer', vip: '127.0.107.3', endpoints: [backend.addr] }]), { timeouts: { upstreamIdleMs: 50 } });
  const client = h2connect(await mesh.entry('127.0.107.3'));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  for (let i = 0; i < 5; i++) assert.equal((await h2request(client, { ':path': `/g${i}` })).status, 200);
  assert.equal(sessions.size, 5);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '200' }), 5);
  await eventually(() => mesh.engine.parts.h2.size() === 0, 'upstream sessions closed once idle');
});

test('relayed endpoints: both the h2 pool and the h1 client dial the relay’s Unix socket instead of the endpoint', async (t) => {
  const h2b = await h2backend((stream) => {
    stream.respond({ ':status': 200 });
    stream.end('via relay');
  });
  const h1b = await startBackend('h1');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-relay-test-'));
  const relayed: string[] = [];
  // A stand-in relay: a Unix socket that splices to the endpoint it was made for.
  const relays = new Map<string, Addr>();
  const servers: net.Server[] = [];
  for (const target of [h2b.addr, h1b.addr]) {
    const file = path.join(dir, `${target.port}.sock`);
    const server = net.createServer((sock) => {
      relayed.push(`${target.port}`);
      const up = net.connect(target.port, target.address);
      sock.pipe(up).pipe(sock);
      sock.on('error', () => up.destroy());
      up.on('error', () => sock.destroy());
    });
    server.listen(file);
    await once(server, 'listening');
    servers.push(server);
    relays.set(`${target.address}:${target.port}`, { address: file, port: 0 });
  }
  const mesh = new H2Harness(
    meshOf([
      { name: 'two', vip: '127.0.107.1', endpoints: [h2b.addr] },
      { name: 'one', vip: '127.0.107.2', endpoints: [h1b.addr], portName: 'http' },
    ]),
    { engine: { dial: (_client, target) => relays.get(`${target.address}:${target.port}`) } },
  );
  const client = h2connect(await mesh.entry('127.0.107.1'));
  t.after(async () => {
    client.close();
    await mesh.close();
    for (const s of servers) s.close();
    await Promise.all([h2b.close(), h1b.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const r = await h2request(client, { ':path': '/' });
  assert.equal(r.body.toString(), 'via relay');
  const r1 = await request(await mesh.h1entry('127.0.107.2'), { path: '/' });
  assert.equal(r1.status, 200);
  assert.deepEqual(relayed, [`${h2b.addr.port}`, `${h1b.addr.port}`]);
});
