import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CodecClient, codecServer } from './fixtures/h2codec-peers';

// The HTTP/2 codec (src/codec/h2) against other implementations, in process on loopback port 0:
// node's http2 (nghttp2) as client and server, curl --http2-prior-knowledge and h2load as clients.

/** Whether COMMAND is installed (the tests that drive it are skipped otherwise). */
const installed = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

/** Runs a command with a deadline; resolves with its exit code and output. */
async function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, out, err };
}

function nodeRequest(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: !body });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ headers: head, body: Buffer.concat(chunks), trailers }));
    req.on('error', reject);
    if (body) req.end(body);
  });
}

test('node http2 client against the codec server: GET, POST echo, trailers, large bodies, many streams', async (t) => {
  const server = await codecServer();
  t.after(() => server.close());
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  t.after(() => session.close());
  const get = await nodeRequest(session, { ':path': '/', 'user-agent': 'interop', cookie: 'a=b' });
  assert.equal(get.headers[':status'], 200);
  assert.equal(get.headers['server'], 'nodemesh-codec');
  assert.equal(get.body.toString(), 'hello from the codec');

  const payload = Buffer.alloc(2_500_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  const echo = await nodeRequest(session, { ':method': 'POST', ':path': '/echo' }, payload);
  assert.equal(echo.headers[':status'], 200);
  assert.ok(echo.body.equals(payload), 'echoed 2.5 MB through both flow-control directions');

  const tr = await nodeRequest(session, { ':path': '/trailers' });
  assert.equal(tr.body.toString(), 'with trailers');
  assert.equal(tr.trailers['x-checksum'], 'abc');

  const big = await nodeRequest(session, { ':path': '/big?3000000' });
  assert.equal(big.body.length, 3_000_000);

  // 300 concurrent streams with varied header values: HPACK state (both tables) stays in step.
  const many = await Promise.all(
    Array.from({ length: 300 }, (_, i) => nodeRequest(session, { ':method': 'POST', ':path': '/echo', 'x-n': `value-${i}-${'~'.repeat(i % 17)}` }, Buffer.from(`body ${i}`))),
  );
  many.forEach((r, i) => assert.equal(r.body.toString(), `body ${i}`));
  assert.deepEqual(server.errors, []);
});

test('node http2 client sends every printable value; the codec decodes nghttp2 HPACK and Huffman exactly', async (t) => {
  const seen: string[] = [];
  const server = await codecServer((req) => {
    seen.push(req.headers.get('x-v') ?? '');
    return { status: 204 };
  });
  t.after(() => server.close());
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  t.after(() => session.close());
  const values: string[] = [];
  for (let c = 0x21; c < 0x7f; c++) values.push(String.fromCharCode(c).repeat(1 + (c % 5)) + ' mid ' + String.fromCharCode(c));
  for (const v of values) {
    const r = await nodeRequest(session, { ':path': '/v', 'x-v': v });
    assert.equal(r.headers[':status'], 204);
  }
  assert.deepEqual(seen, values);
});

test('curl --http2-prior-knowledge against the codec server', { skip: !installed('curl') && 'curl not installed' }, async (t) => {
  const server = await codecServer();
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.port}`;
  const get = await run('curl', ['-sS', '--http2-prior-knowledge', '-D', '-', `${url}/`]);
  assert.equal(get.code, 0, get.err);
  assert.match(get.out, /^HTTP\/2 200/);
  assert.match(get.out, /hello from the codec$/);
  const post = await run('curl', ['-sS', '--http2-prior-knowledge', '--data-binary', 'x'.repeat(100_000), `${url}/echo`]);
  assert.equal(post.code, 0, post.err);
  assert.equal(post.out, 'x'.repeat(100_000));
  // One URL per run: this curl fails a second transfer on a reused prior-knowledge connection with any
  // server (node's http2 alike), so each transfer gets its own connection.
  const big = await run('curl', ['-sS', '--http2-prior-knowledge', `${url}/big?3000000`]);
  assert.equal(big.code, 0, big.err);
  assert.equal(big.out.length, 3_000_000);
  assert.deepEqual(server.errors, []);
});

test('h2load -n 2000 -c 4 -m 10 against the codec server: every request succeeds', { skip: !installed('h2load') && 'h2load not installed' }, async (t) => {
  const server = await codecServer();
  t.after(() => server.close());
  const r = await run('h2load', ['-n', '2000', '-c', '4', '-m', '10', `http://127.0.0.1:${server.port}/`], 60_000);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout/);
  assert.match(r.out, /status codes: 2000 2xx/);
  assert.deepEqual(server.errors, []);
});

