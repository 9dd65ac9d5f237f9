// The raw-socket HTTP/1.1 path: pipelining, body framing in both directions (passed through,
// de-chunked, re-chunked), bodiless responses, interim responses, upstream protocol errors,
// connection reuse rules, and the opaque TCP idle timeout on the shared clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import { endpoint, eventually, meshConfig, raw, request, sample, startBackend, startProxy } from './proxy-helpers';

/** A scripted upstream: answers each request head with `reply(head, n)` (raw bytes), counting connections. */
async function scripted(reply: (head: string, n: number, s: net.Socket) => string | undefined): Promise<{ addr: Addr; conns: () => number; heads: string[]; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const heads: string[] = [];
  let conns = 0;
  const server = net.createServer((s) => {
    conns++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end + 4);
        const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        heads.push(head);
        const out = reply(head, heads.length, s);
        if (out !== undefined) s.write(out);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    addr: { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port },
    conns: () => conns,
    heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const OK = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;

test('pipelined requests are answered one at a time, in order, on one connection', async (t) => {
  const up = await scripted((head, n, s) => {
    const path = /^GET (\S+)/.exec(head)![1]!;
    // The first answer is slow: the second must still come after it.
    if (n === 1) setTimeout(() => s.write(OK(`first ${path}`)), 50);
    else return OK(`then ${path}`);
    return undefined;
  });
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  const r = await raw(proxy.addr, 'GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\n\r\n', { until: /then \/c$/ });
  const bodies = [...r.text.matchAll(/\r\n\r\n([a-z]+ \/[a-z])/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ['first /a', 'then /b', 'then /c']);
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '200' }), 3);
});

test('a chunked response stays chunked for HTTP/1.1 (trailers to clients that take them), de-chunked and close-delimited for HTTP/1.0', async (t) => {
  const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n';
  const up = await scripted(() => chunked);
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  /** The data of a chunked body (extensions dropped), and what follows the last chunk. */
  const dechunk = (body: string): { data: string; trailer: string } => {
    let data = '';
    let rest = body;
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, eol).split(';')[0]!, 16);
      rest = rest.slice(eol + 2);
      if (size === 0) return { data, trailer: rest };
      data += rest.slice(0, size);
      rest = rest.slice(size + 2);
    }
  };
  // Trailers only to a client that said it takes them (TE: trailers), as Envoy's default does.
  const te = await raw(proxy.addr, 'GET / HTTP/1.1\r\nhost: x\r\nte: trailers\r\n\r\n', { until: /0\r\nx-trailer: t\r\n\r\n$/ });
  assert.match(te.text, /^HTTP\/1\.1 200 OK\r\n[^]*transfer-encoding: chunked\r\n/);
  assert.deepEqual(dechunk(te.text.slice(te.text.indexOf('\r\n\r\n') + 4)), { data: 'hello world', trailer: 'x-trailer: t\r\n\r\n' });
  const v11 = await raw(proxy.addr, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n', { until: /\r\n0\r\n\r\n$/ });
  assert.deepEqual(dechunk(v11.text.slice(v11.text.indexOf('\r\n\r\n') + 4)), { data: 'hello world', trailer: '\r\n' });
  const v10 = await raw(proxy.addr, 'GET / HTTP/1.0\r\nhost: x\r\nconnection: keep-alive\r\n\r\n');
  assert.match(v10.text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(v10.text, /transfer-encoding/i);
  assert.match(v10.text, /connection: close\r\n/);
  assert.ok(v10.text.endsWith('\r\n\r\nhello world'), v10.text);
  assert.equal(await sample(proxy.metrics, 'istio_response_bytes_sum'), 33);
});

test('a close-delimited response is re-chunked for an HTTP/1.1 client, whose connection stays usable', async (t) => {
  const up = await scripted((_h, _n, s) => {
    s.end('HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close');
    return undefined;
  });
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  const r = await raw(proxy.addr, 'GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\n', { until: /(0\r\n\r\n[^]*){2}$/ });
  const answers = r.text.split('HTTP/1.1 200 OK\r\n').slice(1);
  assert.equal(answers.length, 2, r.text);
  for (const a of answers) {
    assert.match(a, /transfer-encoding: chunked\r\n/);
    assert.ok(a.endsWith('\r\n\r\nb\r\nuntil close\r\n0\r\n\r\n'), a);
  }
  assert.equal(up.conns(), 2, 'a close-delimited response never goes back to the pool');
});

test('HEAD, 204 and 304 responses have no body, and keep-alive continues after them', async (t) => {
  const up = await scripted((head) => {
    if (head.startsWith('HEAD')) return 'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n';
    if (head.includes('/204')) return 'HTTP/1.1 204 No Content\r\n\r\n';
    if (head.includes('/304')) return 'HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n';
    return OK('last');
  });
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  const r = await raw(proxy.addr, 'HEAD / HTTP/1.1\r\nhost: x\r\n\r\nGET /204 HTTP/1.1\r\nhost: x\r\n\r\nGET /304 HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n', {
    until: /last$/,
  });
  assert.deepEqual([...r.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1]), ['200', '204', '304', '200']);
  assert.match(r.text, /content-length: 1000\r\n\r\nHTTP\/1\.1 204/);
  assert.equal(up.conns(), 1);
});

