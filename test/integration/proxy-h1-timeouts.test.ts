// Client-side HTTP/1 bounds of the outbound listener (issue 10): the header timeout counted from the
// accept for a connection's first request (detection included) and from the first byte for later ones,
// the idle timeout between requests, 400 for an HTTP/1.1 request without Host, and 400 for a request body
// whose chunk framing breaks after the head went upstream. Timing is asserted as behaviour: never before
// the bound, and within a generous margin after it (the coarse clock ticks at most every 250 ms).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { AccessLog } from '../../src/telemetry/accesslog';
import type { Addr } from '../../src/capture/types';
import { endpoint, eventually, meshConfig, raw, sample, startBackend, startProxy } from './proxy-helpers';

/** A client socket that records what it got and when the proxy ended the connection. */
interface Watched {
  readonly socket: net.Socket;
  readonly t0: number;
  text(): string;
  /** ms from connect to the proxy's FIN or close; resolves once it happened. */
  readonly closedAfter: Promise<number>;
}

async function connect(addr: Addr): Promise<Watched> {
  const socket = net.connect(addr.port, addr.address);
  await once(socket, 'connect');
  const t0 = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  const closedAfter = new Promise<number>((resolve) => {
    const done = (): void => resolve(performance.now() - t0);
    socket.once('end', done);
    socket.once('close', done);
  });
  return { socket, t0, text: () => Buffer.concat(chunks).toString('latin1'), closedAfter };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The bound plus what the coarse clock and a loaded test machine may add. */
const MARGIN_MS = 1_500;

for (const protocol of ['HTTP', undefined] as const) {
  const port = protocol === undefined ? 'sniffed port' : 'declared HTTP port';
  test(`slow headers get 408 and a close at the header timeout from the accept (${port})`, async (t) => {
    const backend = await startBackend('ok');
    const proxy = await startProxy(meshConfig([endpoint(backend.addr)], protocol), { timeouts: { headersMs: 600, downstreamIdleMs: 30_000 } });
    t.after(async () => {
      await proxy.close();
      await backend.close();
    });
    const c = await connect(proxy.addr);
    c.socket.write('GET / HTTP/1.1\r\nhost: x\r\n');
    // Still sending, a byte at a time: progress does not extend the bound.
    const drip = setInterval(() => c.socket.writable && c.socket.write('x'), 100);
    t.after(() => clearInterval(drip));
    const after = await c.closedAfter;
    clearInterval(drip);
    assert.match(c.text(), /^HTTP\/1\.1 408 [^]*connection: close/i);
    assert.ok(after >= 590, `not before the timeout (${Math.round(after)} ms)`);
    assert.ok(after < 600 + MARGIN_MS, `at the timeout (${Math.round(after)} ms)`);
    assert.equal(backend.requests, 0);
  });
}

test('a request line sent byte by byte on a declared HTTP port: one header timeout, not detection plus one', async (t) => {
  const backend = await startBackend('ok');
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'), { timeouts: { headersMs: 1_000, downstreamIdleMs: 30_000 } });
  t.after(async () => {
    await proxy.close();
    await backend.close();
  });
  const c = await connect(proxy.addr);
  const line = Buffer.from('GET /a-long-path-sent-slowly HTTP/1.1\r\n', 'latin1');
  let i = 0;
  const drip = setInterval(() => c.socket.writable && i < line.length && c.socket.write(line.subarray(i, ++i)), 50);
  t.after(() => clearInterval(drip));
  const after = await c.closedAfter;
  clearInterval(drip);
  assert.match(c.text(), /^HTTP\/1\.1 408 /);
  assert.ok(after >= 990, `not before the timeout (${Math.round(after)} ms)`);
  // Detection waited up to the header timeout and then the head got a second one before: 2 s or more.
  assert.ok(after < 1_900, `within one header timeout (${Math.round(after)} ms)`);
});

test('a connection that never sends is closed at the header timeout, without an answer', async (t) => {
  const backend = await startBackend('ok');
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'), { timeouts: { headersMs: 400, downstreamIdleMs: 30_000 } });
  t.after(async () => {
    await proxy.close();
    await backend.close();
  });
  const c = await connect(proxy.addr);
  const after = await c.closedAfter;
  assert.equal(c.text(), '');
  assert.ok(after >= 390 && after < 400 + MARGIN_MS, `closed at the header timeout (${Math.round(after)} ms)`);
  await eventually(() => proxy.listener.connections() === 0, 'connection gone');
});

test('a keep-alive connection idle after its response is closed at the idle timeout; the next head has its own header timeout', async (t) => {
  const backend = await startBackend('ok');
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'), { timeouts: { headersMs: 5_000, downstreamIdleMs: 500 } });
  t.after(async () => {
    await proxy.close();
    await backend.close();
  });
  const c = await connect(proxy.addr);
  // Requests keep it busy past the idle timeout: only time without a request counts.
  let idleFrom = 0;
  for (let k = 0; k < 3; k++) {
    if (k > 0) await sleep(300);
    const before = c.text().length;
    c.socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await eventually(() => /"backend":"ok"/.test(c.text().slice(before)), `response ${k}`, 200, 2);
    idleFrom = performance.now();
  }
  const closed = (await c.closedAfter) - (idleFrom - c.t0);
  assert.ok(closed >= 490 && closed < 500 + MARGIN_MS, `closed at the idle timeout after the last response (${Math.round(closed)} ms idle)`);
  assert.doesNotMatch(c.text(), /HTTP\/1\.1 408/, 'idle close sends nothing');

  // A later request head gets the header timeout from its first byte, not the idle one.
  const proxy2 = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'), { timeouts: { headersMs: 800, downstreamIdleMs: 300 } });
  t.after(() => proxy2.close());
  const d = await connect(proxy2.addr);
  d.socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  await eventually(() => /"backend":"ok"/.test(d.text()), 'first response');
  await sleep(100);
  const partialAt = performance.now();
  d.socket.write('GET / HTTP/1.1\r\nhost: x\r\n');
  const end = (await d.closedAfter) - (partialAt - d.t0);
  assert.match(d.text(), /HTTP\/1\.1 408 /);
  assert.ok(end >= 790 && end < 800 + MARGIN_MS, `408 at the header timeout from the head's first byte (${Math.round(end)} ms)`);
});

test('Host: HTTP/1.1 without it gets 400 and a close; HTTP/1.0 without it is served', async (t) => {
  const backend = await startBackend('ok');
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await backend.close();
  });
  const bad = await raw(proxy.addr, 'GET / HTTP/1.1\r\nuser-agent: t\r\n\r\n');
  assert.match(bad.text, /^HTTP\/1\.1 400 [^]*connection: close/i);
  const old = await raw(proxy.addr, 'GET / HTTP/1.0\r\nuser-agent: t\r\n\r\n');
  assert.match(old.text, /^HTTP\/1\.1 200 /);
  const ok = await raw(proxy.addr, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  assert.equal(backend.requests, 2, 'the request without Host never went upstream');
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '400', response_flags: 'DPE' }), 1);
});

