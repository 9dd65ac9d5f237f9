// The outbound pools reach the tunnel in-process (upstream/tunnelsock.ts): a route's address dials a
// CONNECT stream directly, with TCP semantics (connect, half-close, reset, refusal), the client's
// identity and address kept per route; and new sessions resume TLS with the identity's own ticket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { dial } from '../../src/upstream/dial';
import { logDue } from '../../src/log';
import { TunnelRoutes, isTunnelAddr, refusalOf, refusedRoute, type TunnelRoute } from '../../src/upstream/tunnelsock';
import { CLIENT_ID, echoServer, eventually, LOCAL, pki, SERVER_ID, spiffe, startTestServer, testPool } from './tunnel-harness';

const OTHER_ID = spiffe('shop', 'cart');

async function setup(t: { after(fn: () => unknown): void }, idleMs = 60_000) {
  const p = await pki([CLIENT_ID, SERVER_ID, OTHER_ID]);
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const pool = testPool(p, { idleMs });
  const opened: TunnelRoute[] = [];
  const routes = new TunnelRoutes((r) => {
    opened.push(r);
    return pool.open({ sourceIdentity: r.identity, destinationIdentities: [SERVER_ID], node: srv.addr, target: r.target, forwardedFor: r.client });
  });
  t.after(async () => {
    routes.close();
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const route = (identity = CLIENT_ID, client = '10.1.2.3', target = echo.addr): TunnelRoute => ({ identity, client: { address: client, port: 0 }, target });
  return { p, echo, srv, pool, routes, opened, route };
}

function collect(s: Duplex): Promise<string> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return once(s, 'end').then(() => Buffer.concat(chunks).toString());
}

test('a route dials a CONNECT stream in-process: connect, bytes both ways, half-close; the stream names the client', async (t) => {
  const { srv, routes, route, opened } = await setup(t);
  const a = routes.ensure(route());
  assert.ok(isTunnelAddr(a));
  assert.deepEqual(routes.ensure(route()), a, 'the same route has the same address (stable pool keys)');
  assert.notDeepEqual(routes.ensure(route(OTHER_ID)), a, 'another identity has its own');
  assert.notDeepEqual(routes.ensure(route(CLIENT_ID, '10.1.2.4')), a, 'another client has its own');
  const { socket, ready } = dial(a, { allowHalfOpen: true });
  assert.equal(ready, 'connect');
  socket.write('written before the peer answered, ');
  await once(socket, 'connect');
  const got = collect(socket);
  const closed = once(socket, 'close');
  socket.end('then half-closed');
  assert.equal(await got, 'written before the peer answered, then half-closed');
  await closed;
  assert.equal(srv.streams.length, 1);
  assert.equal(srv.streams[0]!.peerIdentity, CLIENT_ID);
  assert.deepEqual(srv.streams[0]!.forwardedFor, { address: '10.1.2.3', port: 0 });
  assert.deepEqual(opened.map((r) => r.identity), [CLIENT_ID]);
});

test('a route found again after a reload forgot it is registered anew and dials', async (t) => {
  const { routes, route, opened } = await setup(t);
  const a = routes.ensure(route());
  assert.equal(routes.ensure(route()), a, 'a known route is the same address');
  routes.retain(() => false);
  assert.equal(routes.size, 0);
  const again = routes.ensure(route());
  assert.deepEqual(again, a, 'the same route keeps its address (stable pool keys)');
  assert.equal(routes.size, 1);
  const socket = dial(again).socket;
  await once(socket, 'connect');
  const got = collect(socket);
  socket.end('after the reload');
  assert.equal(await got, 'after the reload');
  assert.deepEqual(opened.map((r) => r.identity), [CLIENT_ID]);
});

test('onread: reads go to the callback; pause holds the stream; the end is still heard', async (t) => {
  const { routes, route } = await setup(t);
  const reads: string[] = [];
  const { socket } = dial(routes.ensure(route()), { onread: { buffer: Buffer.alloc(1024), callback: (n, buf) => (reads.push(Buffer.from(buf.subarray(0, n)).toString()), true) } });
  await once(socket, 'connect');
  socket.write('ping');
  await eventually(() => reads.join('') === 'ping', 'the echo through onread');
  const ended = once(socket, 'end');
  socket.end();
  await ended;
});

test('failures: an unknown route, a refused CONNECT and a pod reset surface as a TCP client would see them', async (t) => {
  const { routes, route, srv, pool } = await setup(t);
  // A refused connect to the pod (nothing listens): an error before 'connect', as a refused TCP connect.
  const dead = net.createServer().listen(0, LOCAL);
  await once(dead, 'listening');
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const refused = dial(routes.ensure(route(CLIENT_ID, '10.1.2.3', { address: LOCAL, port }))).socket;
  let connected = false;
  refused.once('connect', () => (connected = true));
  const [err] = (await once(refused, 'error')) as [Error & { code?: string }];
  assert.equal(err.code, 'NM_E_TUNNEL_REFUSED');
  assert.equal(connected, false);

  // A peer agent without the identity the endpoint must have (SAN check): a connect failure too.
  const strict = new TunnelRoutes((r) => pool.open({ sourceIdentity: r.identity, destinationIdentities: [spiffe('shop', 'payments')], node: srv.addr, target: r.target, forwardedFor: r.client }));
  t.after(() => strict.close());
  const impostor = dial(strict.ensure(route())).socket;
  const [tlsErr] = (await once(impostor, 'error')) as [Error & { code?: string }];
  assert.equal(tlsErr.code, 'NM_E_TUNNEL_TLS');

  // A route forgotten by a reload: a connect failure that says so (no socket path in the message).
  const gone = routes.ensure(route(OTHER_ID));
  routes.retain(() => false);
  const s = dial(gone).socket;
  const [e] = (await once(s, 'error')) as [Error & { code?: string }];
  assert.equal(e.code, 'NM_E_TUNNEL_CONNECT');
  assert.match(e.message, /its route was removed by a config reload$/);

  // The pod resets: the client's connection is reset (ECONNRESET), not ended cleanly.
  const live = dial(routes.ensure(route())).socket;
  await once(live, 'connect');
  await eventually(() => srv.streams.length > 0, 'the stream reached the server');
  const closed = new Promise((r) => live.once('close', r));
  const errored = once(live, 'error');
  srv.streams.at(-1)!.stream.close(0x8); // RST_STREAM CANCEL from the peer
  const [reset] = (await errored) as [Error & { code?: string }];
  assert.equal(reset.code, 'ECONNRESET');
  await closed;
});

test('a connection given up while its stream opens cancels the stream; a local destroy resets it', async (t) => {
  const { routes, route, pool, srv, echo } = await setup(t);
  const early = dial(routes.ensure(route())).socket;
  early.destroy();
  await eventually(() => pool.stats().every((s) => s.active === 0), 'the cancelled stream released its slot');
  const s = dial(routes.ensure(route())).socket;
  await once(s, 'connect');
  await eventually(() => srv.streams.length >= 2, 'the second stream reached the server');
  s.destroy();
  await eventually(() => echo.errors.includes('ECONNRESET'), 'the pod saw a reset');
});

test('TLS resumption: a new session of the same identity resumes with its ticket; another identity does not', async (t) => {
  const { pool, srv, echo } = await setup(t, 50);
  const resumed: boolean[] = [];
  const reused = (i: number): boolean => resumed[i]!;
  const once1 = async (id: string): Promise<void> => {
    const s = await pool.open({ sourceIdentity: id, destinationIdentities: [SERVER_ID], node: srv.addr, target: echo.addr, forwardedFor: { address: '10.1.2.3', port: 0 } });
    resumed.push((srv.streams.at(-1)!.stream.session!.socket as TLSSocket).isSessionReused());
    s.end('x');
    s.resume();
    await once(s, 'close');
    await eventually(() => pool.stats().length === 0, 'the idle session closed');
  };
  await once1(CLIENT_ID);
  // The ticket arrives after the handshake; give it a turn if the session closed first.
  await new Promise((r) => setTimeout(r, 20));
  await once1(CLIENT_ID);
  await once1(OTHER_ID);
  assert.deepEqual(srv.streams.map((s) => s.peerIdentity), [CLIENT_ID, CLIENT_ID, OTHER_ID], 'the resumed session keeps its verified identity');
  assert.deepEqual([reused(0), reused(1), reused(2)], [false, true, false]);
  // A rotation forgets the tickets: the next session presents the (new) certificate again.
  pool.rotate();
  await once1(CLIENT_ID);
  assert.equal(reused(3), false);
});

test('an HTTP/2 session runs on a route (the h2 pool): requests in turn, trailers-only answers included', async (t) => {
  const { routes, route } = await setup(t);
  const h2srv = http2.createServer();
  h2srv.on('stream', (s, h) => {
    s.resume();
    s.on('error', () => undefined);
    s.on('end', () => {
      if (s.destroyed) return;
      if (h[':path'] === '/fail') s.respond({ ':status': 200, 'grpc-status': '5' }, { endStream: true });
      else {
        s.respond({ ':status': 200 });
        s.end(`ok ${h[':path']}`);
      }
    });
  });
  h2srv.listen(0, LOCAL);
  await once(h2srv, 'listening');
  const target = { address: LOCAL, port: (h2srv.address() as net.AddressInfo).port };
  const sock = dial(routes.ensure(route(CLIENT_ID, '10.1.2.3', target))).socket;
  const session = http2.connect('http://localhost', { createConnection: () => sock });
  t.after(() => {
    session.destroy();
    h2srv.close();
  });
  const call = (p: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': p });
      req.end('x');
      let body = '';
      let status = '';
      req.on('response', (h) => (status = String(h['grpc-status'] ?? '')));
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => resolve(`${status}|${body}`));
      req.on('error', reject);
    });
  assert.deepEqual([await call('/a'), await call('/fail'), await call('/b')], ['|ok /a', '5|', '|ok /b']);
});

