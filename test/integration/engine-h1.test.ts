import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { closedPort, eventually, request, sample, startBackend, type Backend } from './proxy-helpers';
import { dr, H2Harness, host, meshOf, vs } from './fixtures/h2-harness';

const VIP = '127.0.106.1';

test('h1 through the engine: header edits, uri and authority rewrite, body both ways, pooled upstream connection', async (t) => {
  const b = await startBackend('a', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-drop-me': '1' });
      res.end(JSON.stringify({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  const cfg = meshOf(
    [{ name: 'web', vip: VIP, endpoints: [b.addr], portName: 'http' }],
    [
      vs('web', [host('web')], [
        {
          match: [{ uri: { prefix: '/v1/' } }],
          rewrite: { uri: '/api/', authority: 'internal.web' },
          headers: { request: { set: { 'x-set': 'yes' }, add: { 'x-added': 'a' }, remove: ['x-secret'] }, response: { set: { 'x-route': 'v1' }, remove: ['x-drop-me'] } },
          route: [{ destination: { host: host('web') } }],
        },
      ]),
    ],
  );
  const mesh = new H2Harness(cfg);
  const entry = await mesh.h1entry(VIP);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(async () => {
    agent.destroy();
    await mesh.close();
    await b.close();
  });
  for (let i = 0; i < 3; i++) {
    const r = await request(entry, { method: 'POST', path: `/v1/items?i=${i}`, headers: { 'x-secret': 's', 'content-type': 'text/plain' }, body: `body ${i}`, agent });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-route'], 'v1');
    assert.equal(r.headers['x-drop-me'], undefined);
    const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string>; body: string };
    assert.equal(seen.url, `/api/items?i=${i}`);
    assert.equal(seen.headers['host'], 'internal.web');
    assert.equal(seen.headers['x-set'], 'yes');
    assert.equal(seen.headers['x-added'], 'a');
    assert.equal(seen.headers['x-secret'], undefined);
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.body, `body ${i}`);
  }
  assert.equal(b.connections.size, 1, 'one keep-alive upstream connection served every request');
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { request_protocol: 'http', response_code: '200' }), 3);
});

test('h1 retries: a POST retried after 503 goes to the other endpoint; a refused endpoint is retried as connect-failure', async (t) => {
  const bad = await startBackend('bad', (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(503);
      res.end('no');
    });
  });
  const good = await startBackend('good', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(`good:${Buffer.concat(chunks).toString()}`));
  });
  const dead = await closedPort();
  const cfg = meshOf(
    [{ name: 'web', vip: VIP, endpoints: [bad.addr, good.addr, dead], portName: 'http' }],
    [vs('web', [host('web')], [{ route: [{ destination: { host: host('web') } }], retries: { attempts: 3, retryOn: '5xx,connect-failure' } }])],
  );
  const mesh = new H2Harness(cfg);
  const entry = await mesh.h1entry(VIP);
  t.after(async () => {
    await mesh.close();
    await Promise.all([bad.close(), good.close()]);
  });
  for (let i = 0; i < 9; i++) {
    const r = await request(entry, { method: 'POST', path: '/p', body: `payload-${i}` });
    assert.equal(r.status, 200, `request ${i}: ${r.body}`);
    assert.equal(r.body, `good:payload-${i}`);
  }
  assert.ok(bad.requests >= 1 && bad.requests <= 9);
  assert.equal(good.requests, 9);
  assert.ok((await sample(mesh.metrics, 'nodemesh_retries_total', { outcome: 'sent' })) >= bad.requests);
});

test('h1: no retry policy → 503 UF for a refused endpoint; a per-try timeout retries a hung endpoint, else 504 UT', async (t) => {
  const dead = await closedPort();
  const hung: Backend = await startBackend('hung', () => undefined);
  const ok = await startBackend('ok');
  const cfg = meshOf(
    [
      { name: 'dead', vip: VIP, endpoints: [dead], portName: 'http' },
      { name: 'slow', vip: '127.0.106.2', endpoints: [hung.addr, ok.addr], portName: 'http' },
    ],
    [
      vs('slow', [host('slow')], [
        { match: [{ uri: { prefix: '/retry' } }], route: [{ destination: { host: host('slow') } }], retries: { attempts: 2, perTryTimeout: '100ms', retryOn: 'reset' } },
        { route: [{ destination: { host: host('slow') } }], timeout: '150ms' },
      ]),
      dr('slow', host('slow'), { trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } }),
    ],
  );
  const mesh = new H2Harness(cfg);
  t.after(async () => {
    await mesh.close();
    await Promise.all([hung.close(), ok.close()]);
  });
  const uf = await request(await mesh.h1entry(VIP), { path: '/' });
  assert.equal(uf.status, 503);
  const slow = await mesh.h1entry('127.0.106.2');
  // Round robin alternates: a request that first tries the hung endpoint times out there, and its
  // retry reaches the other one.
  for (let i = 0; i < 2; i++) {
    const r = await request(slow, { path: '/retry' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-backend'], 'ok');
  }
  assert.ok(hung.requests >= 1);
  assert.equal(await sample(mesh.metrics, 'nodemesh_retries_total', { outcome: 'sent' }), hung.requests);
  const tried = hung.requests;
  // Without retries the route timeout answers when the pick is the hung endpoint.
  const codes = [(await request(slow, { path: '/plain' })).status, (await request(slow, { path: '/plain' })).status].sort();
  assert.deepEqual(codes, [200, 504]);
  assert.equal(hung.requests, tried + 1);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { response_code: '504', response_flags: 'UT' })) === 1, 'UT counted');
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '503', response_flags: 'UF' }), 1);
});

test('h1 consistent hash: a cookie key is issued once with path and max-age, then sticks; a header key sticks too', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => startBackend(n)));
  const cfg = meshOf(
    [{ name: 'web', vip: VIP, endpoints: backends.map((b) => b.addr), portName: 'http' }],
    [dr('web', host('web'), { trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: 'sticky', path: '/', ttl: '60s' } } } } })],
  );
  const mesh = new H2Harness(cfg);
  const entry = await mesh.h1entry(VIP);
  t.after(async () => {
    await mesh.close();
    await Promise.all(backends.map((b) => b.close()));
  });
  const first = await request(entry, { path: '/' });
  const cookie = String(first.headers['set-cookie']);
  assert.match(cookie, /^sticky="[0-9a-f]{16}"; Max-Age=60; Path=\/; HttpOnly$/);
  const value = /sticky="([0-9a-f]+)"/.exec(cookie)![1]!;
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const r = await request(entry, { path: '/', headers: { cookie: `other=1; sticky="${value}"` } });
    assert.equal(r.headers['set-cookie'], undefined, 'no new cookie once the client has one');
    seen.add(String(r.headers['x-backend']));
  }
  assert.equal(seen.size, 1);

  mesh.reload(
    meshOf(
      [{ name: 'web', vip: VIP, endpoints: backends.map((b) => b.addr), portName: 'http' }],
      [dr('web', host('web'), { trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } })],
    ),
  );
  for (const user of ['alice', 'bob', 'carol']) {
    const picks = new Set<string>();
    for (let i = 0; i < 4; i++) picks.add(String((await request(entry, { path: '/', headers: { 'x-user': user } })).headers['x-backend']));
    assert.equal(picks.size, 1, `${user} always lands on the same endpoint`);
  }
});
