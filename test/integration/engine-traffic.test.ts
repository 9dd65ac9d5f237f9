import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, sample } from './proxy-helpers';
import { dr, h2backend, h2connect, h2request, H2Harness, host, meshOf, rateLimit, vs, type H2Backend } from './fixtures/h2-harness';

const VIP = '127.0.103.1';
const OTHER = '127.0.103.2';
const MIRROR = '127.0.103.3';

/** A backend whose odd-numbered requests get 503 and even ones 200 "ok N". */
function alternating(): Promise<H2Backend> {
  return h2backend((stream, _h, n) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': n % 2 === 1 ? 503 : 200 });
      stream.end(n % 2 === 1 ? 'unavailable' : `ok ${n}`);
    });
  });
}

const retrying = (name: string): Record<string, unknown> =>
  vs(name, [host(name)], [{ route: [{ destination: { host: host(name) } }], retries: { attempts: 2, retryOn: '5xx' } }]);

test('retries hide an every-other-request 503: every client request succeeds, each retry counted', async (t) => {
  const backend = await alternating();
  const mesh = new H2Harness(meshOf([{ name: 'flaky', vip: VIP, endpoints: [backend.addr] }], [retrying('flaky')]));
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  for (let i = 0; i < 10; i++) {
    const r = await h2request(client, { ':path': `/r${i}` }, `body ${i}`);
    assert.equal(r.status, 200, `request ${i}`);
  }
  assert.equal(backend.requests, 20);
  assert.equal(await sample(mesh.metrics, 'nodemesh_retries_total', { outcome: 'sent' }), 10);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '200', response_flags: '-' }), 10);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '503' }), 0);
});

test('with a retry budget of 0 the failures surface as 503 URX, refusals counted as budget', async (t) => {
  const backend = await alternating();
  const mesh = new H2Harness(meshOf([{ name: 'flaky', vip: VIP, endpoints: [backend.addr] }], [retrying('flaky')]), {
    engine: { retryBudget: { budgetPercent: 0, minRetryConcurrency: 0 } },
  });
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  const codes: number[] = [];
  for (let i = 0; i < 10; i++) codes.push((await h2request(client, { ':path': `/r${i}` })).status);
  assert.deepEqual(codes, [503, 200, 503, 200, 503, 200, 503, 200, 503, 200]);
  assert.equal(backend.requests, 10);
  assert.equal(await sample(mesh.metrics, 'nodemesh_retries_total', { outcome: 'budget' }), 5);
  assert.equal(await sample(mesh.metrics, 'nodemesh_retries_total', { outcome: 'sent' }), 0);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { response_code: '503', response_flags: 'URX' })) === 5, 'URX counted');
});

test('faults: scripted draws delay one request and abort another; aborted ones never reach the backend', async (t) => {
  const backend = await h2backend((stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const cfg = meshOf(
    [{ name: 'faulty', vip: VIP, endpoints: [backend.addr] }],
    [
      vs('faulty', [host('faulty')], [
        {
          route: [{ destination: { host: host('faulty') } }],
          fault: { delay: { fixedDelay: '150ms', percentage: { value: 50 } }, abort: { httpStatus: 418, percentage: { value: 50 } } },
        },
      ]),
    ],
  );
  // Per request: the delay draw, then the abort draw (< 0.5 hits).
  const draws = [0.9, 0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1];
  const mesh = new H2Harness(cfg, { engine: { random: () => draws.shift() ?? 0.9 } });
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  const plain = await h2request(client, { ':path': '/a' });
  assert.equal(plain.status, 200);
  const started = performance.now();
  const delayed = await h2request(client, { ':path': '/b' });
  assert.equal(delayed.status, 200);
  assert.ok(performance.now() - started >= 140, 'the delayed request waited for the fixed delay');
  const aborted = await h2request(client, { ':path': '/c' });
  assert.equal(aborted.status, 418);
  assert.equal(aborted.body.toString(), 'fault filter abort');
  const both = await h2request(client, { ':path': '/d' });
  assert.equal(both.status, 418);
  assert.equal(backend.requests, 2);
  assert.equal(await sample(mesh.metrics, 'nodemesh_faults_injected_total', { kind: 'delay' }), 2);
  assert.equal(await sample(mesh.metrics, 'nodemesh_faults_injected_total', { kind: 'abort' }), 2);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { response_code: '418', response_flags: 'FI' })) === 1, 'FI counted');
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '418', response_flags: 'DI,FI' }), 1);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '200', response_flags: 'DI' }), 1);
});

