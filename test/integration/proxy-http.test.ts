import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { ServiceIndex } from '../../src/state/services';
import { closedPort, endpoint, eventually, meshConfig, raw, request, sample, startBackend, startProxy } from './proxy-helpers';

test('requests alternate round-robin, reuse upstream keep-alive connections, and are counted', async (t) => {
  const a = await startBackend('a');
  const b = await startBackend('b');
  const proxy = await startProxy(meshConfig([endpoint(a.addr), endpoint(b.addr)]));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(async () => {
    agent.destroy();
    await proxy.close();
    await Promise.all([a.close(), b.close()]);
  });

  const seen: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await request(proxy.addr, { path: `/r/${i}`, agent });
    assert.equal(r.status, 200);
    seen.push(String(r.headers['x-backend']));
  }
  assert.deepEqual(seen, ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  assert.equal(a.requests, 5);
  assert.equal(b.requests, 5);
  // One pooled upstream connection per endpoint served all of its requests.
  assert.equal(a.connections.size, 1);
  assert.equal(b.connections.size, 1);

  assert.equal(await sample(proxy.metrics, 'istio_requests_total'), 10);
  const common = { reporter: 'source', response_code: '200', response_flags: '-', request_protocol: 'http', destination_service: 'backend.default.svc.cluster.local' };
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { ...common, destination_workload: `backend-${a.addr.port}` }), 5);
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { ...common, destination_workload: `backend-${b.addr.port}` }), 5);
  assert.equal(await sample(proxy.metrics, 'istio_request_duration_milliseconds_count', common), 10);
  assert.equal(await sample(proxy.metrics, 'istio_request_duration_milliseconds_bucket', { ...common, le: '+Inf' }), 10);
});

test('request headers are rewritten like a sidecar: hop-by-hop stripped, x-request-id and x-forwarded-proto added', async (t) => {
  const a = await startBackend('a');
  const proxy = await startProxy(meshConfig([endpoint(a.addr)]));
  t.after(async () => {
    await proxy.close();
    await a.close();
  });
  const r = await request(proxy.addr, {
    path: '/h?q=1',
    headers: { connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5', 'x-app': 'kept', host: 'backend' },
  });
  const echoed = JSON.parse(r.body) as { headers: Record<string, string>; url: string };
  assert.equal(echoed.url, '/h?q=1');
  assert.equal(echoed.headers['x-app'], 'kept');
  assert.equal(echoed.headers['host'], 'backend');
  assert.equal(echoed.headers['x-hop'], undefined);
  assert.equal(echoed.headers['keep-alive'], undefined);
  assert.equal(echoed.headers['x-forwarded-proto'], 'http');
  assert.match(echoed.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);

  const kept = await request(proxy.addr, { headers: { 'x-request-id': 'abc', 'x-forwarded-proto': 'https' } });
  const h = (JSON.parse(kept.body) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-request-id'], 'abc');
  assert.equal(h['x-forwarded-proto'], 'https');
});

test('request and response bodies stream through both ways (chunked and sized)', async (t) => {
  const echo = await startBackend('echo', (req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
  });
  const proxy = await startProxy(meshConfig([endpoint(echo.addr)]));
  t.after(async () => {
    await proxy.close();
    await echo.close();
  });
  const body = Buffer.alloc(1 << 20, 'x');
  const sized = await request(proxy.addr, { method: 'POST', body, headers: { 'content-length': body.length } });
  assert.equal(sized.status, 200);
  assert.equal(sized.body.length, body.length);

  // Chunked upload with a method node would not chunk by default (DELETE): framing must survive.
  const chunked = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: proxy.addr.address, port: proxy.addr.port, method: 'DELETE', path: '/', headers: { 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (s += c));
      res.on('end', () => resolve(s));
    });
    req.on('error', reject);
    req.write('hello ');
    setTimeout(() => req.end('world'), 20);
  });
  assert.equal(chunked, 'hello world');
  assert.equal(await sample(proxy.metrics, 'istio_request_bytes_sum'), body.length + 11);
  assert.equal(await sample(proxy.metrics, 'istio_response_bytes_sum'), body.length + 11);
});

test('a refused endpoint costs one 503 UF, then requests go to the healthy endpoint', async (t) => {
  const dead = await closedPort();
  const good = await startBackend('good');
  const proxy = await startProxy(meshConfig([endpoint(dead), endpoint(good.addr)]));
  t.after(async () => {
    await proxy.close();
    await good.close();
  });
  const first = await request(proxy.addr);
  assert.equal(first.status, 503);
  assert.equal(first.body, 'upstream connect error or disconnect/reset before headers');
  for (let i = 0; i < 6; i++) {
    const r = await request(proxy.addr);
    assert.equal(r.status, 200, `request ${i} after the ejection`);
    assert.equal(r.headers['x-backend'], 'good');
  }
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '503', response_flags: 'UF' }), 1);
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '200' }), 6);
  const ep = { endpoint: `${dead.address}:${dead.port}` };
  assert.equal(await sample(proxy.metrics, 'nodemesh_upstream_connect_failures_total', ep), 1);
  assert.equal(await sample(proxy.metrics, 'nodemesh_endpoint_ejections_total', ep), 1);
});

