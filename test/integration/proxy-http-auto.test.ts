// A port declared HTTP takes both HTTP/1.1 and HTTP/2 with prior knowledge (Envoy's AUTO codec, which
// Istio uses): gRPC clients of ports named `http` work, and HTTP/1 clients never wait on detection.
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { endpoint, meshConfig, request, startBackend, startProxy } from './proxy-helpers';

test('declared HTTP port: an h2c prior-knowledge client is proxied as HTTP/2, an HTTP/1.1 client as HTTP/1.1', async (t) => {
  const h2 = http2.createServer();
  h2.on('stream', (s, h) => {
    s.respond({ ':status': 200, 'x-proto': 'h2' });
    s.end(`h2 ${h[':path']}`);
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const h2Port = (h2.address() as AddressInfo).port;
  const h1 = await startBackend('h1');
  const h2Proxy = await startProxy(meshConfig([endpoint({ address: '127.0.0.1', port: h2Port })], 'HTTP'));
  const h1Proxy = await startProxy(meshConfig([endpoint(h1.addr)], 'HTTP'));
  const client = http2.connect(`http://127.0.0.1:${h2Proxy.addr.port}`);
  client.on('error', () => undefined);
  t.after(async () => {
    client.close();
    await h2Proxy.close();
    await h1Proxy.close();
    await h1.close();
    await new Promise<void>((r) => h2.close(() => r()));
  });

  const reply = await new Promise<{ status: number; proto: string; body: string }>((resolve, reject) => {
    const s = client.request({ ':path': '/auto' });
    let body = '';
    let head: http2.IncomingHttpHeaders = {};
    s.on('response', (h) => (head = h));
    s.setEncoding('utf8');
    s.on('data', (d: string) => (body += d));
    s.on('end', () => resolve({ status: Number(head[':status']), proto: String(head['x-proto']), body }));
    s.on('error', reject);
    s.end();
  });
  assert.deepEqual(reply, { status: 200, proto: 'h2', body: 'h2 /auto' });

  const r1 = await request(h1Proxy.addr, { path: '/plain' });
  assert.equal(r1.status, 200);
  assert.equal(JSON.parse(r1.body).url, '/plain');
});
