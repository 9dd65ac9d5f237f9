// The upstream protocol on HTTP ports, as Istio's: an HTTP/2 client's request reaches an HTTP/1-only
// endpoint as HTTP/1.1 (authority → Host, body by Content-Length or chunked, trailers both ways as far as
// chunked coding carries them); useClientProtocol keeps h2 upstream; h2UpgradePolicy UPGRADE takes
// HTTP/1 clients to an h2c-only endpoint; gRPC from an HTTP/2 client stays h2c.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { test } from 'node:test';
import type { Addr } from '../../src/capture/types';
import { dr, h2backend, h2connect, h2request, host, meshOf } from './fixtures/h2-harness';
import { eventually, request, sample, startBackend, startProxy, type Backend, type Proxy } from './proxy-helpers';

const VIP = '127.0.108.1';

/** The outbound listener for service `web` (port 80 named PORT_NAME) at ENDPOINT, with connectionPool.http HTTP_POOL. */
function proxyFor(endpoint: Addr, portName: string, httpPool?: Record<string, unknown>): Promise<Proxy> {
  const traffic = httpPool === undefined ? [] : [dr('web', host('web'), { trafficPolicy: { connectionPool: { http: httpPool } } })];
  return startProxy(meshOf([{ name: 'web', vip: VIP, endpoints: [endpoint], portName }], traffic), { originalDst: () => ({ address: VIP, port: 80 }) });
}

interface Seen {
  version: string;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  trailers: Record<string, string>;
  bytes: number;
  sha: string;
}

/**
 * An HTTP/1-only backend (node:http): answers what it saw as JSON, or with `/echo` the body back
 * (chunked, with a trailer), or with `/big/N` N bytes by Content-Length.
 */
async function h1Only(): Promise<Backend & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const b = await startBackend('h1', (req, res) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
      if (req.url === '/echo') chunks.push(c);
    });
    req.on('end', () => {
      const s: Seen = { version: req.httpVersion, method: req.method ?? '', url: req.url ?? '', headers: req.headers, trailers: { ...req.trailers } as Record<string, string>, bytes, sha: hash.digest('hex') };
      seen.push(s);
      if (req.url === '/echo') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', trailer: 'x-sum', connection: 'keep-alive', 'keep-alive': 'timeout=5' });
        for (const c of chunks) res.write(c);
        res.addTrailers({ 'x-sum': s.sha });
        return void res.end();
      }
      const big = /^\/big\/(\d+)$/.exec(req.url ?? '');
      if (big !== null) {
        const body = Buffer.alloc(Number(big[1]), 'b');
        res.writeHead(200, { 'content-length': body.length });
        return void res.end(body);
      }
      const body = JSON.stringify(s);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return Object.assign(b, { seen });
}

/** An h2 request whose body goes in PARTS (no content-length unless given), optionally with trailers. */
function h2send(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  parts: Buffer[],
  trailers?: http2.OutgoingHttpHeaders,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ...headers }, trailers !== undefined ? { waitForTrailers: true } : {});
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let got: http2.IncomingHttpHeaders | undefined;
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (got = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, trailers: got, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    for (const p of parts) req.write(p);
    req.end();
  });
}

test('HTTP port: an h2 client reaches an HTTP/1-only server as HTTP/1.1, both ways translated', async (t) => {
  const backend = await h1Only();
  const proxy = await proxyFor(backend.addr, 'http');
  const client = h2connect(proxy.addr);
  t.after(async () => {
    client.close();
    await proxy.close();
    await backend.close();
  });

  // GET: :authority becomes Host, split cookies one line, the answer comes back as h2.
  const get = await h2request(client, { ':path': '/a?b=1', ':authority': 'web.example:80', cookie: ['a=1', 'b=2'], 'x-app': 'yes' });
  assert.equal(get.status, 200);
  const s1 = JSON.parse(get.body.toString()) as Seen;
  assert.equal(s1.version, '1.1');
  assert.equal(s1.method, 'GET');
  assert.equal(s1.url, '/a?b=1');
  assert.equal(s1.headers.host, 'web.example:80');
  assert.equal(s1.headers.cookie, 'a=1; b=2');
  assert.equal(s1.headers['x-app'], 'yes');
  assert.equal(s1.headers['transfer-encoding'], undefined, 'a bodiless request has no body framing');
  assert.equal(get.headers['content-type'], 'application/json');

  // POST with content-length: framed by it.
  const withLength = await h2send(client, { ':path': '/len', 'content-length': '11' }, [Buffer.from('hello '), Buffer.from('world')]);
  assert.equal(withLength.status, 200);
  const s2 = JSON.parse(withLength.body.toString()) as Seen;
  assert.equal(s2.headers['content-length'], '11');
  assert.equal(s2.headers['transfer-encoding'], undefined);
  assert.equal(s2.bytes, 11);

  // POST without content-length: chunked, request trailers in the last chunk.
  const chunked = await h2send(client, { ':path': '/chunks', te: 'trailers' }, [Buffer.from('abc'), Buffer.from('defg')], { 'x-checksum': '42' });
  const s3 = JSON.parse(chunked.body.toString()) as Seen;
  assert.equal(s3.headers['transfer-encoding'], 'chunked');
  assert.equal(s3.headers['content-length'], undefined);
  assert.equal(s3.bytes, 7);
  assert.deepEqual(s3.trailers, { 'x-checksum': '42' });

  // A large body both ways; the chunked response's trailer comes back as h2 trailers, hop-by-hop fields do not.
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const parts: Buffer[] = [];
  for (let i = 0; i < big.length; i += 64 * 1024) parts.push(big.subarray(i, i + 64 * 1024));
  const echo = await h2send(client, { ':path': '/echo' }, parts);
  assert.equal(echo.status, 200);
  assert.equal(echo.body.length, big.length);
  assert.ok(echo.body.equals(big), 'the echoed body is intact');
  const sha = createHash('sha256').update(big).digest('hex');
  assert.equal(echo.trailers?.['x-sum'], sha);
  assert.equal(echo.headers.connection, undefined);
  assert.equal(echo.headers['keep-alive'], undefined);
  assert.equal(echo.headers['transfer-encoding'], undefined);

  const large = await h2request(client, { ':path': '/big/2000000' });
  assert.equal(large.body.length, 2_000_000);
  assert.equal(large.headers['content-length'], '2000000');

  assert.ok(backend.seen.every((s) => s.version === '1.1'));
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '200' })) === 5, 'five 200s recorded');
});

