// Micro-benchmark of the HTTP/2 codec (src/codec/h2), in process, no network:
//  - HPACK: decode and encode of a typical proxied request header block, steady state (dynamic table warm);
//  - frame reader: frames and bytes per second over a mixed HEADERS/DATA stream;
//  - server side per request: request HEADERS in → 200 + small body out, the codec's connection alone (no
//    I/O), then over loopback: the same pre-encoded requests replayed 100 at a time to a server on the
//    codec and to node's http2 (nghttp2) server, both in this process;
//  - end to end on loopback: h2load -n N -c 4 -m 10 against a server on the codec and against node's
//    http2 server, both in this process (skipped without h2load).
// Each figure is the best of 3 rounds (the machine is shared). Not part of `make bench`.
// Run: node dist/bench/h2codec.js (H2CODEC_BENCH_MS: time per case, default 1500; H2CODEC_BENCH_N: 50000).
import * as http2 from 'node:http2';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { codecServer } from '../test/integration/fixtures/h2codec-peers';
import { H2Connection } from '../src/codec/h2/connection';
import { PREFACE } from '../src/codec/h2/constants';
import { FrameReader } from '../src/codec/h2/frames';
import { HpackDecoder, HpackEncoder } from '../src/codec/h2/hpack';
import * as W from '../src/codec/h2/writer';

const MS = Number(process.env.H2CODEC_BENCH_MS ?? 1500);
const BATCH = 100;

function request(i: number): string[] {
  return [
    ':method', 'GET', ':scheme', 'http', ':path', `/api/v1/reviews/${i % 50}?expand=ratings`, ':authority', 'reviews.default.svc.cluster.local:9080',
    'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
    'accept', 'application/json', 'accept-encoding', 'gzip, deflate, br', 'accept-language', 'en-US,en;q=0.9',
    'x-request-id', `5f1c7a52-9a4e-4f0b-8c1d-${String(i).padStart(12, '0')}`,
    'traceparent', `00-4bf92f3577b34da6a3ce929d0e0e${String(i % 10000).padStart(4, '0')}-00f067aa0ba902b7-01`,
    'x-forwarded-proto', 'http', 'cookie', 'session=3f2a1b4c5d6e7f8091a2b3c4d5e6f708; theme=dark',
  ];
}

const ROUNDS = 3;

/** Runs FN repeatedly for MS milliseconds; returns operations per microsecond (FN returns how many it did). */
function rate(fn: () => number): number {
  for (let i = 0; i < 50; i++) fn();
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let ops = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(Math.round(MS / ROUNDS)) * 1_000_000n;
    let now = start;
    while (now < end) {
      for (let i = 0; i < 16; i++) ops += fn();
      now = process.hrtime.bigint();
    }
    best = Math.max(best, ops / (Number(now - start) / 1000));
  }
  return best;
}

function hpackFigures(): { decode: number; encode: number; blockBytes: number; rawBytes: number } {
  const enc = new HpackEncoder();
  const blocks = Array.from({ length: 1000 }, (_, i) => enc.encode(request(i)));
  const rawBytes = request(1).reduce((n, s) => n + s.length, 0);
  const blockBytes = blocks.slice(100).reduce((n, b) => n + b.length, 0) / 900;
  let dec = new HpackDecoder();
  let at = 0;
  const decode = rate(() => {
    if (at === blocks.length) {
      dec = new HpackDecoder();
      at = 0;
    }
    if (!dec.decode(blocks[at++]!)) throw new Error(dec.error);
    return 1;
  });
  const lists = Array.from({ length: 1000 }, (_, i) => request(i));
  let e2 = new HpackEncoder();
  let k = 0;
  const encode = rate(() => {
    if (k === lists.length) {
      e2 = new HpackEncoder();
      k = 0;
    }
    e2.encodeView(lists[k++]!);
    return 1;
  });
  return { decode, encode, blockBytes, rawBytes };
}

