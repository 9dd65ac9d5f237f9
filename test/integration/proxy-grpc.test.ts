import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { eventually, sample } from './proxy-helpers';
import { h2connect, H2Harness, host, meshOf, vs } from './fixtures/h2-harness';
import { echoClient, startEchoServer, unary, type Msg } from './fixtures/grpc-echo';

const VIP = '127.0.102.1';

test('grpc: unary calls keep metadata, trailers and a non-OK status; metrics say grpc with the status', async (t) => {
  const server = await startEchoServer('s1');
  const mesh = new H2Harness(meshOf([{ name: 'echo', vip: VIP, endpoints: [server.addr], portName: 'grpc' }]));
  const client = echoClient(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await server.close();
  });

  const md = new grpc.Metadata();
  md.set('x-md', 'hello');
  const ok = await unary(client, { text: 'hi', n: 7 }, md);
  assert.equal(ok.err, undefined);
  assert.deepEqual(ok.res, { text: 's1:hi', n: 7 });
  assert.equal(ok.headers?.get('x-echo')[0], 'hello');
  assert.equal(ok.headers?.get('x-server')[0], 's1');
  assert.equal(ok.trailers?.get('x-trailer')[0], 'done-1');

  const bad = await unary(client, { text: 'fail:5', n: 0 });
  assert.equal(bad.err?.code, grpc.status.NOT_FOUND);
  assert.equal(bad.err?.details, 'failing with 5');
  assert.equal(bad.trailers?.get('x-trailer')[0], 'done-2');

  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total')) === 2, 'two calls counted');
  const base = { request_protocol: 'grpc', response_code: '200', destination_service: host('echo') };
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { ...base, grpc_response_status: '0' }), 1);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { ...base, grpc_response_status: '5' }), 1);
});

test('grpc: a bidirectional stream interleaves messages both ways and ends with the status and trailers', async (t) => {
  const server = await startEchoServer('s1');
  const mesh = new H2Harness(meshOf([{ name: 'echo', vip: VIP, endpoints: [server.addr], portName: 'grpc' }]));
  const client = echoClient(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await server.close();
  });
  const call = client.Bidi();
  const got: Msg[] = [];
  let waiter: ((m: Msg) => void) | undefined;
  call.on('data', (m: Msg) => {
    got.push(m);
    waiter?.(m);
  });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => undefined);
  // Each reply arrives before the next message is sent: both directions are open at once.
  for (let i = 1; i <= 5; i++) {
    const reply = new Promise<Msg>((resolve) => (waiter = resolve));
    call.write({ text: `m${i}`, n: i });
    const m = await reply;
    assert.deepEqual(m, { text: `s1:m${i}`, n: i * 10 });
  }
  call.end();
  const s = await status;
  assert.equal(s.code, grpc.status.OK);
  assert.equal(s.metadata.get('x-count')[0], '5');
  assert.equal(got.length, 5);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { request_protocol: 'grpc', grpc_response_status: '0' })) === 1, 'stream counted');
});

test('grpc: UNAVAILABLE is retried on another endpoint; a trailers-only fault abort reaches the client as its status', async (t) => {
  const flaky = await startEchoServer('flaky', () => grpc.status.UNAVAILABLE);
  const good = await startEchoServer('good');
  const cfg = meshOf(
    [{ name: 'echo', vip: VIP, endpoints: [flaky.addr, good.addr], portName: 'grpc' }],
    [
      vs('echo', [host('echo')], [
        { match: [{ headers: { 'x-fault': { exact: 'abort' } } }], fault: { abort: { grpcStatus: 'RESOURCE_EXHAUSTED', percentage: { value: 100 } } }, route: [{ destination: { host: host('echo') } }] },
        { route: [{ destination: { host: host('echo') } }], retries: { attempts: 2, retryOn: 'unavailable' } },
      ]),
    ],
  );
  const mesh = new H2Harness(cfg);
  const client = echoClient(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await Promise.all([flaky.close(), good.close()]);
  });
  for (let i = 0; i < 6; i++) {
    const r = await unary(client, { text: `x${i}`, n: i });
    assert.equal(r.err, undefined, `call ${i}: ${r.err?.message}`);
    assert.equal(r.res?.text, `good:x${i}`);
  }
  assert.ok(flaky.calls >= 1, 'round robin sent some first tries to the flaky endpoint');
  assert.equal(await sample(mesh.metrics, 'nodemesh_retries_total', { outcome: 'sent' }), flaky.calls);

  const md = new grpc.Metadata();
  md.set('x-fault', 'abort');
  const f = await unary(client, { text: 'y', n: 0 }, md);
  assert.equal(f.err?.code, grpc.status.RESOURCE_EXHAUSTED);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { response_flags: 'FI', grpc_response_status: '8' })) === 1, 'fault counted');
});

test('grpc: the proxy enforces grpc-timeout (trailers-only UNAVAILABLE, flag UT); a client deadline ends the call once', async (t) => {
  const server = await startEchoServer('s1');
  const mesh = new H2Harness(meshOf([{ name: 'echo', vip: VIP, endpoints: [server.addr], portName: 'grpc' }]));
  const entry = await mesh.entry(VIP);
  const client = echoClient(entry);
  const raw = h2connect(entry);
  t.after(async () => {
    client.close();
    raw.close();
    await mesh.close();
    await server.close();
  });
  // A bidi call whose client never ends its side: the server never finishes; grpc-timeout 150m cuts it.
  const stream = raw.request({ ':method': 'POST', ':path': '/nmtest.Echo/Bidi', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '150m' });
  const head = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
  stream.on('error', () => undefined);
  stream.resume();
  assert.equal(head[':status'], 200);
  assert.equal(head['grpc-status'], String(grpc.status.UNAVAILABLE));
  assert.equal(head['grpc-message'], 'upstream request timeout');
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { request_protocol: 'grpc', response_flags: 'UT', grpc_response_status: '14' })) === 1, 'proxy timeout recorded');

  // grpc-js's own deadline: the call ends once and the proxy records it once.
  const call = client.Bidi(new grpc.Metadata(), { deadline: Date.now() + 200 });
  call.on('error', () => undefined);
  const s = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  // The client's timer and the proxy's grpc-timeout (the same 200 ms) race: either side may end it.
  assert.ok(s.code === grpc.status.DEADLINE_EXCEEDED || s.code === grpc.status.UNAVAILABLE, `status ${s.code}`);
  await eventually(async () => (await sample(mesh.metrics, 'istio_requests_total', { request_protocol: 'grpc' })) === 2, 'call recorded once');
});
