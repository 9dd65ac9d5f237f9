import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { endpoint, eventually, meshConfig, raw, request, sample, startBackend, startProxy } from './proxy-helpers';

const CASES: { name: string; data: string; status: number; sniffed?: boolean }[] = [
  { name: 'bad request line (declared HTTP port)', data: 'GET /a b c HTTP/1.1\r\nhost: x\r\n\r\n', status: 400 },
  { name: 'invalid header name', data: 'GET / HTTP/1.1\r\nho st: x\r\n\r\n', status: 400 },
  { name: 'both Content-Length and Transfer-Encoding', data: 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'both Content-Length and Transfer-Encoding (sniffed port)', data: 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', status: 400, sniffed: true },
  { name: 'duplicate Content-Length', data: 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab', status: 400 },
  { name: 'headers over 60 KiB', data: `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, status: 431 },
];

for (const c of CASES) {
  test(`malformed request → ${c.status} and close, other connections unaffected: ${c.name}`, async (t) => {
    const backend = await startBackend('ok');
    const proxy = await startProxy(meshConfig([endpoint(backend.addr)], c.sniffed ? undefined : 'HTTP'));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(async () => {
      agent.destroy();
      await proxy.close();
      await backend.close();
    });
    // A good keep-alive connection is open before, during and after the bad one.
    assert.equal((await request(proxy.addr, { agent })).status, 200);
    const bad = await raw(proxy.addr, c.data);
    assert.match(bad.text, new RegExp(`^HTTP/1\\.1 ${c.status} `));
    assert.match(bad.text, /connection: close/i);
    assert.equal((await request(proxy.addr, { agent })).status, 200);
    assert.equal(backend.requests, 2, 'the malformed request never reached the upstream');
    assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: String(c.status), response_flags: 'DPE' }), 1);
  });
}

test('a framing error in the request body before any response: 400, close, recorded as DPE', async (t) => {
  const backend = await startBackend('ok', (req, res) => {
    req.on('error', () => undefined);
    req.resume();
    req.on('end', () => res.end('done'));
  });
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(async () => {
    agent.destroy();
    await proxy.close();
    await backend.close();
  });
  assert.equal((await request(proxy.addr, { agent })).status, 200);
  const bad = await raw(proxy.addr, 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n');
  assert.match(bad.text, /^HTTP\/1\.1 400 [^]*connection: close/i);
  assert.equal((await request(proxy.addr, { agent })).status, 200);
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '400', response_flags: 'DPE' })) === 1, 'DPE recorded');
});

test('a client that never finishes its headers (slowloris) is cut off', async (t) => {
  const backend = await startBackend('ok');
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'), { timeouts: { headersMs: 200 } });
  t.after(async () => {
    await proxy.close();
    await backend.close();
  });
  const slow = await raw(proxy.addr, 'GET / HTTP/1.1\r\nhost: x\r\nx-slow: ');
  assert.match(slow.text, /^HTTP\/1\.1 408 /);
  await eventually(() => proxy.listener.connections() === 0, 'slow connection closed');
  assert.equal(backend.requests, 0);
});