function frameFigures(): { framesPerUs: number; mbPerS: number } {
  const enc = new HpackEncoder();
  const parts: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const id = 1 + 2 * i;
    parts.push(W.headers(id, enc.encode(request(i)), false, 16_384), W.dataHead(id, 1024, true), Buffer.alloc(1024, 1), W.windowUpdate(0, 1024));
  }
  const bytes = Buffer.concat(parts);
  // Delivered as 16 KiB reads, as a socket would.
  const reads: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 16_384) reads.push(bytes.subarray(at, at + 16_384));
  let frames = 0;
  const framesPerUs = rate(() => {
    const r = new FrameReader({ maxFrameSize: 16_384 });
    let n = 0;
    for (const c of reads) {
      r.push(c);
      for (let f = r.next(); f; f = r.next()) n++;
    }
    frames = n;
    return n;
  });
  return { framesPerUs, mbPerS: (framesPerUs / frames) * bytes.length };
}

/** Client bytes for BATCH requests on streams FIRST.. (END_STREAM on HEADERS). */
function requestBatch(enc: HpackEncoder, first: number, base: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < BATCH; i++) parts.push(W.headers(first + 2 * i, enc.encode(request(base + i)), true, 16_384));
  return Buffer.concat(parts);
}

const BODY = Buffer.from('{"id":1,"reviews":[]}');
const RESPONSE = [':status', '200', 'content-type', 'application/json', 'server', 'bench'];

/** Pre-encoded client traffic: the same bytes go to both servers. */
function clientTraffic(batches: number): Buffer[] {
  const enc = new HpackEncoder();
  const out: Buffer[] = [Buffer.concat([PREFACE, W.settings([]), W.settingsAck(), W.windowUpdate(0, 1 << 30)])];
  for (let b = 0; b < batches; b++) out.push(requestBatch(enc, 1 + 2 * BATCH * b, BATCH * b));
  return out;
}

function codecServerRate(traffic: Buffer[]): number {
  let conn: H2Connection | undefined;
  let next = 0;
  return rate(() => {
    if (!conn || next === traffic.length) {
      conn = new H2Connection({ role: 'server', settings: { maxConcurrentStreams: 1000 } });
      conn.receive(traffic[0]!);
      conn.takeOutput();
      next = 1;
    }
    let done = 0;
    for (const e of conn.receive(traffic[next++]!)) {
      if (e.kind === 'headers' && e.endStream) {
        conn.sendHeaders(e.stream, RESPONSE, false);
        conn.sendData(e.stream, BODY, true);
        done++;
      }
    }
    conn.takeOutput();
    return done;
  });
}

/**
 * Replays TRAFFIC over one loopback connection to PORT, a batch of 100 requests at a time, each batch
 * sent once the previous one is answered; returns requests per microsecond.
 */
async function replayRate(port: number, traffic: Buffer[]): Promise<number> {
  {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await once(sock, 'connect');
    // Counts responses ended (END_STREAM on DATA or HEADERS) by scanning frame heads as bytes arrive.
    let ended = 0;
    let carry: Buffer = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    let want = 0;
    sock.on('data', (chunk: Buffer) => {
      let buf: Buffer = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let at = 0;
      while (at + 9 <= buf.length) {
        const len = buf.readUIntBE(at, 3);
        if (at + 9 + len > buf.length) break;
        if ((buf[at + 3] === 0 || buf[at + 3] === 1) && buf[at + 4]! & 1) ended++;
        at += 9 + len;
      }
      carry = buf.subarray(at);
      buf = carry;
      if (wake && ended >= want) wake();
    });
    sock.write(traffic[0]!);
    const start = process.hrtime.bigint();
    for (let b = 1; b < traffic.length; b++) {
      want = b * BATCH;
      const answered = new Promise<void>((resolve) => (wake = resolve));
      sock.write(traffic[b]!);
      if (ended < want) await answered;
    }
    const rate = ((traffic.length - 1) * BATCH) / (Number(process.hrtime.bigint() - start) / 1000);
    sock.destroy();
    return rate;
  }
}

