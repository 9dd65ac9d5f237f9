import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, F, PREFACE, S, T } from '../../../../src/codec/h2/constants';
import { H2Connection, type H2Event } from '../../../../src/codec/h2/connection';
import { FrameReader, isError } from '../../../../src/codec/h2/frames';
import * as W from '../../../../src/codec/h2/writer';
import { GET, parseFrames, Peer } from './harness';

/** A client and a server connection wired back to back; flush() moves bytes until both are quiet. */
function pair(server: Partial<ConstructorParameters<typeof H2Connection>[0]> = {}, client: Partial<ConstructorParameters<typeof H2Connection>[0]> = {}) {
  const s = new H2Connection({ role: 'server', ...server });
  const c = new H2Connection({ role: 'client', ...client });
  const seen = { server: [] as H2Event[], client: [] as H2Event[] };
  const flush = () => {
    for (let i = 0; i < 10_000; i++) {
      const a = c.takeOutput();
      const b = s.takeOutput();
      if (!a.length && !b.length) return;
      for (const x of a) seen.server.push(...s.receive(x));
      seen.server.push(...s.takeEvents());
      for (const x of b) seen.client.push(...c.receive(x));
      seen.client.push(...c.takeEvents());
    }
    throw new Error('no quiescence');
  };
  return { s, c, seen, flush };
}

test('request and response between two codec connections, body larger than every window', () => {
  const { s, c, seen, flush } = pair({}, {});
  flush();
  const id = c.request([...GET, ':method', 'POST'].slice(0, 8), false, 'POST');
  assert.equal(id, 1);
  const body = Buffer.alloc(3_000_000, 'q');
  c.sendData(id, body, true);
  flush();
  const got = seen.server.filter((e) => e.kind === 'data' && e.stream === 1);
  assert.equal(Buffer.concat(got.map((e) => (e as { data: Buffer }).data)).length, body.length);
  assert.equal((got.at(-1) as { endStream: boolean }).endStream, true);
  assert.equal(s.stateOf(1), 'half-closed (remote)');
  s.sendHeaders(1, [':status', '200'], false);
  s.sendData(1, Buffer.alloc(200_000, 'r'), false);
  s.sendHeaders(1, ['grpc-status', '0'], true);
  flush();
  const heads = seen.client.filter((e) => e.kind === 'headers');
  assert.deepEqual(heads.map((e) => (e as { trailers: boolean }).trailers), [false, true]);
  const rdata = seen.client.filter((e) => e.kind === 'data').reduce((n, e) => n + (e as { data: Buffer }).data.length, 0);
  assert.equal(rdata, 200_000);
  assert.equal(s.stateOf(1), 'closed');
  assert.equal(c.stateOf(1), 'closed');
  assert.equal(s.activeStreams + c.activeStreams, 0);
});

test('stream states of §5.1 as a request goes through', () => {
  const { s, c, flush } = pair();
  assert.equal(s.awaitingSettingsAck, true);
  flush();
  assert.equal(s.awaitingSettingsAck, false);
  assert.equal(c.awaitingSettingsAck, false);
  assert.equal(c.stateOf(1), 'idle');
  const id = c.request(GET, false);
  assert.equal(c.stateOf(id), 'open');
  flush();
  assert.equal(s.stateOf(id), 'open');
  c.sendData(id, Buffer.alloc(0), true);
  assert.equal(c.stateOf(id), 'half-closed (local)');
  flush();
  assert.equal(s.stateOf(id), 'half-closed (remote)');
  s.sendHeaders(id, [':status', '204'], true);
  flush();
  assert.equal(s.stateOf(id), 'closed');
  assert.equal(c.stateOf(id), 'closed');
});

test('GOAWAY from the server: streams above its last stream id are refused (retry elsewhere), others finish', () => {
  const { s, c, seen, flush } = pair();
  flush();
  const a = c.request(GET, true);
  flush();
  const b = c.request(GET, true);
  s.goaway(); // last stream = 1: stream 3 is in flight and not processed
  const out = s.takeOutput();
  for (const x of c.takeOutput()) s.receive(x);
  for (const x of out) seen.client.push(...c.receive(x));
  flush();
  assert.deepEqual(seen.client.filter((e) => e.kind === 'refused').map((e) => (e as { stream: number }).stream), [b]);
  assert.equal(c.request(GET, true), 0, 'no new stream after GOAWAY');
  s.sendHeaders(a, [':status', '200'], true);
  flush();
  assert.ok(seen.client.some((e) => e.kind === 'headers' && e.stream === a));
});

