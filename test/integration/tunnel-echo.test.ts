// The data path through the tunnel: pod → pool → HBONE → server → pod, with half-close and resets
// crossing it as TCP semantics, many connections multiplexed over one session, and the destination
// seeing who connected (mTLS identity) and for whom (forwarded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { once } from 'node:events';
import { splice } from '../../src/tunnel/splice';
import { CLIENT_ID, echoServer, eventually, LOCAL, openTo, pki, roundTrip, startTestServer, testPool } from './tunnel-harness';

test('bytes cross the tunnel both ways with half-close, and the server sees identity, target and forwarded-for', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const baggage = 'k8s.namespace.name=shop,k8s.deployment.name=frontend';
  const stream = await openTo(pool, srv.addr, echo.addr, { headers: { traceparent, baggage, forwarded: 'for="6.6.6.6:1"' } });
  // 1 MiB + odd bytes: more than the stream and connection windows, so flow control is exercised.
  const payload = Buffer.concat([Buffer.from([0, 255, 1, 254]), Buffer.alloc(1 << 20, 'q'), Buffer.from('tail')]);
  const back = await roundTrip(stream, payload);
  assert.equal(back.equals(payload), true);

  assert.equal(srv.streams.length, 1);
  const ctx = srv.streams[0]!;
  assert.equal(ctx.peerIdentity, CLIENT_ID);
  assert.deepEqual(ctx.target, echo.addr);
  // The caller cannot override forwarded: it always names the original client given to open().
  assert.deepEqual(ctx.forwardedFor, { address: '10.1.2.3', port: 40000 });
  assert.equal(ctx.headers.traceparent, traceparent);
  assert.equal(ctx.headers.baggage, baggage);
  assert.equal(ctx.headers[':method'], 'CONNECT');
  assert.equal(ctx.remote.address, LOCAL);
});

test('the server half-closes first: the client still sends after the server FIN, and both sides end', async (t) => {
  const p = await pki();
  // A pod that greets, half-closes, then reports what it received before closing.
  const pod = net.createServer({ allowHalfOpen: true }, (s) => {
    let got = '';
    s.setEncoding('latin1');
    s.write('hello;');
    s.end();
    s.on('data', (d: string) => (got += d));
    s.on('end', () => (received = got));
    s.on('error', () => undefined);
  });
  let received = '';
  pod.listen(0, LOCAL);
  await once(pod, 'listening');
  const podAddr = { address: LOCAL, port: (pod.address() as net.AddressInfo).port };
  const srv = await startTestServer(p);
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await new Promise((r) => pod.close(r));
  });
  const stream = await openTo(pool, srv.addr, podAddr);
  let greeting = '';
  stream.setEncoding('latin1');
  stream.on('data', (d: string) => (greeting += d));
  await once(stream, 'end');
  assert.equal(greeting, 'hello;');
  stream.end('late bytes after the server FIN');
  await once(stream, 'close');
  await eventually(() => received === 'late bytes after the server FIN', 'pod received the late bytes');
  assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
});

test('resets cross the tunnel: a client reset becomes a TCP RST at the pod, a pod RST a stream reset', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  // A pod that answers one chunk and then resets its connection.
  const rst = net.createServer((s) => {
    s.once('data', () => s.resetAndDestroy());
    s.on('error', () => undefined);
  });
  rst.listen(0, LOCAL);
  await once(rst, 'listening');
  const rstAddr = { address: LOCAL, port: (rst.address() as net.AddressInfo).port };
  const srv = await startTestServer(p);
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
    await new Promise((r) => rst.close(r));
  });

  const a = await openTo(pool, srv.addr, echo.addr);
  a.write('x');
  await once(a, 'data');
  a.close(http2.constants.NGHTTP2_CANCEL);
  await eventually(() => echo.errors.includes('ECONNRESET'), 'the echo pod saw ECONNRESET');

  const b = await openTo(pool, srv.addr, rstAddr);
  b.on('error', () => undefined);
  b.write('boom');
  // Not events.once: it would reject on the stream's expected 'error'.
  await new Promise((r) => b.once('close', r));
  assert.equal(b.rstCode, http2.constants.NGHTTP2_CONNECT_ERROR);
});

test('150 concurrent connections share the pool: 100 streams per session, then a second session', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const streams = await Promise.all(Array.from({ length: 150 }, () => openTo(pool, srv.addr, echo.addr)));
  const sessions = pool.stats();
  assert.equal(sessions.length, 2);
  assert.deepEqual(sessions.map((s) => s.active).sort((x, y) => x - y), [50, 100]);
  assert.equal(new Set(sessions.map((s) => s.key)).size, 1);
  const replies = await Promise.all(streams.map((s, i) => roundTrip(s, Buffer.from(`conn-${i};`.repeat(100)))));
  replies.forEach((r, i) => assert.equal(r.toString(), `conn-${i};`.repeat(100)));
  assert.equal(srv.streams.length, 150);
  assert.ok(srv.streams.every((c) => c.peerIdentity === CLIENT_ID));
  // Streams done, sessions stay pooled (idle) and are reused.
  await eventually(() => pool.stats().every((s) => s.active === 0), 'streams released');
  await openTo(pool, srv.addr, echo.addr).then((s) => roundTrip(s, Buffer.from('again')));
  assert.equal(pool.stats().length, 2);
});

test('splice joins a stream and a socket for the source side too (client socket ↔ pool stream)', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const pool = testPool(p);
  // The source agent: accepts the app's connection and tunnels it.
  const results: Array<Promise<unknown>> = [];
  const agent = net.createServer({ allowHalfOpen: true }, (client) => {
    client.on('error', () => undefined);
    results.push(
      openTo(pool, srv.addr, echo.addr).then(
        (stream) => splice(stream, client),
        () => client.resetAndDestroy(),
      ),
    );
  });
  agent.listen(0, LOCAL);
  await once(agent, 'listening');
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
    await new Promise((r) => agent.close(r));
  });
  const app = net.connect((agent.address() as net.AddressInfo).port, LOCAL);
  const chunks: Buffer[] = [];
  app.on('data', (c: Buffer) => chunks.push(c));
  await once(app, 'connect');
  app.end('through two agents');
  await once(app, 'close');
  assert.equal(Buffer.concat(chunks).toString(), 'through two agents');
  const [r] = (await Promise.all(results)) as Array<{ fromSocket: number; fromStream: number; reset: string }>;
  assert.deepEqual(r, { fromSocket: 18, fromStream: 18, reset: 'none' });
});