test('when every endpoint is ejected the balancer still tries (panic), and no endpoints at all is 503 UH', async (t) => {
  const dead = await closedPort();
  const proxy = await startProxy(meshConfig([endpoint(dead)]));
  const empty = await startProxy(meshConfig([]));
  t.after(async () => {
    await proxy.close();
    await empty.close();
  });
  for (let i = 0; i < 3; i++) {
    const r = await request(proxy.addr);
    assert.equal(r.status, 503);
  }
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_flags: 'UF' }), 3);
  assert.equal(await sample(proxy.metrics, 'nodemesh_upstream_panic_picks_total'), 2);
  // Failures during the cooldown neither extend nor double it.
  assert.equal(await sample(proxy.metrics, 'nodemesh_endpoint_ejections_total'), 1);

  const r = await request(empty.addr);
  assert.equal(r.status, 503);
  assert.equal(r.body, 'no healthy upstream');
  assert.equal(await sample(empty.metrics, 'istio_requests_total', { response_code: '503', response_flags: 'UH', destination_workload: 'unknown' }), 1);
});

test('a hanging upstream yields 504 UT within the request timeout, and the connection stays usable', async (t) => {
  const hang = await startBackend('hang', () => undefined);
  const proxy = await startProxy(meshConfig([endpoint(hang.addr)]), { timeouts: { requestMs: 150 } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(async () => {
    agent.destroy();
    await proxy.close();
    await hang.close();
  });
  const r = await request(proxy.addr, { agent });
  assert.equal(r.status, 504);
  assert.equal(r.body, 'upstream request timeout');
  const again = await request(proxy.addr, { agent });
  assert.equal(again.status, 504);
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '504', response_flags: 'UT' }), 2);
});

test('an upstream that resets before headers is 503 UC; a client that leaves is recorded as DC', async (t) => {
  const reset = await startBackend('reset', (req) => req.socket.destroy());
  const hang = await startBackend('hang', () => undefined);
  const resetProxy = await startProxy(meshConfig([endpoint(reset.addr)]));
  const hangProxy = await startProxy(meshConfig([endpoint(hang.addr)]));
  t.after(async () => {
    await Promise.all([resetProxy.close(), hangProxy.close()]);
    await Promise.all([reset.close(), hang.close()]);
  });
  const r = await request(resetProxy.addr);
  assert.equal(r.status, 503);
  assert.equal(await sample(resetProxy.metrics, 'istio_requests_total', { response_code: '503', response_flags: 'UC' }), 1);

  const client = net.connect(hangProxy.addr.port, hangProxy.addr.address);
  client.on('error', () => undefined);
  client.write('GET /slow HTTP/1.1\r\nhost: backend\r\n\r\n');
  await eventually(() => hang.requests === 1, 'the upstream got the request');
  client.destroy();
  await eventually(async () => (await sample(hangProxy.metrics, 'istio_requests_total', { response_code: '0', response_flags: 'DC' })) === 1, 'DC recorded');
  await eventually(() => hangProxy.listener.connections() === 0, 'client connection released');
});

test('a reloaded index is picked up by an open keep-alive connection', async (t) => {
  const a = await startBackend('a');
  const b = await startBackend('b');
  const proxy = await startProxy(meshConfig([endpoint(a.addr)]));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(async () => {
    agent.destroy();
    await proxy.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.equal((await request(proxy.addr, { agent })).headers['x-backend'], 'a');
  proxy.index = new ServiceIndex(meshConfig([endpoint(b.addr)]));
  assert.equal((await request(proxy.addr, { agent })).headers['x-backend'], 'b');
});

test('edge requests get an answer or a close, never a hang: Expect, HEAD, HTTP/1.0, Upgrade, CONNECT', async (t) => {
  const a = await startBackend('a');
  const proxy = await startProxy(meshConfig([endpoint(a.addr)]));
  t.after(async () => {
    await proxy.close();
    await a.close();
  });
  // Expect: 100-continue is answered by the proxy, then the body flows.
  const cont = await new Promise<string>((resolve, reject) => {
    let s = '';
    const c = net.connect(proxy.addr.port, proxy.addr.address);
    c.setEncoding('latin1');
    c.on('error', reject);
    c.on('data', (d: string) => {
      s += d;
      if (s === 'HTTP/1.1 100 Continue\r\n\r\n') c.write('hello');
      if (s.includes('"backend":"a"')) {
        c.destroy();
        resolve(s);
      }
    });
    c.write('POST /e HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n');
  });
  assert.match(cont, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  assert.doesNotMatch(cont, /"expect"/);

  const head = await request(proxy.addr, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');

  const old = await raw(proxy.addr, 'GET /old HTTP/1.0\r\n\r\n');
  assert.match(old.text, /^HTTP\/1\.1 200 /);
  assert.match(old.text, /"host":"backend.default.svc.cluster.local"/);

  // A WebSocket upgrade goes to the endpoint with its upgrade fields; one it answers 200 (no 101) is a
  // normal response (proxy-h1-upgrade.test.ts covers the 101 tunnel).
  const up = await raw(proxy.addr, 'GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n', { until: /\}$/ });
  assert.match(up.text, /^HTTP\/1\.1 200 /);
  assert.match(up.text, /"upgrade":"websocket"/);

  const connect = await raw(proxy.addr, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n');
  assert.doesNotMatch(connect.text, /^HTTP\/1\.1 200/);
});