test('mirroring: the copy reaches the mirror with a -shadow authority; a mirror that never answers does not delay the main response', async (t) => {
  const main = await h2backend((stream) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end('main');
    });
  });
  const seen: { authority: string; body: string }[] = [];
  const mirror = await h2backend((stream, h) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    // Records the copy, then never answers.
    stream.on('end', () => seen.push({ authority: String(h[':authority']), body: Buffer.concat(chunks).toString() }));
  });
  const cfg = meshOf(
    [
      { name: 'web', vip: VIP, endpoints: [main.addr] },
      { name: 'shadow', vip: MIRROR, endpoints: [mirror.addr] },
    ],
    [vs('web', [host('web')], [{ route: [{ destination: { host: host('web') } }], mirror: { host: host('shadow') } }])],
  );
  const mesh = new H2Harness(cfg, { timeouts: { requestMs: 300 } });
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await Promise.all([main.close(), mirror.close()]);
  });
  for (let i = 0; i < 3; i++) {
    const r = await h2request(client, { ':path': `/m${i}`, ':authority': 'web.default:80' }, `payload ${i}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'main');
  }
  await eventually(() => seen.length === 3, 'mirror got three copies');
  assert.deepEqual(seen[0], { authority: 'web.default-shadow:80', body: 'payload 0' });
  // The main responses were all answered while the mirror still holds its copies.
  assert.equal(await sample(mesh.metrics, 'nodemesh_mirror_requests_total', { outcome: 'sent' }), 0);
  await eventually(async () => (await sample(mesh.metrics, 'nodemesh_mirror_requests_total', { outcome: 'failed' })) === 3, 'unanswered copies time out as failed');
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { destination_service: host('web') }), 3);
});

test('503 UO past http2MaxRequests and 429 RL past the token bucket; another route is unaffected by either', async (t) => {
  const holds: (() => void)[] = [];
  const backend = await h2backend((stream, h) => {
    const answer = (): void => {
      stream.respond({ ':status': 200 });
      stream.end(`ok ${String(h[':path'])}`);
    };
    if (String(h[':path']).startsWith('/hold')) holds.push(answer);
    else answer();
  });
  const cfg = meshOf(
    [
      { name: 'small', vip: VIP, endpoints: [backend.addr] },
      { name: 'other', vip: OTHER, endpoints: [backend.addr] },
    ],
    [
      vs('small', [host('small')], [
        { name: 'limited', match: [{ uri: { prefix: '/limited' } }], route: [{ destination: { host: host('small') } }] },
        { name: 'rest', route: [{ destination: { host: host('small') } }] },
      ]),
      dr('small', host('small'), { trafficPolicy: { connectionPool: { http: { http2MaxRequests: 1 } } } }),
      rateLimit('small-limited', { host: host('small'), route: 'limited', tokenBucket: { maxTokens: 2, tokensPerFill: 2, fillInterval: '1h' } }),
    ],
  );
  const mesh = new H2Harness(cfg);
  const small = h2connect(await mesh.entry(VIP));
  const other = h2connect(await mesh.entry(OTHER));
  t.after(async () => {
    small.close();
    other.close();
    await mesh.close();
    await backend.close();
  });
  const held = h2request(small, { ':path': '/hold' });
  await eventually(() => holds.length === 1, 'first request held by the backend');
  const over = await h2request(small, { ':path': '/more' });
  assert.equal(over.status, 503);
  assert.match(over.body.toString(), /overflow/);
  assert.equal((await h2request(other, { ':path': '/x' })).status, 200, 'another service is not limited');
  holds[0]!();
  assert.equal((await held).status, 200);
  assert.equal((await h2request(small, { ':path': '/more' })).status, 200, 'the slot is free again');

  assert.equal((await h2request(small, { ':path': '/limited/1' })).status, 200);
  assert.equal((await h2request(small, { ':path': '/limited/2' })).status, 200);
  const rl = await h2request(small, { ':path': '/limited/3' });
  assert.equal(rl.status, 429);
  assert.ok(Number(rl.headers['retry-after']) > 0);
  assert.equal((await h2request(small, { ':path': '/open' })).status, 200, 'another route of the service is not rate limited');
  assert.equal(await sample(mesh.metrics, 'nodemesh_upstream_overflow_total', { limit: 'requests' }), 1);
  assert.equal(await sample(mesh.metrics, 'nodemesh_rate_limited_total'), 1);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { response_flags: 'UO', response_code: '503' })) === 1, 'UO counted');
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_flags: 'RL', response_code: '429' }), 1);
});

test('retries exhausted: the last 503 is forwarded with URX; a body past the replay bound is not retried at all', async (t) => {
  const backend = await h2backend((stream) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 503 });
      stream.end('down');
    });
  });
  const mesh = new H2Harness(meshOf([{ name: 'down', vip: VIP, endpoints: [backend.addr] }], [retrying('down')]));
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  const r = await h2request(client, { ':path': '/small' }, 'small body');
  assert.equal(r.status, 503);
  assert.equal(r.body.toString(), 'down');
  assert.equal(backend.requests, 3, 'the first try and two retries');
  assert.equal(await sample(mesh.metrics, 'nodemesh_retries_total', { outcome: 'limit' }), 1);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { response_code: '503', response_flags: 'URX' })) === 1, 'URX counted');

  const big = await h2request(client, { ':path': '/big' }, Buffer.alloc(100 * 1024, 1));
  assert.equal(big.status, 503);
  assert.equal(backend.requests, 4, 'a 100 KiB body is sent once');
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { response_code: '503', response_flags: '-' })) === 1, 'plain 503 counted');
});

test('mirroring: a mirror that does not read its copy is dropped once it lags the bound; the main upload completes', async (t) => {
  const main = await h2backend((stream) => {
    let n = 0;
    stream.on('data', (c: Buffer) => (n += c.length));
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(String(n));
    });
  });
  // Never reads: HTTP/2 flow control stops the copy after one window.
  const stuck = await h2backend(() => undefined);
  const cfg = meshOf(
    [
      { name: 'web', vip: VIP, endpoints: [main.addr] },
      { name: 'shadow', vip: MIRROR, endpoints: [stuck.addr] },
    ],
    [vs('web', [host('web')], [{ route: [{ destination: { host: host('web') } }], mirror: { host: host('shadow') } }])],
  );
  const mesh = new H2Harness(cfg);
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await Promise.all([main.close(), stuck.close()]);
  });
  const size = 2 * 1024 * 1024;
  const r = await h2request(client, { ':path': '/upload' }, Buffer.alloc(size, 7));
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), String(size));
  await eventually(async () => (await sample(mesh.metrics, 'nodemesh_mirror_requests_total', { outcome: 'dropped' })) === 1, 'lagging mirror dropped');
});
