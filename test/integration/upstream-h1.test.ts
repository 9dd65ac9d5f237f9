import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Addr } from '../../src/capture/types';
import type { AttemptOptions, UpstreamHead } from '../../src/upstream/attempt';
import { CONNECT_TIMEOUT_CODE } from '../../src/upstream/failure';
import { h1Attempt } from '../../src/upstream/h1/attempt';
import { keyWith, UpstreamConn, UpstreamPool } from '../../src/upstream/h1/pool';
import { origin, Recorder, type Origin } from './fixtures/raw-h1';
import { closedPort } from './proxy-helpers';

const GET: UpstreamHead = { method: 'GET', path: '/p?q=1', authority: 'svc.test', headers: [['x-a', '1']] };

function req(pool: UpstreamPool, o: { addr: Addr; key: string }, head: UpstreamHead = GET, endStream = true, opts: AttemptOptions = {}, local?: string) {
  const rec = new Recorder();
  const a = h1Attempt(pool, keyWith(o.key, local), o.addr, head, endStream, opts, rec, local);
  return { rec, a };
}

async function setup(t: { after(fn: () => Promise<void> | void): void }, handler: Parameters<typeof origin>[0], poolOpts = {}): Promise<{ o: Origin; pool: UpstreamPool }> {
  const o = await origin(handler);
  const pool = new UpstreamPool({ idleMs: 60_000, ...poolOpts });
  t.after(async () => {
    pool.close();
    await o.close();
  });
  return { o, pool };
}