test('peer MAX_CONCURRENT_STREAMS bounds request(); a finished stream frees a slot', () => {
  const { s, c, flush } = pair({ settings: { maxConcurrentStreams: 2 } });
  flush();
  assert.equal(c.request(GET, true), 1);
  assert.equal(c.request(GET, true), 3);
  assert.equal(c.request(GET, true), 0);
  flush();
  s.sendHeaders(1, [':status', '200'], true);
  flush();
  assert.equal(c.request(GET, true), 5);
});

test('client side: server SETTINGS_ENABLE_PUSH=1, PUSH_PROMISE and HEADERS on a stream it may not open are errors', () => {
  const cases: [string, Buffer[], number][] = [
    ['ENABLE_PUSH 1', [W.settings([[S.ENABLE_PUSH, 1]])], E.PROTOCOL_ERROR],
    ['PUSH_PROMISE', [W.settings([]), W.frame(T.PUSH_PROMISE, F.END_HEADERS, 1, Buffer.from([0, 0, 0, 2, 0x82]))], E.PROTOCOL_ERROR],
    ['HEADERS on stream 2', [W.settings([]), W.frame(T.HEADERS, F.END_HEADERS, 2, Buffer.from([0x88]))], E.PROTOCOL_ERROR],
    ['first frame not SETTINGS', [W.ping(Buffer.alloc(8), false)], E.PROTOCOL_ERROR],
  ];
  for (const [name, frames, code] of cases) {
    const c = new H2Connection({ role: 'client' });
    c.request(GET, true);
    c.takeOutput();
    const ev = frames.flatMap((x) => c.receive(x));
    const err = ev.find((e) => e.kind === 'error');
    assert.equal(err && err.kind === 'error' ? err.code : -1, code, name);
    const g = parseFrames(Buffer.concat(c.takeOutput())).find((x) => x.type === T.GOAWAY);
    assert.equal(g?.payload.readUInt32BE(4), code, name);
  }
});

test('client side: a response whose content-length disagrees with its DATA is a stream error; HEAD responses carry none', () => {
  const { s, c, seen, flush } = pair();
  flush();
  const a = c.request(GET, true);
  const h = c.request([':method', 'HEAD', ':scheme', 'http', ':path', '/', ':authority', 'a'], true, 'HEAD');
  flush();
  s.sendHeaders(a, [':status', '200', 'content-length', '10'], false);
  s.sendData(a, Buffer.from('short'), true);
  s.sendHeaders(h, [':status', '200', 'content-length', '10'], true);
  flush();
  assert.ok(seen.client.some((e) => e.kind === 'reset' && e.stream === a && e.code === E.PROTOCOL_ERROR && e.local));
  assert.ok(seen.client.some((e) => e.kind === 'headers' && e.stream === h && e.endStream));
});

test('1xx responses come before the final one; only the final one counts as the response head', () => {
  const { s, c, seen, flush } = pair();
  flush();
  const a = c.request([...GET, 'expect', '100-continue'], false);
  flush();
  s.sendHeaders(a, [':status', '100'], false);
  s.sendHeaders(a, [':status', '200'], false);
  s.sendHeaders(a, ['x-trailer', '1'], true);
  flush();
  const heads = seen.client.filter((e) => e.kind === 'headers') as Extract<H2Event, { kind: 'headers' }>[];
  assert.deepEqual(heads.map((e) => [e.headers[1], e.trailers]), [['100', false], ['200', false], ['1', true]]);
});

test('abuse guards close the connection with ENHANCE_YOUR_CALM', () => {
  const run = (name: string, limits: object, attack: (p: Peer) => Buffer[], abuse: string) => {
    const p = new Peer({ limits }).handshake();
    p.respond = false;
    p.send(...attack(p));
    const err = p.events.find((e) => e.kind === 'error');
    assert.equal(err && err.kind === 'error' ? err.abuse : undefined, abuse, name);
    assert.equal(p.goaway()?.payload.readUInt32BE(4), E.ENHANCE_YOUR_CALM, name);
  };
  run('rapid reset', { maxResets: 50 }, (p) => Array.from({ length: 60 }, (_, i) => Buffer.concat([p.req(1 + 2 * i, { endStream: false }), W.rstStream(1 + 2 * i, E.CANCEL)])), 'rapid_reset');
  run('premature resets of most streams', { resetFloor: 20, maxResets: 1e9 }, (p) => Array.from({ length: 30 }, (_, i) => Buffer.concat([p.req(1 + 2 * i, { endStream: false }), W.rstStream(1 + 2 * i, E.CANCEL)])), 'rapid_reset');
  run('ping flood', { maxPings: 100 }, () => Array.from({ length: 101 }, () => W.ping(Buffer.alloc(8), false)), 'ping_flood');
  run('settings flood', { maxSettings: 20 }, () => Array.from({ length: 21 }, () => W.settings([[S.MAX_CONCURRENT_STREAMS, 10]])), 'settings_flood');
  run('empty DATA flood', { maxEmptyData: 100 }, (p) => [p.req(1, { endStream: false }), ...Array.from({ length: 101 }, () => W.frame(T.DATA, 0, 1))], 'empty_frames');
});

