import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { CodecClient, codecServer, type CodecRequest, type CodecResponse } from './fixtures/h2codec-peers';
import { echoClient, startEchoServer, unary } from './fixtures/grpc-echo';
import { hasNginx, startNginx } from '../helpers/ports';

// The HTTP/2 codec (src/codec/h2) with gRPC (@grpc/grpc-js both ways) and nginx (as an h2c server the
// codec client talks to, and as a grpc_pass proxy whose upstream is a codec server). nginx's
// keepalive_requests makes it send GOAWAY every few requests: streams it did not take come back refused
// and are retried on a new connection, so no request fails.

/** protobuf of nmtest.Msg { string text = 1; int32 n = 2 } (n small and non-negative). */
function encodeMsg(text: string, n: number): Buffer {
  const t = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x0a, t.length]), t, Buffer.from([0x10, n])]);
}
function decodeMsg(b: Buffer): { text: string; n: number } {
  let text = '';
  let n = 0;
  for (let at = 0; at < b.length; ) {
    const tag = b[at++]!;
    if (tag === 0x0a) {
      const len = b[at++]!;
      text = b.subarray(at, at + len).toString();
      at += len;
    } else if (tag === 0x10) n = b[at++]!;
    else throw new Error(`unexpected tag ${tag}`);
  }
  return { text, n };
}
const grpcFrame = (m: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0, m.length]), m]);

/** nmtest.Echo/Unary served by the codec server (hand-made protobuf); "fail" answers trailers-only. */
function echoHandler(req: CodecRequest): CodecResponse {
  if (req.headers.get(':path') !== '/nmtest.Echo/Unary') return { status: 200, headers: ['content-type', 'application/grpc', 'grpc-status', '12'] };
  const m = decodeMsg(req.body.subarray(5));
  if (m.text === 'fail') return { status: 200, headers: ['content-type', 'application/grpc', 'grpc-status', '9', 'grpc-message', 'failing'] };
  return { status: 200, headers: ['content-type', 'application/grpc'], body: grpcFrame(encodeMsg(`codec:${m.text}`, m.n + 1)), trailers: ['grpc-status', '0', 'x-trailer', 'done'] };
}

test('grpc-js client against the codec server: unary calls, trailers, trailers-only errors', async (t) => {
  const server = await codecServer(echoHandler);
  t.after(() => server.close());
  const client = echoClient({ address: '127.0.0.1', port: server.port });
  t.after(() => client.close());
  const ok = await unary(client, { text: 'hi', n: 4 });
  assert.deepEqual(ok.res, { text: 'codec:hi', n: 5 });
  assert.equal(ok.trailers?.get('x-trailer')[0], 'done');
  const failed = await unary(client, { text: 'fail', n: 0 });
  assert.equal(failed.err?.code, grpc.status.FAILED_PRECONDITION);
  assert.equal(failed.err?.details, 'failing');
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(client, { text: `m${i}`, n: i })));
  many.forEach((r, i) => assert.deepEqual(r.res, { text: `codec:m${i}`, n: i + 1 }));
  assert.deepEqual(server.errors, []);
});

test('the codec client against a grpc-js server: unary call with metadata and trailers', async (t) => {
  const server = await startEchoServer('grpcjs');
  t.after(() => server.close());
  const client = await CodecClient.connect(server.addr.port);
  t.after(() => client.close());
  const head = [':method', 'POST', ':scheme', 'http', ':path', '/nmtest.Echo/Unary', ':authority', `127.0.0.1:${server.addr.port}`, 'content-type', 'application/grpc', 'te', 'trailers', 'x-md', 'meta'];
  const r = await client.request(head, grpcFrame(encodeMsg('hello', 7)));
  assert.equal(r.headers.get(':status'), '200');
  assert.equal(r.headers.get('x-echo'), 'meta');
  assert.deepEqual(decodeMsg(r.body.subarray(5)), { text: 'grpcjs:hello', n: 7 });
  assert.equal(r.trailers.get('grpc-status'), '0');
  assert.equal(r.trailers.get('x-trailer'), 'done-1');
});

/** Sends each request on a shared connection; a refused stream (GOAWAY) is retried on a new one. */
class RetryingClient {
  private conn: Promise<CodecClient> | undefined;
  retries = 0;
  connections = 0;
  constructor(private readonly port: number) {}

  async request(head: string[], body?: Buffer): Promise<{ status: string; body: string }> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const c = await (this.conn ??= (this.connections++, CodecClient.connect(this.port)));
      try {
        const r = await c.request(head, body);
        return { status: r.headers.get(':status') ?? '', body: r.body.toString() };
      } catch (err) {
        if (!/refused|no stream available/.test(String(err))) throw err;
        this.retries++;
        if (this.conn && (await this.conn) === c) this.conn = undefined;
      }
    }
    throw new Error('too many retries');
  }
}


test('nginx: the codec client to nginx (h2c), and nginx grpc_pass to a codec server; GOAWAY after keepalive_requests fails nothing', { skip: !hasNginx && 'nginx not installed' }, async (t) => {
  const upstream = await codecServer();
  t.after(() => upstream.close());
  const port = await startNginx(t, (port) => `  keepalive_requests 10;
  upstream codec {
    server 127.0.0.1:${upstream.port};
    keepalive 4;
    keepalive_requests 7;
  }
  server {
    listen 127.0.0.1:${port} http2;
    location = /direct { return 200 "nginx direct"; }
    location / { grpc_pass grpc://codec; }
  }`);

  const client = new RetryingClient(port);
  const base = [':scheme', 'http', ':authority', `127.0.0.1:${port}`];
  const direct = await client.request([':method', 'GET', ':path', '/direct', ...base]);
  assert.deepEqual(direct, { status: '200', body: 'nginx direct' });
  const viaNginx = await client.request([':method', 'GET', ':path', '/', ...base]);
  assert.deepEqual(viaNginx, { status: '200', body: 'hello from the codec' });
  const echo = await client.request([':method', 'POST', ':path', '/echo', ...base], Buffer.alloc(300_000, 'e'));
  assert.equal(echo.body.length, 300_000);

  // 60 concurrent requests, alternating direct and proxied: nginx's GOAWAY after every 10 requests
  // refuses the rest of each connection's streams; they are retried and all succeed.
  const all = await Promise.all(
    Array.from({ length: 60 }, (_, i) => client.request([':method', 'GET', ':path', i % 2 ? '/direct' : '/', ...base, 'x-n', String(i)])),
  );
  all.forEach((r, i) => assert.deepEqual(r, i % 2 ? { status: '200', body: 'nginx direct' } : { status: '200', body: 'hello from the codec' }));
  assert.ok(client.connections > 1, 'nginx closed connections after keepalive_requests');
  assert.ok(client.retries > 0, 'refused streams were retried');
  assert.deepEqual(upstream.errors, []);
});
