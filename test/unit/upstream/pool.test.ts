import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { UpstreamPool, type UpstreamConn } from '../../../src/upstream/h1/pool';

async function server(): Promise<{ addr: { address: string; port: number }; sockets: Set<net.Socket>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.on('error', () => undefined);
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return {
    addr: { address: '127.0.0.1', port: (s.address() as net.AddressInfo).port },
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of sockets) c.destroy();
        s.close(() => resolve());
      }),
  };
}

const connected = (c: UpstreamConn): Promise<unknown> => once(c.socket, 'connect');

test('idle connections are reused last-in first-out, bounded per endpoint, and swept when idle too long', async (t) => {
  const srv = await server();
  const pool = new UpstreamPool({ idleMs: 1_000, maxIdlePerEndpoint: 2 });
  t.after(async () => {
    pool.close();
    await srv.close();
  });
  const key = `${srv.addr.address}:${srv.addr.port}`;
  const conns = [pool.connect(srv.addr, key), pool.connect(srv.addr, key), pool.connect(srv.addr, key)];
  await Promise.all(conns.map(connected));
  assert.equal(pool.acquire(key), undefined);
  conns.forEach((c, i) => pool.release(c, 100 + i));
  assert.equal(pool.idleCount(key), 2, 'the third one was closed: over the bound');
  assert.equal(conns[2]!.alive, false);
  assert.equal(pool.acquire(key), conns[1], 'most recently returned first');
  pool.release(conns[1]!, 500);
  pool.sweep(1_150);
  assert.equal(pool.idleCount(key), 1, 'the one idle since 100 ms is past 1 s');
  assert.equal(conns[0]!.alive, false);
  assert.equal(pool.acquire(key), conns[1]);
});

test('a pooled connection the server closes leaves the pool; bytes on an idle connection close it', async (t) => {
  const srv = await server();
  const pool = new UpstreamPool({ idleMs: 60_000 });
  t.after(async () => {
    pool.close();
    await srv.close();
  });
  const key = 'k';
  const a = pool.connect(srv.addr, key);
  const b = pool.connect(srv.addr, key);
  await Promise.all([connected(a), connected(b)]);
  while (srv.sockets.size < 2) await new Promise((r) => setTimeout(r, 5));
  pool.release(a, 0);
  pool.release(b, 0);
  const [sa, sb] = [...srv.sockets];
  sa!.end();
  sb!.write('unsolicited');
  await Promise.all([once(a.socket, 'close'), once(b.socket, 'close')]);
  assert.equal(pool.acquire(key), undefined);
  assert.equal(pool.idleCount(), 0);
});

test('a server Keep-Alive hint shortens the idle lifetime, with a second of margin', () => {
  const pool = new UpstreamPool({ idleMs: 30_000 });
  const c = pool.connect({ address: '127.0.0.1', port: 9 }, 'x');
  c.socket.on('error', () => undefined);
  try {
    c.hint(5);
    assert.equal(c.idleMs, 4_000);
    c.hint(120);
    assert.equal(c.idleMs, 30_000);
  } finally {
    pool.close();
  }
});
