import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, startBackend } from './proxy-helpers';
import { h2backend, h2connect, h2request, H2Harness, meshOf } from './fixtures/h2-harness';
import { UpstreamPool } from '../../src/upstream/h1/pool';

const VIP = '127.0.107.1';

test('engine localAddress: HTTP/1.1 and HTTP/2 upstream connections leave from it; a given pool is shared, not closed', async (t) => {
  const h1 = await startBackend('h1', (req, res) => res.end(req.socket.remoteAddress));
  const h2 = await h2backend((stream) => {
    stream.respond({ ':status': 200 });
    stream.end(stream.session?.socket.remoteAddress);
  });
  const pool = new UpstreamPool({ idleMs: 60_000 });
  // An HTTP port speaks HTTP/1.1 upstream; an HTTP2 port speaks h2c.
  const cfg = (addr: { address: string; port: number }, portName = 'http') => meshOf([{ name: 'web', vip: VIP, endpoints: [addr], portName }]);
  const mesh = new H2Harness(cfg(h1.addr), { engine: { localAddress: '127.0.0.2', pool } });
  const entry = await mesh.h1entry(VIP);
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    pool.close();
    await h1.close();
    await h2.close();
  });
  const r1 = await request(entry, { path: '/' });
  assert.equal(r1.status, 200);
  assert.equal(r1.body, '127.0.0.2');
  assert.equal(pool.idleCount(), 1, 'the try used the given pool');

  mesh.reload(cfg(h2.addr, 'http2'));
  const r2 = await h2request(client, { ':path': '/' });
  assert.equal(r2.status, 200);
  assert.equal(r2.body.toString(), '127.0.0.2');

  mesh.engine.close();
  assert.equal(pool.idleCount(), 1, 'the engine leaves a pool it was given open');
});
