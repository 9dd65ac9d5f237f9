import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import { eventually, sample } from './proxy-helpers';
import { h2backend, h2connect, h2request, H2Harness, meshOf, vs, host } from './fixtures/h2-harness';

const VIP = '127.0.101.1';

test('h2: request and response bodies, headers and trailers pass through; counted once as http', async (t) => {
  const backend = await h2backend((stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 201, 'x-seen-path': String(headers[':path']), 'x-seen-authority': String(headers[':authority']), 'x-rid': String(headers['x-request-id'] ?? '') }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': createHash('sha256').update(Buffer.concat(chunks)).digest('hex') }));
      stream.end(Buffer.concat([Buffer.from('echo:'), ...chunks]));
    });
  });
  const mesh = new H2Harness(meshOf([{ name: 'echo', vip: VIP, endpoints: [backend.addr] }]));
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });

  const r = await h2request(client, { ':path': '/upload?x=1', ':authority': 'echo.default', 'x-custom': 'kept' }, 'hello h2');
  assert.equal(r.status, 201);
  assert.equal(r.body.toString(), 'echo:hello h2');
  assert.equal(r.headers['x-seen-path'], '/upload?x=1');
  assert.equal(r.headers['x-seen-authority'], 'echo.default');
  assert.match(String(r.headers['x-rid']), /^[0-9a-f-]{36}$/);
  assert.equal(r.trailers?.['x-checksum'], createHash('sha256').update('hello h2').digest('hex'));

  const g = await h2request(client, { ':path': '/empty' });
  assert.equal(g.status, 201);
  assert.equal(g.body.toString(), 'echo:');

  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total')) === 2, 'two requests counted');
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { request_protocol: 'http', response_code: '201', response_flags: '-', destination_service: host('echo') }), 2);
  assert.equal(backend.requests, 2);
});

test('h2: several MiB each way stream with backpressure and arrive intact', async (t) => {
  const size = 8 * 1024 * 1024;
  const backend = await h2backend((stream) => {
    // Echo with backpressure: the upload is piped straight back.
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
  });
  const mesh = new H2Harness(meshOf([{ name: 'big', vip: VIP, endpoints: [backend.addr] }]));
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  const payload = randomBytes(size);
  const digest = await new Promise<{ hash: string; bytes: number }>((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': '/big' });
    const h = createHash('sha256');
    let bytes = 0;
    let paused = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      bytes += c.length;
      // A slow reader now and then: the proxy must hold back rather than buffer without bound.
      if (++paused % 16 === 0) {
        req.pause();
        setTimeout(() => req.resume(), 2);
      }
    });
    req.on('end', () => resolve({ hash: h.digest('hex'), bytes }));
    req.on('error', reject);
    let off = 0;
    const pump = (): void => {
      while (off < size) {
        const end = Math.min(size, off + 64 * 1024);
        const ok = req.write(payload.subarray(off, end));
        off = end;
        if (!ok) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  assert.equal(digest.bytes, size);
  assert.equal(digest.hash, createHash('sha256').update(payload).digest('hex'));
  await eventually(async () => (await sample(mesh.metrics, 'istio_request_bytes_sum')) === size, 'request bytes counted');
  assert.equal(await sample(mesh.metrics, 'istio_response_bytes_sum'), size);
});

test('h2: a request no VirtualService route matches gets 404 NR; a direct response and a redirect are answered locally', async (t) => {
  const backend = await h2backend((stream) => {
    stream.respond({ ':status': 200 });
    stream.end('backend');
  });
  const cfg = meshOf(
    [{ name: 'web', vip: VIP, endpoints: [backend.addr] }],
    [
      vs('web', [host('web')], [
        { match: [{ uri: { prefix: '/api' } }], route: [{ destination: { host: host('web') } }] },
        { match: [{ uri: { exact: '/teapot' } }], directResponse: { status: 418, body: { string: 'short and stout' } } },
        { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', redirectCode: 308 } },
      ]),
    ],
  );
  const mesh = new H2Harness(cfg);
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  assert.equal((await h2request(client, { ':path': '/api/x' })).body.toString(), 'backend');
  const nr = await h2request(client, { ':path': '/other' });
  assert.equal(nr.status, 404);
  const tea = await h2request(client, { ':path': '/teapot' });
  assert.equal(tea.status, 418);
  assert.equal(tea.body.toString(), 'short and stout');
  const red = await h2request(client, { ':path': '/old', ':authority': 'web' });
  assert.equal(red.status, 308);
  assert.equal(red.headers.location, 'http://web/new');
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total')) === 4, 'four requests counted');
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '404', response_flags: 'NR' }), 1);
  assert.equal(backend.requests, 1);
});

test('h2: drain sends GOAWAY; an in-flight stream completes, then the connection closes', async (t) => {
  let release: (() => void) | undefined;
  const backend = await h2backend((stream) => {
    release = () => {
      stream.respond({ ':status': 200 });
      stream.end('late');
    };
  });
  const mesh = new H2Harness(meshOf([{ name: 'slow', vip: VIP, endpoints: [backend.addr] }]));
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    await mesh.close();
    await backend.close();
  });
  let goaway = -1;
  client.on('goaway', (code: number) => (goaway = code));
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  const pending = h2request(client, { ':path': '/wait' });
  await eventually(() => release !== undefined, 'backend got the request');
  mesh.downstream.drain();
  await eventually(() => goaway >= 0, 'client saw GOAWAY');
  assert.equal(goaway, http2.constants.NGHTTP2_NO_ERROR);
  release!();
  const r = await pending;
  assert.equal(r.body.toString(), 'late');
  await closed;
  await eventually(() => mesh.downstream.size() === 0, 'session gone');
});

test('h2: an answer before the upload finished ends the stream (RST NO_ERROR); 204 passes through without a body', async (t) => {
  const backend = await h2backend((stream, h) => {
    if (h[':path'] === '/none') {
      stream.respond({ ':status': 204, 'x-none': '1' });
      return;
    }
    // Answers at once, without reading the upload.
    stream.respond({ ':status': 200 });
    stream.end('early');
  });
  const cfg = meshOf(
    [{ name: 'up', vip: VIP, endpoints: [backend.addr] }],
    [vs('up', [host('up')], [{ match: [{ uri: { prefix: '/early' } }, { uri: { prefix: '/none' } }], route: [{ destination: { host: host('up') } }] }])],
  );
  const mesh = new H2Harness(cfg);
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  const none = await h2request(client, { ':path': '/none' });
  assert.equal(none.status, 204);
  assert.equal(none.headers['x-none'], '1');
  assert.equal(none.body.length, 0);

  for (const path of ['/early', '/unrouted']) {
    const req = client.request({ ':method': 'POST', ':path': path });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(1024));
    const status = await new Promise<number>((resolve) => req.once('response', (h) => resolve(Number(h[':status']))));
    req.resume();
    // The client never ends its upload; the proxy's answer must still close the stream.
    await new Promise<void>((resolve) => req.once('close', () => resolve()));
    assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(status, path === '/unrouted' ? 404 : 200);
  }
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total')) === 3, 'three requests counted');
});