test('a malformed chunk size after the head went upstream: 400 with connection: close, the upstream connection dropped, DPE logged', async (t) => {
  const upstreamClosed: Promise<void>[] = [];
  let gotHead: () => void = () => undefined;
  const headSeen = new Promise<void>((r) => (gotHead = r));
  // A raw upstream: it takes the head and waits for the body (it never answers).
  const up = net.createServer((s) => {
    upstreamClosed.push(new Promise((r) => s.once('close', () => r())));
    s.on('error', () => undefined);
    let seen = '';
    s.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      if (seen.includes('\r\n\r\n')) gotHead();
    });
  });
  up.listen(0, '127.0.0.1');
  await once(up, 'listening');
  const upAddr = { address: '127.0.0.1', port: (up.address() as net.AddressInfo).port };
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const accessLog = new AccessLog({ logger: pino({ level: 'info' }, stream).child({ module: 'access' }) });
  const proxy = await startProxy(meshConfig([endpoint(upAddr)], 'HTTP'), { accessLog });
  t.after(async () => {
    await proxy.close();
    up.close();
  });
  const c = await connect(proxy.addr);
  c.socket.write('POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n');
  await headSeen;
  c.socket.write('zz\r\nmore\r\n');
  await c.closedAfter;
  assert.match(c.text(), /^HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close/i);
  assert.equal(upstreamClosed.length, 1);
  await upstreamClosed[0];
  await eventually(() => lines.length === 1, 'one access-log line');
  assert.equal(lines[0]!['response_code'], 400);
  assert.equal(lines[0]!['response_flags'], 'DPE');
  assert.equal(lines[0]!['path'], '/up');
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '400', response_flags: 'DPE' }), 1);
});
