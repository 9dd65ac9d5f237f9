// HTTP/1 requests handed from the raw connection to the L7 engine (EngineExchange) through the real
// outbound listener: broken request bodies, slow bodies, early responses, pipelining, HEAD, HTTP/1.0
// and trailers, each as a client on a raw socket sees them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import type { Addr } from '../../src/capture/types';
import type { MeshConfig } from '../../src/config/model';
import { eventually, raw, sample, startBackend, startProxy, type Backend, type Proxy } from './proxy-helpers';
import { host, meshOf, vs } from './fixtures/h2-harness';

const VIP = '127.0.107.1';

/** A mesh whose only route edits a request header: every request goes through the engine. */
function engineMesh(b: Backend, extra: Record<string, unknown> = {}): MeshConfig {
  return meshOf(
    [{ name: 'web', vip: VIP, endpoints: [b.addr], portName: 'http' }],
    [vs('web', [host('web')], [{ headers: { request: { set: { 'x-engine': '1' } } }, route: [{ destination: { host: host('web') } }], ...extra }])],
  );
}

async function proxyFor(cfg: MeshConfig, timeouts: Record<string, number> = {}): Promise<Proxy> {
  return startProxy(cfg, { originalDst: () => ({ address: VIP, port: 80 }), timeouts });
}