test('guards count per window: the same number spread over time passes', () => {
  const p = new Peer({ limits: { maxPings: 100, windowMs: 1000 } }).handshake();
  for (let i = 0; i < 500; i++) {
    p.send(W.ping(Buffer.alloc(8), false));
    p.tick(20); // 50 per second
  }
  assert.equal(p.goaway(), undefined);
});

test('CONTINUATION flood and header block size: ENHANCE_YOUR_CALM before the block is kept', () => {
  const many = new Peer({ maxHeaderBlock: 1024 }).handshake();
  const block = many.enc.encode(GET);
  many.send(W.frame(T.HEADERS, F.END_STREAM, 1, block), ...Array.from({ length: 300 }, () => W.frame(T.CONTINUATION, 0, 1)));
  assert.equal(many.goaway()?.payload.readUInt32BE(4), E.ENHANCE_YOUR_CALM, 'endless empty CONTINUATION frames');
  const big = new Peer({ maxHeaderBlock: 1024 }).handshake();
  big.send(W.frame(T.HEADERS, F.END_STREAM, 1, block), ...Array.from({ length: 10 }, () => W.frame(T.CONTINUATION, 0, 1, Buffer.alloc(200, 0x82))));
  assert.equal(big.goaway()?.payload.readUInt32BE(4), E.ENHANCE_YOUR_CALM, 'block above the limit');
});

test('a header list above SETTINGS_MAX_HEADER_LIST_SIZE: oversize event, the stream can be answered, HPACK stays in step', () => {
  const p = new Peer({ settings: { maxHeaderListSize: 300 } }).handshake();
  p.respond = false;
  p.send(p.req(1, { headers: [...GET, 'x-big', 'v'.repeat(300), 'x-indexed', 'kept-in-table'] }));
  assert.ok(p.events.some((e) => e.kind === 'oversize' && e.stream === 1));
  p.conn.sendHeaders(1, [':status', '431'], true);
  p.collect();
  assert.ok(p.responded(1));
  // The next block refers to the entry the oversize block added: the decoder must have kept it.
  p.send(p.req(3, { headers: [...GET, 'x-indexed', 'kept-in-table'] }));
  const h = p.events.find((e) => e.kind === 'headers' && e.stream === 3);
  assert.ok(h && h.kind === 'headers' && h.headers.includes('kept-in-table'));
});

test('never-indexed fields arrive marked sensitive', () => {
  const p = new Peer().handshake();
  p.respond = false;
  p.send(p.req(1, { headers: [...GET, 'authorization', 'Bearer secret'] }));
  const h = p.events.find((e) => e.kind === 'headers');
  assert.ok(h && h.kind === 'headers');
  assert.deepEqual(h.sensitive, [4]);
});

test('a field that arrived never-indexed leaves never-indexed when passed on', () => {
  const { s, c, seen, flush } = pair();
  flush();
  const id = c.request([...GET, 'x-secret', 'token'], true, 'GET', [4]);
  flush();
  const h = seen.server.find((e) => e.kind === 'headers');
  assert.ok(h && h.kind === 'headers');
  assert.deepEqual(h.sensitive, [4]);
  s.sendHeaders(id, [':status', '200', 'x-secret', 'token'], true, [1]);
  flush();
  const r = seen.client.find((e) => e.kind === 'headers');
  assert.ok(r && r.kind === 'headers');
  assert.deepEqual(r.sensitive, [1]);
});

test('a smaller SETTINGS_HEADER_TABLE_SIZE binds the peer only once acknowledged, then needs a size update', () => {
  const { s, c, seen, flush } = pair({ settings: { headerTableSize: 100 } });
  // Before the server's SETTINGS reach the client, the client's encoder fills a 4096-byte table.
  const big = [...GET, 'x-a', 'a'.repeat(150), 'x-b', 'b'.repeat(150)];
  c.request(big, true);
  for (const x of c.takeOutput()) seen.server.push(...s.receive(x));
  const first = seen.server.find((e) => e.kind === 'headers');
  assert.ok(first && first.kind === 'headers' && first.headers.includes('b'.repeat(150)));
  flush(); // SETTINGS both ways, acknowledged: the client's next block starts with a size update
  c.request(big, true);
  flush();
  const heads = seen.server.filter((e) => e.kind === 'headers');
  assert.equal(heads.length, 2);
  assert.equal(seen.server.some((e) => e.kind === 'error'), false);
  // A peer that ignores the smaller table (no size update) is a COMPRESSION_ERROR.
  const p = new Peer({ settings: { headerTableSize: 100 } }).handshake();
  p.send(p.req(1, { headers: [...GET, 'x-c', 'c'.repeat(150)] }));
  assert.equal(p.goaway()?.payload.readUInt32BE(4), E.COMPRESSION_ERROR);
});