interface Pair {
  readonly codec: number;
  readonly node: number;
}

/**
 * The same tiny service on the codec and on node's http2, both in this process (clients are separate
 * processes or this process's own replay). Rounds alternate between the two so drift in the machine's
 * load hits both alike; each side keeps its best round.
 */
async function serverFigures(traffic: Buffer[], n: number): Promise<{ replay: Pair; h2load: Pair | undefined }> {
  const codec = await codecServer(() => ({ status: 200, headers: ['content-type', 'application/json', 'server', 'bench'], body: BODY }));
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on('connection', (sock: net.Socket) => sock.setNoDelay(true)); // as the codec server does
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/json', server: 'bench' });
    stream.end(BODY);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const nodePort = (server.address() as net.AddressInfo).port;
  const replay = { codec: 0, node: 0 };
  let load: { codec: number; node: number } | undefined = { codec: 0, node: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    replay.codec = Math.max(replay.codec, await replayRate(codec.port, traffic));
    replay.node = Math.max(replay.node, await replayRate(nodePort, traffic));
    if (load) {
      const c = await h2loadAsync(codec.port, n);
      const d = await h2loadAsync(nodePort, n);
      load = c === undefined || d === undefined ? undefined : { codec: Math.max(load.codec, c), node: Math.max(load.node, d) };
    }
  }
  await codec.close();
  server.close();
  return { replay, h2load: load };
}

/** h2load as a child that does not block this event loop (the server under test lives in it). */
async function h2loadAsync(port: number, n: number): Promise<number | undefined> {
  {
    const child = spawn('h2load', ['-n', String(n), '-c', '4', '-m', '10', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const failed = await new Promise<boolean>((resolve) => {
      child.on('error', () => resolve(true));
      child.on('close', () => resolve(false));
    });
    if (failed) return undefined;
    const ok = /(\d+) succeeded/.exec(out)?.[1];
    const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1];
    if (ok !== String(n) || !rps) throw new Error(`h2load: ${out}`);
    return Number(rps);
  }
}

async function main(): Promise<void> {
  const h = hpackFigures();
  const f = frameFigures();
  const traffic = clientTraffic(50);
  const codec = codecServerRate(traffic);
  const { replay, h2load: loop } = await serverFigures(traffic, Number(process.env.H2CODEC_BENCH_N ?? 50_000));
  const lines = [
    `HPACK request block: ${h.rawBytes} bytes of fields → ${h.blockBytes.toFixed(1)} bytes on the wire (warm table)`,
    `HPACK decode: ${h.decode.toFixed(2)} blocks/µs (${(1 / h.decode).toFixed(2)} µs per block)`,
    `HPACK encode: ${h.encode.toFixed(2)} blocks/µs (${(1 / h.encode).toFixed(2)} µs per block)`,
    `frame reader: ${f.framesPerUs.toFixed(2)} frames/µs, ${f.mbPerS.toFixed(0)} MB/s (HEADERS + 1 KiB DATA + WINDOW_UPDATE, 16 KiB reads)`,
    `codec connection alone, request in → 200 + body out (no I/O): ${(codec * 1e6).toFixed(0)} req/s (${(1 / codec).toFixed(2)} µs per request)`,
    `server over loopback, pre-encoded requests replayed 100 at a time: codec ${(replay.codec * 1e6).toFixed(0)} req/s, node http2 ${(replay.node * 1e6).toFixed(0)} req/s → ${(replay.codec / replay.node).toFixed(2)}×`,
  ];
  for (const l of lines) console.log(l);
  if (loop) console.log(`loopback, h2load -c 4 -m 10: codec server ${loop.codec.toFixed(0)} req/s, node http2 server ${loop.node.toFixed(0)} req/s → ${(loop.codec / loop.node).toFixed(2)}×`);
  else console.log('loopback: h2load not found, skipped');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