/** A raw client connection that collects what the proxy sends, and whether it closed. */
class RawClient {
  readonly socket: net.Socket;
  text = '';
  closed = false;
  constructor(addr: Addr) {
    this.socket = net.connect(addr.port, addr.address);
    this.socket.on('data', (c: Buffer) => (this.text += c.toString('latin1')));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }
  send(s: string): void {
    this.socket.write(s);
  }
  count(re: RegExp): number {
    return (this.text.match(new RegExp(re.source, 'g')) ?? []).length;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('engine path: a malformed chunked body is a DPE reset, not a crash, in the first packet or later', async (t) => {
  const b = await startBackend('a', (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const r1 = await raw(p.addr, 'POST / HTTP/1.1\r\nhost: web\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nxx\r\n');
  assert.doesNotMatch(r1.text, /HTTP\/1\.1 200/);
  // The body broken after the engine forwarded the head upstream.
  const c = new RawClient(p.addr);
  c.send('POST / HTTP/1.1\r\nhost: web\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n');
  await sleep(50);
  c.send('qq\r\n');
  await eventually(() => c.closed, 'the client is reset');
  // Let any unhandled stream error surface before the test ends.
  await sleep(50);
  await eventually(async () => (await sample(p.metrics, 'istio_requests_total', { response_flags: 'DPE' })) === 2, 'both recorded as DPE');
});

test('engine path: a malformed chunked body during a fault delay does not crash the process', async (t) => {
  const b = await startBackend('a');
  const p = await proxyFor(engineMesh(b, { fault: { delay: { fixedDelay: '300ms', percentage: { value: 100 } } } }));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const c = new RawClient(p.addr);
  c.send('POST / HTTP/1.1\r\nhost: web\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n');
  await sleep(50);
  c.send('qq\r\n');
  await eventually(() => c.closed, 'the client is reset');
  await sleep(400);
  assert.equal(b.requests, 0);
});

test('engine path: a client that stops sending its body is cut off after downstreamRequestMs', async (t) => {
  const b = await startBackend('a', (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const p = await proxyFor(engineMesh(b), { downstreamRequestMs: 200, requestMs: 0 });
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const c = new RawClient(p.addr);
  c.send('POST / HTTP/1.1\r\nhost: web\r\ncontent-length: 10\r\n\r\nabc');
  await eventually(() => c.closed, 'the slow client is cut off', 200, 10);
  await eventually(async () => (await sample(p.metrics, 'istio_requests_total', { response_flags: 'DPE' })) === 1, 'recorded once as DPE');
});

test('engine path: a response begun before the body ended says close, and the connection closes (no pipelined request served)', async (t) => {
  const b = await startBackend('a', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('early;');
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(`got ${n}`));
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const c = new RawClient(p.addr);
  c.send('POST /one HTTP/1.1\r\nhost: web\r\ncontent-length: 10\r\n\r\nabcde');
  await eventually(() => c.text.includes('early;'), 'the early response head and bytes');
  assert.match(c.text, /connection: close/i);
  c.send('fghij' + 'GET /two HTTP/1.1\r\nhost: web\r\n\r\n');
  await eventually(() => c.closed, 'the connection closes after the response it said close on');
  assert.equal(c.count(/HTTP\/1\.1 200/), 1, c.text);
  assert.equal(b.requests, 1);
});

test('engine path: pipelined requests with bodies are answered in order on one connection', async (t) => {
  const b = await startBackend('a', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => res.end(`${req.url}:${Buffer.concat(chunks).toString()};`));
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const c = new RawClient(p.addr);
  c.send(
    'POST /1 HTTP/1.1\r\nhost: web\r\ncontent-length: 3\r\n\r\naaa' +
      'POST /2 HTTP/1.1\r\nhost: web\r\ntransfer-encoding: chunked\r\n\r\n2\r\nbb\r\n0\r\n\r\n' +
      'GET /3 HTTP/1.1\r\nhost: web\r\n\r\n',
  );
  await eventually(() => c.text.includes('/3:'), 'three answers');
  const order = [...c.text.matchAll(/\/(\d):(\w*);/g)].map((m) => `${m[1]}${m[2]}`);
  assert.deepEqual(order, ['1aaa', '2bb', '3']);
  assert.equal(c.closed, false);
  c.socket.destroy();
});

test('engine path: HEAD keeps the length without a body, 204/304 carry no framing, the connection stays usable', async (t) => {
  const b = await startBackend('a', (req, res) => {
    if (req.url === '/204') return void res.writeHead(204).end();
    if (req.url === '/304') return void res.writeHead(304, { etag: '"x"' }).end();
    res.writeHead(200, { 'content-length': '5' });
    res.end(req.method === 'HEAD' ? undefined : 'hello');
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const c = new RawClient(p.addr);
  c.send('HEAD / HTTP/1.1\r\nhost: web\r\n\r\n');
  await eventually(() => c.count(/\r\n\r\n/) === 1, 'HEAD answer');
  c.send('GET /204 HTTP/1.1\r\nhost: web\r\n\r\nGET /304 HTTP/1.1\r\nhost: web\r\n\r\nGET / HTTP/1.1\r\nhost: web\r\n\r\n');
  await eventually(() => c.text.endsWith('hello'), 'the rest');
  const parts = c.text.split('HTTP/1.1 ').slice(1);
  assert.equal(parts.length, 4, c.text);
  assert.match(parts[0]!, /^200 [^]*content-length: 5\r\n/i);
  assert.ok(parts[0]!.endsWith('\r\n\r\n'), 'no body after the HEAD answer');
  assert.match(parts[1]!, /^204 /);
  assert.doesNotMatch(parts[1]!, /content-length|transfer-encoding/i);
  assert.doesNotMatch(parts[2]!, /transfer-encoding/i);
  assert.equal(c.closed, false);
  c.socket.destroy();
});

test('engine path: HTTP/1.0 gets a close-delimited body from a chunked upstream; HTTP/1.1 with TE: trailers gets the trailers', async (t) => {
  const b = await startBackend('a', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' });
    res.write('abc');
    res.addTrailers({ 'x-sum': '42' });
    res.end('def');
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const r10 = await raw(p.addr, 'GET / HTTP/1.0\r\nhost: web\r\n\r\n');
  assert.match(r10.text, /^HTTP\/1\.1 200/);
  assert.doesNotMatch(r10.text, /transfer-encoding/i);
  assert.match(r10.text, /connection: close/i);
  assert.ok(r10.text.endsWith('\r\n\r\nabcdef'), r10.text);
  const r11 = await raw(p.addr, 'GET / HTTP/1.1\r\nhost: web\r\nte: trailers\r\nconnection: te\r\n\r\n', { until: /0\r\n[^]*\r\n\r\n$/ });
  assert.match(r11.text, /transfer-encoding: chunked/i);
  assert.match(r11.text, /0\r\nx-sum: 42\r\n\r\n$/);
});

test('engine path: a client gone mid-body or mid-response is recorded once as DC, and the proxy serves on', async (t) => {
  let hold: (() => void) | undefined;
  const b = await startBackend('a', (req, res) => {
    req.resume();
    if (req.url === '/slow') {
      res.writeHead(200);
      res.write('part');
      hold = () => res.end();
      return;
    }
    req.on('end', () => res.end('ok'));
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    hold?.();
    await p.close();
    await b.close();
  });
  const c1 = new RawClient(p.addr);
  c1.send('POST / HTTP/1.1\r\nhost: web\r\ncontent-length: 100\r\n\r\nabc');
  await sleep(50);
  c1.socket.destroy();
  const c2 = new RawClient(p.addr);
  c2.send('GET /slow HTTP/1.1\r\nhost: web\r\n\r\n');
  await eventually(() => c2.text.includes('part'), 'response under way');
  c2.socket.destroy();
  await eventually(async () => (await sample(p.metrics, 'istio_requests_total', { response_flags: 'DC' })) === 2, 'two DC records');
  const ok = await raw(p.addr, 'GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
  assert.match(ok.text, /^HTTP\/1\.1 200/);
  await sleep(50);
  assert.equal(await sample(p.metrics, 'istio_requests_total', { response_flags: 'DC' }), 2);
});

test('engine path: large bodies both ways under backpressure (slow backend reader, slow client reader) arrive intact', async (t) => {
  const size = 4 * 1024 * 1024;
  const b = await startBackend('a', (req, res) => {
    let n = 0;
    const hash = createHash('sha256');
    req.on('data', (d: Buffer) => {
      n += d.length;
      hash.update(d);
      // A slow reader: the proxy must hold the client back, not buffer the whole body.
      req.pause();
      setTimeout(() => req.resume(), 1);
    });
    req.on('end', () => {
      res.writeHead(200, { 'x-got': `${n}/${hash.digest('hex')}` });
      const chunk = Buffer.alloc(64 * 1024, 7);
      let left = size;
      const pump = (): void => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = i % 251;
  const sum = createHash('sha256').update(body).digest('hex');
  const c = new RawClient(p.addr);
  let got = 0;
  let head = '';
  c.socket.removeAllListeners('data');
  c.socket.on('data', (d: Buffer) => {
    if (head === '' || !head.includes('\r\n\r\n')) {
      head += d.toString('latin1');
      const at = head.indexOf('\r\n\r\n');
      if (at >= 0) got += Buffer.byteLength(head.slice(at + 4), 'latin1');
    } else got += d.length;
    c.socket.pause();
    setTimeout(() => c.socket.resume(), 1);
  });
  c.send(`POST / HTTP/1.1\r\nhost: web\r\ncontent-length: ${size}\r\n\r\n`);
  c.socket.write(body);
  await eventually(() => head.includes('\r\n\r\n') && got >= size + 0, 'the whole response', 3000, 10);
  assert.ok(head.includes(`x-got: ${size}/${sum}`), head.slice(0, 200));
  // Chunked framing adds bytes; the payload itself is SIZE.
  assert.ok(got >= size);
  c.socket.destroy();
});

test('engine path: Expect: 100-continue gets 100 before the body, then the answer', async (t) => {
  const b = await startBackend('a', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => res.end(`got:${Buffer.concat(chunks).toString()}`));
  });
  const p = await proxyFor(engineMesh(b));
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const c = new RawClient(p.addr);
  c.send('POST / HTTP/1.1\r\nhost: web\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n');
  await eventually(() => c.text.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), '100 Continue');
  c.send('hello');
  await eventually(() => c.text.includes('got:hello'), 'the answer');
  c.socket.destroy();
});

test('engine path: a direct response with the body fully received keeps the connection; with the body partly received it closes', async (t) => {
  const b = await startBackend('a');
  const cfg = meshOf(
    [{ name: 'web', vip: VIP, endpoints: [b.addr], portName: 'http' }],
    [vs('web', [host('web')], [{ directResponse: { status: 418, body: { string: 'teapot' } } }])],
  );
  const p = await proxyFor(cfg);
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const c = new RawClient(p.addr);
  c.send('POST / HTTP/1.1\r\nhost: web\r\ncontent-length: 3\r\n\r\nabcGET / HTTP/1.1\r\nhost: web\r\n\r\n');
  await eventually(() => c.count(/teapot/) === 2, 'two answers on one connection');
  assert.equal(c.closed, false);
  c.send('POST / HTTP/1.1\r\nhost: web\r\ncontent-length: 30\r\n\r\nabc');
  await eventually(() => c.closed, 'closed after an answer to a half-received request');
  assert.equal(c.count(/teapot/), 3);
  assert.match(c.text.slice(c.text.lastIndexOf('HTTP/1.1 418')), /connection: close/i);
});