test('without autoConsume, credit returns only as the owner consumes', () => {
  const p = new Peer({ autoConsume: false, settings: { initialWindowSize: 1000 }, connectionWindow: 65_535 }).handshake();
  p.respond = false;
  p.send(p.req(1, { endStream: false }), W.frame(T.DATA, 0, 1, Buffer.alloc(900)));
  assert.equal(p.frames.filter((f) => f.type === T.WINDOW_UPDATE).length, 0);
  p.send(W.frame(T.DATA, 0, 1, Buffer.alloc(200)));
  assert.equal(p.rst(1)?.payload.readUInt32BE(0), E.FLOW_CONTROL_ERROR, 'past the stream window');
  const q = new Peer({ autoConsume: false, settings: { initialWindowSize: 1000 } }).handshake();
  q.respond = false;
  q.send(q.req(1, { endStream: false }), W.frame(T.DATA, 0, 1, Buffer.alloc(900)));
  q.conn.consume(1, 900);
  q.collect();
  const wu = q.frames.find((f) => f.type === T.WINDOW_UPDATE && f.stream === 1);
  assert.equal(wu?.payload.readUInt32BE(0), 900);
});

test('DATA beyond the connection window is a connection FLOW_CONTROL_ERROR', () => {
  const p = new Peer({ connectionWindow: 65_535, settings: { initialWindowSize: 1 << 20, maxFrameSize: 1 << 20 } }).handshake();
  p.respond = false;
  p.send(p.req(1, { endStream: false }), W.frame(T.DATA, 0, 1, Buffer.alloc(70_000)));
  assert.equal(p.goaway()?.payload.readUInt32BE(4), E.FLOW_CONTROL_ERROR);
});

test('frames sent on a stream this side reset are ignored, the connection window still counted', () => {
  const p = new Peer().handshake();
  p.respond = false;
  p.send(p.req(1, { endStream: false }));
  p.conn.reset(1, E.CANCEL);
  p.collect();
  p.send(W.frame(T.DATA, 0, 1, Buffer.alloc(100)), p.req(1, { headers: ['x-t', '1'] }));
  assert.ok(p.alive());
});

test('the frame reader gives the same frames whatever the read boundaries', () => {
  const p = new Peer();
  const bytes = Buffer.concat([
    PREFACE, W.settings([[S.INITIAL_WINDOW_SIZE, 100]]), p.req(1, { endStream: false, padded: 5, priority: [0, 200] }),
    W.frame(T.DATA, F.PADDED, 1, Buffer.from([2, 65, 66, 0, 0])), W.ping(Buffer.from('abcdefgh'), false),
    W.frame(T.HEADERS, 0, 3, p.enc.encode(GET).subarray(0, 3)), W.frame(T.CONTINUATION, F.END_HEADERS | 0x40, 3, p.enc.encode(GET).subarray(0, 0)),
    W.windowUpdate(0, 1000), W.goaway(1, E.NO_ERROR, 'bye'),
  ]);
  const describe = (step: number) => {
    const r = new FrameReader({ preface: true });
    const out: string[] = [];
    for (let at = 0; at < bytes.length; at += step) {
      r.push(Buffer.from(bytes.subarray(at, at + step)));
      for (let f = r.next(); f; f = r.next()) out.push(JSON.stringify(isError(f) ? f : { ...f, ...('data' in f ? { data: f.data.toString('hex') } : {}), ...('block' in f ? { block: f.block.toString('hex') } : {}) }));
    }
    return out;
  };
  const whole = describe(bytes.length);
  assert.equal(whole.length, 7);
  for (const step of [1, 2, 3, 7, 9, 10, 64]) assert.deepEqual(describe(step), whole, `step ${step}`);
});

test('the writer splits a large header block into HEADERS + CONTINUATION within the peer frame size', () => {
  const block = Buffer.alloc(40_000, 0x82);
  const frames = parseFrames(W.headers(5, block, true, 16_384));
  assert.deepEqual(frames.map((f) => [f.type, f.flags, f.payload.length]), [
    [T.HEADERS, F.END_STREAM, 16_384],
    [T.CONTINUATION, 0, 16_384],
    [T.CONTINUATION, F.END_HEADERS, 7_232],
  ]);
  const r = new FrameReader({ maxFrameSize: 16_384 });
  r.push(W.headers(5, block, true, 16_384));
  const f = r.next();
  assert.ok(f && !isError(f) && f.type === T.HEADERS && f.block.equals(block) && f.continuations === 2);
});