test('HTTP port: h2load (4 connections × 10 streams) against an HTTP/1 endpoint: every request succeeds, no 5xx', async (t) => {
  const backend = await h1Only();
  const proxy = await proxyFor(backend.addr, 'http');
  t.after(async () => {
    await proxy.close();
    await backend.close();
  });
  const have = await new Promise<boolean>((resolve) => execFile('h2load', ['--version'], (err) => resolve(err === null)));
  if (!have) return t.skip('h2load is not installed');
  const out = await new Promise<string>((resolve, reject) =>
    execFile('h2load', ['-n', '400', '-c', '4', '-m', '10', `http://127.0.0.1:${proxy.addr.port}/reviews/1`], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.match(out, /requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed/);
  assert.match(out, /status codes: 400 2xx, 0 3xx, 0 4xx, 0 5xx/);
  assert.equal(backend.seen.length, 400);
});

test('useClientProtocol: true keeps h2 upstream (an h2c-only server); HTTP/1 clients stay HTTP/1.1', async (t) => {
  const h2only = await h2backend((stream, h) => {
    stream.respond({ ':status': 200, 'x-authority': String(h[':authority']) });
    stream.end(`h2 ${String(h[':path'])}`);
  });
  const proxy = await proxyFor(h2only.addr, 'http', { useClientProtocol: true, h2UpgradePolicy: 'UPGRADE' });
  const client = h2connect(proxy.addr);
  t.after(async () => {
    client.close();
    await proxy.close();
    await h2only.close();
  });
  const r = await h2request(client, { ':path': '/keep' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'h2 /keep');
  // useClientProtocol wins over UPGRADE: an HTTP/1 client goes as HTTP/1.1, which the h2c-only server refuses.
  const h1 = await request(proxy.addr, { path: '/h1' });
  assert.ok(h1.status >= 500, `HTTP/1.1 to an h2c-only server fails, got ${h1.status}`);
  assert.equal(h2only.requests, 1);
});

test('h2UpgradePolicy UPGRADE: an HTTP/1 client reaches an h2c-only server, Host as :authority', async (t) => {
  const h2only = await h2backend((stream, h) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 201, 'x-authority': String(h[':authority']), 'x-method': String(h[':method']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': 'yes' }));
      stream.end(`h2 ${String(h[':path'])} ${Buffer.concat(chunks).toString()}`);
    });
  });
  const proxy = await proxyFor(h2only.addr, 'http', { h2UpgradePolicy: 'UPGRADE' });
  t.after(async () => {
    await proxy.close();
    await h2only.close();
  });
  const get = await request(proxy.addr, { path: '/up', headers: { host: 'web.example' } });
  assert.equal(get.status, 201);
  assert.equal(get.headers['x-authority'], 'web.example');
  assert.equal(get.body, 'h2 /up ');

  // A POST with a body, and trailers to a client that takes them.
  const post = await new Promise<{ status: number; body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
    const req = http.request({ host: proxy.addr.address, port: proxy.addr.port, method: 'POST', path: '/post', headers: { host: 'web.example', te: 'trailers' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, trailers: res.trailers }));
    });
    req.on('error', reject);
    req.write('part1 ');
    req.end('part2');
  });
  assert.equal(post.status, 201);
  assert.equal(post.body, 'h2 /post part1 part2');
  assert.equal(post.trailers['x-done'], 'yes');
  assert.equal(h2only.requests, 2);
});

test('HTTP port: gRPC from an h2 client stays h2c upstream', async (t) => {
  const h2only = await h2backend((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  const proxy = await proxyFor(h2only.addr, 'http');
  const client = h2connect(proxy.addr);
  t.after(async () => {
    client.close();
    await proxy.close();
    await h2only.close();
  });
  const r = await h2send(client, { ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' }, [Buffer.from([0, 0, 0, 0, 0])]);
  assert.equal(r.status, 200);
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal(h2only.requests, 1);
});
