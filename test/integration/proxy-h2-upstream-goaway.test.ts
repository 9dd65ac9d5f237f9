import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sample } from './proxy-helpers';
import { h2connect, h2request, H2Harness, meshOf } from './fixtures/h2-harness';
import { hasNginx, startNginx } from '../helpers/ports';

// An upstream's GOAWAY never fails a request: nginx closes an h2 connection after keepalive_requests,
// refusing the streams above its last stream id; the pool opens them again on a new connection.

const VIP = '127.0.108.1';

test('upstream GOAWAY: nginx closing h2 connections after keepalive_requests fails no request', { skip: !hasNginx && 'nginx not installed' }, async (t) => {
  const port = await startNginx(t, (port) => `  keepalive_requests 10;
  server {
    listen 127.0.0.1:${port} http2;
    location / { return 200 "nginx $request_uri"; }
  }`);

  const mesh = new H2Harness(meshOf([{ name: 'nginx', vip: VIP, endpoints: [{ address: '127.0.0.1', port }] }]));
  const client = h2connect(await mesh.entry(VIP));
  const other = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    other.close();
    await mesh.close();
  });
  // 10 rounds of 200 concurrent requests on 2 connections: nginx says GOAWAY every 10 streams, with
  // many more in flight.
  const statuses = new Map<number, number>();
  for (let round = 0; round < 10; round++) {
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => h2request(i % 2 ? client : other, { ':path': `/r${round}/${i}` })));
    for (const [i, r] of replies.entries()) {
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) assert.equal(r.body.toString(), `nginx /r${round}/${i}`);
    }
  }
  assert.deepEqual([...statuses], [[200, 2000]]);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '200' }), 2000);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '503' }), 0);
});

test('upstream GOAWAY: requests with bodies are resent too, with no retry policy on the route', { skip: !hasNginx && 'nginx not installed' }, async (t) => {
  const port = await startNginx(t, (port) => `  keepalive_requests 10;
  server {
    listen 127.0.0.1:${port} http2;
    location / { return 200 "nginx $request_uri"; }
  }`);
  const mesh = new H2Harness(meshOf([{ name: 'nginx', vip: '127.0.108.2', endpoints: [{ address: '127.0.0.1', port }] }]));
  const client = h2connect(await mesh.entry('127.0.108.2'));
  t.after(async () => {
    client.close();
    await mesh.close();
  });
  // The streams nginx refuses above its last stream id were never processed: their bodies (4 KiB, under
  // the replay bound) are kept until the response head, so they go again on a new connection.
  const body = Buffer.alloc(4096, 'b');
  const statuses = new Map<number, number>();
  for (let round = 0; round < 5; round++) {
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => h2request(client, { ':path': `/p${round}/${i}` }, body)));
    for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  assert.deepEqual([...statuses], [[200, 500]]);
});
