import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { E } from '../../src/codec/h2/constants';
import { goaway } from '../../src/codec/h2/writer';
import { H2Socket, type H2Stream } from '../../src/conn/h2socket';
import { StreamBody, streamDuplex } from '../../src/conn/h2views';
import { eventually } from './proxy-helpers';

// The socket adapter of the HTTP/2 codec (src/conn/h2socket.ts), both roles on loopback: requests and
// responses with bodies and trailers, flow control driven by the reader, the Duplex view, GOAWAY
// refusing streams above its last stream id, and the idle close.

interface Pair {
  client: H2Socket;
  served: H2Stream[];
  server: () => H2Socket;
  close(): void;
}

async function pair(onStream: (s: H2Stream) => void, idleMs = 0): Promise<Pair> {
  const served: H2Stream[] = [];
  let serverSock: H2Socket | undefined;
  const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
    serverSock = new H2Socket(sock, { role: 'server', idleMs }, { stream: (s) => (served.push(s), onStream(s)) });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const sock = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await once(sock, 'connect');
  const client = new H2Socket(sock, { role: 'client' });
  return {
    client,
    served,
    server: () => serverSock!,
    close: () => {
      client.destroy();
      serverSock?.destroy();
      srv.close();
    },
  };
}

const head = (p: string, method = 'GET'): string[] => [':method', method, ':scheme', 'http', ':authority', 'x', ':path', p];

interface Reply {
  head: string[];
  body: Buffer;
  trailers: string[] | undefined;
}

function fetch(c: H2Socket, p: string, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let h: string[] = [];
    let trailers: string[] | undefined;
    const s = c.request(head(p, body ? 'POST' : 'GET'), body === undefined, body ? 'POST' : 'GET', {
      headers: (list, end, isTrailers) => {
        if (isTrailers) trailers = list;
        else h = list;
        if (end) resolve({ head: h, body: Buffer.concat(chunks), trailers });
      },
      data: (d, end) => {
        chunks.push(Buffer.from(d));
        s!.consume(d.length);
        if (end) resolve({ head: h, body: Buffer.concat(chunks), trailers });
      },
      abort: (why, code) => reject(new Error(`${why} ${code}`)),
    });
    if (s === undefined) return reject(new Error('no stream'));
    if (body) {
      s.write(body);
      s.end();
    }
  });
}

/** Server side: reads the body through a StreamBody, answers with its sha256, length and a trailer. */
function digestServer(s: H2Stream): void {
  const body = new StreamBody(s);
  const hash = createHash('sha256');
  let n = 0;
  s.listen({ data: (d, end) => body.feed(d, end), headers: (_l, end) => end && body.feed(Buffer.alloc(0), true) });
  if (s.headEnded) body.feed(Buffer.alloc(0), true);
  body.on('data', (d: Buffer) => {
    hash.update(d);
    n += d.length;
  });
  body.on('end', () => {
    s.sendHeaders([':status', '200', 'x-path', s.head[s.head.indexOf(':path') + 1]!], false);
    s.write(Buffer.from(`${n}`));
    s.end(['x-sha256', hash.digest('hex')]);
  });
}

test('h2socket: requests with and without bodies, trailers; many streams at once', async (t) => {
  const p = await pair(digestServer);
  t.after(() => p.close());
  const r = await fetch(p.client, '/a');
  assert.equal(r.head[1], '200');
  assert.deepEqual(r.head.slice(2), ['x-path', '/a']);
  assert.equal(r.body.toString(), '0');
  assert.deepEqual(r.trailers, ['x-sha256', createHash('sha256').digest('hex')]);
  const bodies = Array.from({ length: 50 }, (_, i) => randomBytes(1000 + i * 997));
  const replies = await Promise.all(bodies.map((b, i) => fetch(p.client, `/b${i}`, b)));
  replies.forEach((r, i) => {
    assert.equal(r.body.toString(), String(bodies[i]!.length));
    assert.equal(r.trailers?.[1], createHash('sha256').update(bodies[i]!).digest('hex'));
  });
});

test('h2socket: a reader that does not read holds the sender at the flow-control window; reading releases it', async (t) => {
  let body: StreamBody | undefined;
  const p = await pair((s) => {
    body = new StreamBody(s);
    s.listen({ data: (d, end) => body!.feed(d, end) });
    body.pause();
  });
  t.after(() => p.close());
  const s = p.client.request(head('/up', 'POST'), false, 'POST', {})!;
  const chunk = Buffer.alloc(16 * 1024, 1);
  let written = 0;
  let drained = false;
  s.listen({ drain: () => (drained = true) });
  // Writes until write() says stop (bounded).
  for (let i = 0; i < 200 && s.write(chunk); i++) written += chunk.length;
  written += chunk.length;
  assert.ok(written < 1024 * 1024, `write() never said stop: ${written}`);
  await eventually(() => body !== undefined && body.readableLength > 0, 'data arrived');
  await new Promise((r) => setTimeout(r, 50));
  // The receiver holds at most its stream window (64 KiB) plus the readable buffer.
  const held = body!.readableLength;
  assert.ok(held <= 128 * 1024, `buffered ${held}`);
  let got = 0;
  body!.on('data', (d: Buffer) => (got += d.length));
  body!.resume();
  await eventually(() => drained, 'the sender was told to go on');
  await eventually(() => got === written, 'everything arrived');
});

test('h2socket: the Duplex view carries bytes both ways and ends each side', async (t) => {
  const p = await pair((s) => {
    s.sendHeaders([':status', '200'], false);
    const d = streamDuplex(s);
    d.pipe(d); // echo
  });
  t.after(() => p.close());
  const s = p.client.request([':method', 'CONNECT', ':authority', 'x:1'], false, 'CONNECT', {})!;
  const d = streamDuplex(s);
  const got: Buffer[] = [];
  d.on('data', (c: Buffer) => got.push(c));
  const payload = randomBytes(300_000);
  d.end(payload);
  await once(d, 'end');
  assert.ok(Buffer.concat(got).equals(payload));
});

test('h2socket: streams above a GOAWAY last stream id are reported refused; the idle connection closes', async (t) => {
  const held: H2Stream[] = [];
  const p = await pair((s) => held.push(s), 200);
  t.after(() => p.close());
  const outcomes: string[] = [];
  for (let i = 0; i < 3; i++) {
    p.client.request(head(`/${i}`), true, 'GET', {
      headers: (l) => outcomes.push(`${i}:${l[1]}`),
      abort: (why) => outcomes.push(`${i}:${why}`),
    });
  }
  await eventually(() => held.length === 3, 'three streams at the server');
  // A GOAWAY naming stream 3 (the second): the third stream (5) was not processed.
  p.server().socket.write(goaway(3, E.NO_ERROR));
  held[0]!.sendHeaders([':status', '200'], true);
  held[1]!.sendHeaders([':status', '200'], true);
  await eventually(() => outcomes.length === 3, 'all three streams settled');
  assert.deepEqual(outcomes.sort(), ['0:200', '1:200', '2:refused']);
  assert.equal(p.client.draining, true);
  assert.equal(p.client.request(head('/late'), true, 'GET', {}), undefined, 'no new stream after GOAWAY');
  held[2]!.reset(E.CANCEL);
  await eventually(() => p.client.destroyed, 'the connection closed once idle and drained');
});