test('a client that is not a mesh workload: its refusal fails the connect and says why', async () => {
  const target = { address: 'fd00::7', port: 8080 };
  const a = refusedRoute('10.9.8.7', target);
  assert.ok(isTunnelAddr(a), 'dialled like a route (no socket of its own)');
  assert.deepEqual(refusalOf(a), { client: '10.9.8.7', target });
  assert.equal(refusalOf({ address: 'hbone:1:x', port: 0 }), undefined);
  for (const opts of [{}, { onread: { buffer: Buffer.alloc(64), callback: () => true } }]) {
    const s = dial(a, opts).socket;
    let connected = false;
    s.once('connect', () => (connected = true));
    const [e] = (await once(s, 'error')) as [Error & { code?: string }];
    assert.equal(e.code, 'NM_E_NOT_MESH_WORKLOAD');
    assert.equal(e.message, 'client 10.9.8.7 is not a mesh workload: no identity to open a tunnel to a mesh endpoint (fd00::7:8080)');
    assert.equal(connected, false);
  }
});

test('logDue: one line per key per interval; the key map is bounded', () => {
  const seen = new Map<string, number>();
  const steps: [string, number, boolean][] = [
    ['a', 0, true],
    ['a', 59_999, false],
    ['b', 10, true],
    ['a', 60_000, true],
    ['a', 60_001, false],
    ['c', 70_000, true], // the third key: the map (max 2) was full, it starts over
    ['a', 70_001, true],
  ];
  for (const [key, now, want] of steps) assert.equal(logDue(seen, key, now, 60_000, 2), want, `${key}@${now}`);
  assert.ok(seen.size <= 2);
});