test('h2load uploads (100 KB bodies, 20 streams per connection) echoed through both flow-control directions', { skip: !installed('h2load') && 'h2load not installed' }, async (t) => {
  const server = await codecServer();
  t.after(() => server.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-h2codec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const body = path.join(dir, 'body');
  fs.writeFileSync(body, Buffer.alloc(100_000, 'u'));
  const r = await run('h2load', ['-n', '400', '-c', '2', '-m', '20', '-d', body, `http://127.0.0.1:${server.port}/echo`], 60_000);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed/);
  assert.match(r.out, /40000000\) data/);
  assert.deepEqual(server.errors, []);
});

test('the codec client against node http2 server: GET, POST echo, trailers, 1xx, concurrency, GOAWAY', async (t) => {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = headers[':path'];
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (path === '/echo') {
        stream.respond({ ':status': 200, 'x-len': String(Buffer.concat(chunks).length) });
        stream.end(Buffer.concat(chunks));
      } else if (path === '/trailers') {
        stream.additionalHeaders({ ':status': 103, link: '</a>; rel=preload' });
        stream.respond({ ':status': 200 }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end('t');
      } else {
        stream.respond({ ':status': 200, 'content-type': 'text/plain', 'set-cookie': 'id=1; Path=/', date: new Date(0).toUTCString() });
        stream.end(`hello ${headers['x-n'] ?? ''}`);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const client = await CodecClient.connect(port);
  t.after(() => client.close());
  const base = [':scheme', 'http', ':authority', `127.0.0.1:${port}`];

  const get = await client.request([':method', 'GET', ':path', '/', ...base]);
  assert.equal(get.headers.get(':status'), '200');
  assert.equal(get.headers.get('set-cookie'), 'id=1; Path=/');
  assert.equal(get.body.toString(), 'hello ');

  const payload = Buffer.alloc(2_000_000, 'p');
  const echo = await client.request([':method', 'POST', ':path', '/echo', ...base], payload);
  assert.equal(echo.headers.get('x-len'), String(payload.length));
  assert.ok(echo.body.equals(payload));

  const tr = await client.request([':method', 'GET', ':path', '/trailers', ...base]);
  assert.equal(tr.headers.get(':status'), '200');
  assert.equal(tr.body.toString(), 't');
  assert.equal(tr.trailers.get('grpc-status'), '0');

  const many = await Promise.all(Array.from({ length: 90 }, (_, i) => client.request([':method', 'GET', ':path', '/', ...base, 'x-n', String(i)])));
  many.forEach((r, i) => assert.equal(r.body.toString(), `hello ${i}`));
});

test('the codec client gets a refused stream, never a failure of processed ones, when node closes the session', async (t) => {
  let served = 0;
  const server = http2.createServer();
  server.on('session', (session) => {
    session.on('stream', (stream) => {
      served++;
      stream.respond({ ':status': 200 });
      stream.end('ok');
      if (served === 1) session.close(); // graceful GOAWAY after the first stream
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const client = await CodecClient.connect(port);
  const base = [':method', 'GET', ':path', '/', ':scheme', 'http', ':authority', 'x'];
  const first = await client.request(base);
  assert.equal(first.body.toString(), 'ok');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(client.events.some((e) => e.kind === 'goaway' && e.lastStream === 1));
  await assert.rejects(client.request(base), /no stream available/);
});