test('interim 103 responses reach HTTP/1.1 clients before the final response', async (t) => {
  const up = await scripted(() => 'HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n' + OK('done'));
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  const r = await raw(proxy.addr, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n', { until: /done$/ });
  assert.match(r.text, /^HTTP\/1\.1 103 Early Hints\r\nlink: <\/s\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '200' }), 1);
});

test('a malformed upstream response head is 502 UPE; a malformed body after the head resets the client', async (t) => {
  const up = await scripted((head, _n, s) => {
    if (head.includes('/head')) return 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\nok';
    // Found in the bytes that came with the head: nothing was sent yet, so it is still answered.
    if (head.includes('/early')) return 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n';
    if (head.includes('/body')) {
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n');
      setTimeout(() => s.write('zz\r\n'), 30);
      return undefined;
    }
    return 'NOT HTTP\r\n\r\n';
  });
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  for (const path of ['/head', '/early', '/garbage']) {
    const r = await request(proxy.addr, { path });
    assert.equal(r.status, 502, path);
    assert.equal(r.body, 'upstream sent a malformed response');
  }
  const body = await raw(proxy.addr, 'GET /body HTTP/1.1\r\nhost: x\r\n\r\n');
  assert.match(body.text, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n2\r\nok\r\n$/);
  assert.ok(!body.text.includes('zz'), 'the bad chunk is not forwarded');
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '502', response_flags: 'UPE' }), 3);
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '200', response_flags: 'UPE' })) === 1, 'body UPE recorded');
});

test('an upstream that says connection: close is not reused; one that keeps alive is', async (t) => {
  const up = await scripted((head) => (head.includes('/close') ? OK('bye', 'connection: close\r\n') : OK('stay')));
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  for (const path of ['/a', '/b', '/close', '/c', '/d']) assert.equal((await request(proxy.addr, { path })).status, 200, path);
  assert.equal(up.conns(), 2);
  // The proxy never forwards its own hop-by-hop state upstream.
  for (const h of up.heads) assert.doesNotMatch(h, /^connection:/im);
});

test('requests that could smuggle a second request are refused before any byte goes upstream', async (t) => {
  const backend = await startBackend('ok');
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await backend.close();
  });
  const attempts = [
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding : chunked\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n content-length: 0\r\n\r\nGET /',
    'GET / HTTP/1.1\nhost: x\n\n',
    'POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
  ];
  for (const a of attempts) {
    const r = await raw(proxy.addr, a);
    assert.match(r.text, /^HTTP\/1\.1 400 /, JSON.stringify(a));
  }
  assert.equal(backend.requests, 0);
});

test('a large chunked response reaches a slow reader intact (backpressure both ways)', async (t) => {
  const piece = Buffer.alloc(64 * 1024, 'q').toString('latin1');
  const up = await scripted((_h, _n, s) => {
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
    for (let i = 0; i < 32; i++) s.write(`${(piece.length).toString(16)}\r\n${piece}\r\n`);
    s.write('0\r\n\r\n');
    return undefined;
  });
  const proxy = await startProxy(meshConfig([endpoint(up.addr)], 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await up.close();
  });
  const got = await new Promise<number>((resolve, reject) => {
    let n = 0;
    let text = '';
    const c = net.connect(proxy.addr.port, proxy.addr.address, () => c.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    c.on('error', reject);
    c.on('data', (d: Buffer) => {
      n += d.length;
      text = (text + d.toString('latin1')).slice(-16);
      c.pause();
      setTimeout(() => c.resume(), 1);
      if (text.endsWith('\r\n0\r\n\r\n')) {
        c.destroy();
        resolve(n);
      }
    });
  });
  assert.ok(got > 32 * piece.length, `${got} bytes`);
  await eventually(async () => (await sample(proxy.metrics, 'istio_response_bytes_sum')) === 32 * piece.length, 'response bytes counted');
});

test('an opaque TCP connection without traffic is closed after the idle timeout; a busy one is not', async (t) => {
  const echo = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const addr = { address: '127.0.0.1', port: (echo.address() as net.AddressInfo).port };
  const proxy = await startProxy(meshConfig([endpoint(addr)], 'TCP'), { timeouts: { tcpIdleMs: 300 } });
  t.after(async () => {
    await proxy.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });
  const busy = net.connect(proxy.addr.port, proxy.addr.address);
  busy.on('error', () => undefined);
  const timer = setInterval(() => busy.write('x'), 50);
  const quiet = net.connect(proxy.addr.port, proxy.addr.address);
  quiet.on('error', () => undefined);
  const t0 = Date.now();
  await once(quiet, 'close');
  const idleFor = Date.now() - t0;
  assert.ok(idleFor >= 250 && idleFor < 2_000, `closed after ${idleFor} ms`);
  assert.equal(busy.destroyed, false);
  clearInterval(timer);
  busy.destroy();
  await eventually(async () => (await sample(proxy.metrics, 'istio_tcp_connections_closed_total')) === 2, 'both closes recorded');
});