test('length response: head and fields on the wire, body copied, the connection reused after a clean exchange', async (t) => {
  let n = 0;
  const { o, pool } = await setup(t, (r) => {
    const body = n++ === 0 ? 'hello' : 'HELLO';
    r.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Up: ${n}\r\nKeep-Alive: timeout=5\r\n\r\n${body}`);
  });
  const one = req(pool, o);
  await one.rec.done;
  assert.equal(o.requests[0]!.head, 'GET /p?q=1 HTTP/1.1\r\nhost: svc.test\r\nx-a: 1\r\n\r\n');
  assert.equal(one.rec.status, 200);
  assert.equal(one.rec.header('x-up'), '1');
  assert.equal(one.rec.header('content-length'), '5', 'names lower-case, all fields passed on');
  assert.equal(one.rec.ended, true);
  assert.match(one.a.localAddress() ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(pool.idleCount(o.key), 1);
  const conn = pool.acquire(o.key)!;
  assert.equal(conn.idleMs, 4_000, 'Keep-Alive timeout=5 with a second of margin');
  pool.release(conn, performance.now());
  const two = req(pool, o);
  await two.rec.done;
  assert.equal(two.rec.body, 'HELLO');
  assert.equal(one.rec.body, 'hello', 'chunks handed on are copies, not views of the shared read buffer');
  assert.equal(o.peers.length, 1, 'one connection carried both');
  assert.equal(two.a.localAddress(), one.a.localAddress());
});

test('chunked response decoded with trailers; close-delimited body; HEAD, 204 and 304 end with the head', async (t) => {
  const { o, pool } = await setup(t, (r) => {
    const path = /^\S+ (\S+)/.exec(r.head)![1];
    if (path === '/chunked') r.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nGrpc-Status: 0\r\nx-t: v\r\n\r\n');
    else if (path === '/close') {
      r.socket.write('HTTP/1.1 200 OK\r\n\r\nuntil');
      setTimeout(() => r.socket.end(' close'), 20);
    } else if (path === '/head') r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n');
    else if (path === '/204') r.socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    else r.socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n');
  });
  const chunked = req(pool, o, { ...GET, path: '/chunked' });
  await chunked.rec.done;
  assert.equal(chunked.rec.body, 'abcde');
  assert.deepEqual(chunked.rec.trailers, [['grpc-status', '0'], ['x-t', 'v']]);
  assert.equal(pool.idleCount(o.key), 1);

  const close = req(pool, o, { ...GET, path: '/close' });
  await close.rec.done;
  assert.equal(close.rec.body, 'until close');
  assert.equal(close.rec.ended, true);
  assert.equal(pool.idleCount(o.key), 0, 'a close-delimited response ends its connection');

  for (const [method, path, status] of [['HEAD', '/head', 200], ['GET', '/204', 204], ['GET', '/304', 304]] as const) {
    const r = req(pool, o, { ...GET, method, path });
    await r.rec.done;
    assert.equal(r.rec.status, status);
    assert.equal(r.rec.endStream, true, `${method} ${path}: nothing follows the head`);
    assert.equal(r.rec.chunks.length, 0);
  }
  assert.equal(pool.idleCount(o.key), 1, 'bodiless answers leave the connection reusable');
});

test('interim responses: 100 Continue and 103 are skipped, an unasked 101 is a protocol failure; a bad head too', async (t) => {
  const { o, pool } = await setup(t, (r) => {
    if (r.head.includes('/101')) r.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n');
    else if (r.head.includes('/bad')) r.socket.write('HTTP/1.1 2x0 Nope\r\n\r\n');
    else {
      r.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      setTimeout(() => r.socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok'), 10);
    }
  });
  const ok = req(pool, o, { ...GET, method: 'PUT', headers: [['content-length', '3']] }, false);
  ok.a.write(Buffer.from('abc'));
  ok.a.end();
  await ok.rec.done;
  assert.equal(ok.rec.status, 201);
  assert.equal(ok.rec.body, 'ok');
  for (const path of ['/101', '/bad']) {
    const r = req(pool, o, { ...GET, path });
    await r.rec.done;
    assert.equal(r.rec.failure?.kind, 'protocol', path);
    assert.equal(r.rec.failure?.afterHeaders, false);
  }
});

test('request framing: chunked with trailers in the last chunk, Content-Length as given, content-length: 0 for a bodiless POST', async (t) => {
  const { o, pool } = await setup(t, (r) => r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const chunked = req(pool, o, { ...GET, method: 'POST', headers: [['te', 'trailers']] }, false);
  chunked.a.write(Buffer.from('hello'));
  chunked.a.write(Buffer.alloc(0));
  chunked.a.write(Buffer.from(' world'));
  chunked.a.end([['x-checksum', 'abc']]);
  await chunked.rec.done;
  const first = o.requests[0]!;
  assert.equal(first.head, 'POST /p?q=1 HTTP/1.1\r\nhost: svc.test\r\nte: trailers\r\ntransfer-encoding: chunked\r\n\r\n');
  assert.equal(first.raw.toString('latin1'), '5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n');

  const sized = req(pool, o, { ...GET, method: 'PUT', headers: [['content-length', '4']] }, false);
  sized.a.write(Buffer.from('ab'));
  sized.a.write(Buffer.from('cd'));
  sized.a.end();
  await sized.rec.done;
  assert.equal(o.requests[1]!.raw.toString(), 'abcd');
  assert.match(o.requests[1]!.head, /\r\ncontent-length: 4\r\n\r\n$/);

  const post = req(pool, o, { ...GET, method: 'POST' }, true);
  await post.rec.done;
  assert.match(o.requests[2]!.head, /\r\ncontent-length: 0\r\n\r\n$/);
  const get = req(pool, o, GET, true);
  await get.rec.done;
  assert.doesNotMatch(o.requests[3]!.head, /content-length|transfer-encoding/);
  // A body that turned out empty before the head left: no framing needed (an HTTP/2 GET ended by DATA).
  const late = req(pool, o, { ...GET, method: 'DELETE' }, false);
  late.a.end();
  await late.rec.done;
  assert.doesNotMatch(o.requests[4]!.head, /content-length|transfer-encoding/);
  assert.equal(o.peers.length, 1, 'all on one connection');
  assert.throws(() => req(pool, o, { ...GET, headers: [['x-bad', 'a\r\nx-injected: 1']] }), /invalid character/);
});

test('a pooled connection the server dropped fails as unprocessed; a fresh one, or one that answered, does not', async (t) => {
  const { o, pool } = await setup(t, (r) => {
    if (r.seq === 0) r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
    else if (r.head.includes('/partial')) r.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxy');
    else r.socket.destroy();
  });
  await req(pool, o).rec.done;
  const stale = req(pool, o);
  await stale.rec.done;
  assert.equal(stale.rec.failure?.kind, 'reset');
  assert.equal(stale.rec.failure?.unprocessed, true);
  assert.equal(pool.idleCount(o.key), 0);

  // The resend takes a fresh connection even when another idle one is pooled.
  await req(pool, o).rec.done;
  const rec = new Recorder();
  h1Attempt(pool, o.key, o.addr, GET, true, {}, rec, undefined, true);
  await rec.done;
  assert.equal(rec.status, 200);
  assert.equal(pool.idleCount(o.key), 2);

  const partial = req(pool, o, { ...GET, path: '/partial' });
  await partial.rec.done;
  assert.equal(partial.rec.failure?.kind, 'reset');
  assert.equal(partial.rec.failure?.afterHeaders, true);
  assert.equal(partial.rec.failure?.unprocessed, false);
});

test('connect failures: refused, and a connect that outlives its timeout (one timer per new connection only)', async (t) => {
  const dead = await closedPort();
  const pool = new UpstreamPool({ idleMs: 60_000, connectTimeoutMs: 5_000 });
  t.after(() => pool.close());
  const refused = req(pool, { addr: dead, key: `${dead.address}:${dead.port}` });
  await refused.rec.done;
  assert.equal(refused.rec.failure?.kind, 'connect-failure');
  assert.equal(refused.rec.failure?.code, 'ECONNREFUSED');

  // A connection that never connects (a socket never dialled, marked as connecting so writes wait for
  // it, as they do on a real dial): the try's own timer ends it.
  class Hanging extends UpstreamPool {
    override connect(_addr: Addr, key: string): UpstreamConn {
      const socket = new net.Socket();
      (socket as { connecting: boolean }).connecting = true;
      return new UpstreamConn(this, key, socket);
    }
  }
  const hang = new Hanging({ idleMs: 60_000, connectTimeoutMs: 60_000 });
  t.after(() => hang.close());
  const t0 = performance.now();
  const slow = req(hang, { addr: dead, key: 'hang' }, GET, true, { connectTimeoutMs: 30 });
  await slow.rec.done;
  assert.equal(slow.rec.failure?.kind, 'connect-failure');
  assert.equal(slow.rec.failure?.code, CONNECT_TIMEOUT_CODE);
  assert.ok(performance.now() - t0 < 5_000, 'the DestinationRule timeout wins over the pool default');

  const { o, pool: p2 } = await setup(t, (r) => r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), { connectTimeoutMs: 5_000 });
  await req(p2, o).rec.done;
  const timers: unknown[] = [];
  const real = globalThis.setTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers.push(args[1]);
    return real(...args);
  }) as typeof setTimeout;
  try {
    req(p2, o);
  } finally {
    globalThis.setTimeout = real;
  }
  assert.deepEqual(timers, [], 'a pooled connection gets no connect timer');
});

test('maxRequestsPerConnection closes a connection after its quota; connection: close either way is never reused', async (t) => {
  const { o, pool } = await setup(t, (r) => {
    const close = r.head.includes('/close') ? 'Connection: close\r\n' : '';
    r.socket.write(`HTTP/1.1 200 OK\r\n${close}Content-Length: 0\r\n\r\n`);
  });
  for (let i = 0; i < 3; i++) await req(pool, o, GET, true, { maxRequestsPerConnection: 2 }).rec.done;
  assert.equal(o.peers.length, 2, 'the third request needed a second connection');
  assert.equal(o.requests.filter((r) => r.conn === 0).length, 2);
  pool.acquire(o.key)?.destroy();
  await req(pool, o, { ...GET, path: '/close' }).rec.done;
  assert.equal(pool.idleCount(o.key), 0, 'the server said close');
  await req(pool, o, { ...GET, headers: [['connection', 'close']] }).rec.done;
  assert.equal(pool.idleCount(o.key), 0, 'the request said close');
});

test('bind address: connections leave from the given local address and pool apart from unbound ones', async (t) => {
  const { o, pool } = await setup(t, (r) => r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const bound = req(pool, o, GET, true, {}, '127.0.0.2');
  await bound.rec.done;
  assert.equal(bound.rec.status, 200);
  assert.match(o.peers[0]!, /^127\.0\.0\.2:/);
  assert.match(bound.a.localAddress() ?? '', /^127\.0\.0\.2:/);
  assert.equal(pool.idleCount(keyWith(o.key, '127.0.0.2')), 1);
  assert.equal(pool.idleCount(o.key), 0);
  await req(pool, o).rec.done;
  assert.match(o.peers[1]!, /^127\.0\.0\.1:/, 'an unbound try does not take the bound connection');
});

test('backpressure both ways, and abort closes the connection', async (t) => {
  let held: net.Socket | undefined;
  const { o, pool } = await setup(t, () => undefined);
  const sinkSrv = net.createServer((s) => {
    held = s;
    s.pause();
    s.on('error', () => undefined);
  });
  sinkSrv.listen(0, '127.0.0.1');
  await new Promise((r) => sinkSrv.once('listening', r));
  t.after(() => {
    held?.destroy();
    sinkSrv.close();
  });
  const addr = { address: '127.0.0.1', port: (sinkSrv.address() as net.AddressInfo).port };
  const up = req(pool, { addr, key: 'sink' }, { ...GET, method: 'POST' }, false);
  const big = Buffer.alloc(1 << 20, 1);
  let writes = 0;
  while (up.a.write(big) && writes < 64) writes++;
  assert.ok(writes < 64, 'write() reports a full socket');
  assert.ok(up.a.buffered() > 0);
  while (held === undefined) await new Promise((r) => setTimeout(r, 5));
  held.resume();
  while (up.rec.drains === 0) await new Promise((r) => setTimeout(r, 5));
  up.a.abort();
  await new Promise((r) => held!.once('close', r));
  assert.equal(up.rec.failure, undefined, 'an aborted try reports nothing');
  void o;
});
