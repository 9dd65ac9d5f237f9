// A port declared HTTP takes both HTTP/1.1 and HTTP/2 with prior knowledge (Envoy's AUTO codec, which
// Istio uses): gRPC clients of ports named `http` work, and HTTP/1 clients never wait on detection.
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { test } from 'node:test';
import { endpoint, meshConfig, request, startBackend, startProxy } from './proxy-helpers';

test('declared HTTP port: an h2c prior-knowledge client and an HTTP/1.1 client are both served; the upstream speaks HTTP/1.1', async (t) => {
  const h1 = await startBackend('h1', (req, res) => {
    res.writeHead(200, { 'x-proto': req.httpVersion });
    res.end(`${req.httpVersion} ${req.url}`);
  });
  const proxy = await startProxy(meshConfig([endpoint(h1.addr)], 'HTTP'));
  const client = http2.connect(`http://127.0.0.1:${proxy.addr.port}`);
  client.on('error', () => undefined);
  t.after(async () => {
    client.close();
    await proxy.close();
    await h1.close();
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
  assert.deepEqual(reply, { status: 200, proto: '1.1', body: '1.1 /auto' });

  const r1 = await request(proxy.addr, { path: '/plain' });
  assert.equal(r1.status, 200);
  assert.equal(r1.body, '1.1 /plain');
});
