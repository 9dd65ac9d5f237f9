import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, F, S, T } from '../../../../src/codec/h2/constants';
import * as W from '../../../../src/codec/h2/writer';
import { codeName, GET, Peer, POST, u32 } from './harness';

// RFC 9113 / RFC 7541 conformance, one row per case of h2spec's published list (generic, http2, hpack),
// fed as bytes to a server connection. Expectation: a connection error (GOAWAY code), a stream error
// (RST_STREAM code on a stream), or that the connection is still alive afterwards (it answers a PING).

type Expect = { conn: number } | { stream: number; code: number } | 'alive' | ((p: Peer) => void);
interface Row {
  readonly id: string;
  readonly name: string;
  /** Client SETTINGS at the handshake. */
  readonly settings?: [number, number][];
  /** Bytes to send, each buffer one read; may use the peer's encoder. */
  readonly send: (p: Peer) => Buffer[];
  readonly expect: Expect;
}

const f = W.frame;
const data = (stream: number, text: string, flags = 0) => f(T.DATA, flags, stream, Buffer.from(text));
const cont = (p: Peer, stream: number, flags: number, headers = GET) => f(T.CONTINUATION, flags, stream, p.enc.encode(headers));
const huffmanLiteral = (hex: string) => Buffer.concat([Buffer.from([0x00, 0x01, 0x61]), Buffer.from([0x80 | (hex.length / 2)]), Buffer.from(hex, 'hex')]);
/** A request block followed by one more representation, sent on STREAM. */
const withRep = (p: Peer, stream: number, rep: Buffer) => f(T.HEADERS, F.END_HEADERS | F.END_STREAM, stream, Buffer.concat([p.enc.encode(GET), rep]));
const withPrefix = (p: Peer, stream: number, rep: Buffer) => f(T.HEADERS, F.END_HEADERS | F.END_STREAM, stream, Buffer.concat([rep, p.enc.encode(GET)]));
const responded = (stream: number) => (p: Peer) => {
  assert.ok(p.responded(stream), `response on stream ${stream}`);
  assert.equal(p.dataOn(stream).toString(), 'hello world');
  assert.equal(p.goaway(), undefined);
};
const malformed = (headers: string[]): Pick<Row, 'send' | 'expect'> => ({ send: (p) => [p.req(1, { headers })], expect: { stream: 1, code: E.PROTOCOL_ERROR } });

const ROWS: Row[] = [
  // generic: the happy paths of each frame type.
  { id: 'generic/1', name: 'sends a client connection preface', send: () => [], expect: 'alive' },
  { id: 'generic/2', name: 'GET request on stream 1', send: (p) => [p.req(1)], expect: responded(1) },
  { id: 'generic/3.1', name: 'DATA frames with padding', send: (p) => [p.req(1, { headers: POST, endStream: false }), f(T.DATA, F.PADDED | F.END_STREAM, 1, Buffer.concat([Buffer.from([4]), Buffer.from('body'), Buffer.alloc(4)]))], expect: responded(1) },
  { id: 'generic/3.2', name: 'HEADERS with priority and padding', send: (p) => [p.req(1, { padded: 3, priority: [0, 16] })], expect: responded(1) },
  { id: 'generic/3.3', name: 'PRIORITY frame on an idle stream', send: () => [W.priority(3, 0, 255)], expect: 'alive' },
  { id: 'generic/3.4', name: 'RST_STREAM on an open stream', send: (p) => [p.req(1, { endStream: false }), W.rstStream(1, E.CANCEL)], expect: 'alive' },
  { id: 'generic/3.5', name: 'SETTINGS with values', send: () => [W.settings([[S.HEADER_TABLE_SIZE, 1024], [S.MAX_CONCURRENT_STREAMS, 50], [S.INITIAL_WINDOW_SIZE, 100_000], [S.MAX_FRAME_SIZE, 20_000]])], expect: 'alive' },
  { id: 'generic/3.7', name: 'PING', send: () => [], expect: 'alive' },
  { id: 'generic/3.8', name: 'GOAWAY from the client', send: () => [W.goaway(0, E.NO_ERROR)], expect: (p) => assert.equal(p.conn.goawayReceived, 0) },
  { id: 'generic/3.9', name: 'WINDOW_UPDATE on the connection and a stream', send: (p) => [W.windowUpdate(0, 1), p.req(1, { endStream: false }), W.windowUpdate(1, 1)], expect: 'alive' },
  { id: 'generic/3.10', name: 'HEADERS followed by CONTINUATION frames', send: (p) => { const b = p.enc.encode(GET); return [f(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 2)), f(T.CONTINUATION, 0, 1, b.subarray(2, 4)), f(T.CONTINUATION, F.END_HEADERS, 1, b.subarray(4))]; }, expect: responded(1) },
  { id: 'generic/4.1', name: 'POST with a body', send: (p) => [p.req(1, { headers: [...POST, 'content-length', '4'], endStream: false }), data(1, 'body', F.END_STREAM)], expect: responded(1) },
  { id: 'generic/4.2', name: 'request with trailers', send: (p) => [p.req(1, { headers: POST, endStream: false }), data(1, 'body'), p.req(1, { headers: ['x-checksum', 'abc'] })], expect: responded(1) },
  { id: 'generic/5.1', name: 'HPACK: literal never indexed, size update, Huffman', send: (p) => [withPrefix(p, 1, Buffer.from('3f e1 1f'.replace(/ /g, ''), 'hex')), withRep(p, 3, Buffer.from('100870617373776f726406736563726574', 'hex'))], expect: (p) => { responded(1)(p); responded(3)(p); } },

  // http2/3.5: the connection preface.
  { id: 'http2/3.5/2', name: 'invalid connection preface', send: () => [], expect: (p) => {
    const q = new Peer();
    q.send(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.equal(q.goaway()?.payload.readUInt32BE(4), E.PROTOCOL_ERROR);
    void p;
  } },

  // http2/4.1-4.3: frame format, size, header compression.
  { id: 'http2/4.1/1', name: 'frame with an unknown type', send: () => [f(0x16, 0, 0, Buffer.from('unknown'))], expect: 'alive' },
  { id: 'http2/4.1/2', name: 'frame with undefined flags', send: () => [f(T.PING, 0x16, 0, Buffer.alloc(8))], expect: 'alive' },
  { id: 'http2/4.1/3', name: 'frame with the reserved stream id bit set', send: (p) => { const h = p.req(1); h[5]! |= 0x80; return [h]; }, expect: responded(1) },
  { id: 'http2/4.2/1', name: 'DATA frame of 2^14 octets', send: (p) => [p.req(1, { headers: POST, endStream: false }), f(T.DATA, F.END_STREAM, 1, Buffer.alloc(16_384))], expect: responded(1) },
  { id: 'http2/4.2/2', name: 'DATA frame above SETTINGS_MAX_FRAME_SIZE', send: (p) => [p.req(1, { headers: POST, endStream: false }), f(T.DATA, F.END_STREAM, 1, Buffer.alloc(16_385))], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/4.2/3', name: 'HEADERS frame above SETTINGS_MAX_FRAME_SIZE', send: (p) => [p.req(1, { headers: [...GET, 'x-big', 'Z'.repeat(16_400)] })], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/4.3/1', name: 'invalid header block fragment', send: () => [f(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, Buffer.from('00', 'hex'))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'http2/4.3/2', name: 'PRIORITY while sending a header block', send: (p) => [p.req(1, { endHeaders: false }), W.priority(1, 0, 16)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/4.3/3', name: 'HEADERS on another stream while sending a header block', send: (p) => [p.req(1, { endHeaders: false }), p.req(3)], expect: { conn: E.PROTOCOL_ERROR } },

  // http2/5.1: stream states.
  { id: 'http2/5.1/1', name: 'idle: DATA', send: () => [data(1, 'x')], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1/2', name: 'idle: RST_STREAM', send: () => [W.rstStream(1, E.CANCEL)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1/3', name: 'idle: WINDOW_UPDATE', send: () => [W.windowUpdate(1, 100)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1/4', name: 'idle: CONTINUATION', send: (p) => [cont(p, 1, F.END_HEADERS)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1/5', name: 'half closed (remote): DATA', send: (p) => [(p.respond = false, p.req(1)), data(1, 'x')], expect: { stream: 1, code: E.STREAM_CLOSED } },
  { id: 'http2/5.1/6', name: 'half closed (remote): HEADERS', send: (p) => [(p.respond = false, p.req(1)), p.req(1)], expect: { stream: 1, code: E.STREAM_CLOSED } },
  { id: 'http2/5.1/7', name: 'half closed (remote): CONTINUATION', send: (p) => [(p.respond = false, p.req(1)), cont(p, 1, F.END_HEADERS)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1/8', name: 'closed: DATA after RST_STREAM', send: (p) => [p.req(1, { endStream: false }), W.rstStream(1, E.CANCEL), data(1, 'x')], expect: { conn: E.STREAM_CLOSED } },
  { id: 'http2/5.1/9', name: 'closed: HEADERS after RST_STREAM', send: (p) => [p.req(1, { endStream: false }), W.rstStream(1, E.CANCEL), p.req(1)], expect: { conn: E.STREAM_CLOSED } },
  { id: 'http2/5.1/10', name: 'closed: CONTINUATION after RST_STREAM', send: (p) => [p.req(1, { endStream: false }), W.rstStream(1, E.CANCEL), cont(p, 1, F.END_HEADERS)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1/11', name: 'closed: DATA after END_STREAM', send: (p) => [p.req(1), data(1, 'x')], expect: { conn: E.STREAM_CLOSED } },
  { id: 'http2/5.1/12', name: 'closed: HEADERS after END_STREAM', send: (p) => [p.req(1), p.req(1)], expect: { conn: E.STREAM_CLOSED } },
  { id: 'http2/5.1/13', name: 'closed: CONTINUATION after END_STREAM', send: (p) => [p.req(1), cont(p, 1, F.END_HEADERS)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1.1/1', name: 'even-numbered stream id', send: (p) => [p.req(2)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1.1/2', name: 'stream id smaller than a previous one', send: (p) => [p.req(5), p.req(3)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/5.1.2/1', name: 'more streams than SETTINGS_MAX_CONCURRENT_STREAMS', send: (p) => { p.respond = false; return Array.from({ length: 101 }, (_, i) => p.req(1 + 2 * i, { endStream: false })); }, expect: { stream: 201, code: E.REFUSED_STREAM } },
  { id: 'http2/5.3.1/1', name: 'HEADERS depending on itself', send: (p) => [p.req(1, { priority: [1, 16] })], expect: { stream: 1, code: E.PROTOCOL_ERROR } },
  { id: 'http2/5.3.1/2', name: 'PRIORITY depending on itself', send: (p) => [p.req(1, { endStream: false }), W.priority(1, 1, 16)], expect: { stream: 1, code: E.PROTOCOL_ERROR } },
  { id: 'http2/5.4.1/1', name: 'invalid PING: connection error with GOAWAY', send: () => [f(T.PING, 0, 0, Buffer.alloc(6))], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/5.4.1/2', name: 'GOAWAY names the last stream processed', send: (p) => [p.req(1), p.req(3), f(T.PING, 0, 0, Buffer.alloc(6))], expect: (p) => assert.equal(p.goaway()?.payload.readUInt32BE(0), 3) },
  { id: 'http2/5.5/1', name: 'unknown extension frame', send: () => [f(0xff, 0xff, 0, Buffer.alloc(3))], expect: 'alive' },
  { id: 'http2/5.5/2', name: 'unknown extension frame inside a header block', send: (p) => [p.req(1, { endHeaders: false }), f(0xff, 0, 1, Buffer.alloc(3))], expect: { conn: E.PROTOCOL_ERROR } },

  // http2/6.x: frame definitions.
  { id: 'http2/6.1/1', name: 'DATA with stream id 0', send: () => [data(0, 'x')], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.1/2', name: 'DATA on a stream not open or half closed (local)', send: (p) => [(p.respond = false, p.req(1)), data(1, 'x')], expect: { stream: 1, code: E.STREAM_CLOSED } },
  { id: 'http2/6.1/3', name: 'DATA with an invalid pad length', send: (p) => [p.req(1, { endStream: false }), f(T.DATA, F.PADDED | F.END_STREAM, 1, Buffer.from([6, 1, 2, 3, 4, 5]))], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.2/1', name: 'HEADERS without END_HEADERS, then PRIORITY', send: (p) => [p.req(1, { endHeaders: false }), W.priority(1, 0, 1)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.2/2', name: 'HEADERS to another stream while sending a header block', send: (p) => [p.req(1, { endHeaders: false }), p.req(3)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.2/3', name: 'HEADERS with stream id 0', send: (p) => [p.req(0)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.2/4', name: 'HEADERS with an invalid pad length', send: (p) => { const h = p.req(1, { padded: 0 }); h[9] = 200; return [h]; }, expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.3/1', name: 'PRIORITY with stream id 0', send: () => [W.priority(0, 1, 16)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.3/2', name: 'PRIORITY with a length other than 5', send: (p) => [p.req(1, { endStream: false }), f(T.PRIORITY, 0, 1, Buffer.alloc(4))], expect: { stream: 1, code: E.FRAME_SIZE_ERROR } },
  { id: 'http2/6.4/1', name: 'RST_STREAM with stream id 0', send: () => [W.rstStream(0, E.CANCEL)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.4/2', name: 'RST_STREAM on an idle stream', send: () => [W.rstStream(1, E.CANCEL)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.4/3', name: 'RST_STREAM with a length other than 4', send: (p) => [p.req(1, { endStream: false }), f(T.RST_STREAM, 0, 1, Buffer.alloc(3))], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/6.5/1', name: 'SETTINGS ACK with a payload', send: () => [f(T.SETTINGS, F.ACK, 0, Buffer.alloc(6))], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/6.5/2', name: 'SETTINGS with a stream id', send: () => [f(T.SETTINGS, 0, 1, Buffer.alloc(0))], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.5/3', name: 'SETTINGS with a length not a multiple of 6', send: () => [f(T.SETTINGS, 0, 0, Buffer.alloc(3))], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/6.5.2/1', name: 'SETTINGS_ENABLE_PUSH of 2', send: () => [W.settings([[S.ENABLE_PUSH, 2]])], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.5.2/2', name: 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1', send: () => [W.settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31]])], expect: { conn: E.FLOW_CONTROL_ERROR } },
  { id: 'http2/6.5.2/3', name: 'SETTINGS_MAX_FRAME_SIZE below 2^14', send: () => [W.settings([[S.MAX_FRAME_SIZE, 16_383]])], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.5.2/4', name: 'SETTINGS_MAX_FRAME_SIZE above 2^24-1', send: () => [W.settings([[S.MAX_FRAME_SIZE, 2 ** 24]])], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.5.2/5', name: 'SETTINGS with an unknown identifier', send: () => [W.settings([[0xff, 1]])], expect: (p) => { assert.ok(p.frames.some((x) => x.type === T.SETTINGS && x.flags & F.ACK)); assert.ok(p.alive()); } },
  { id: 'http2/6.5.3/1', name: 'several SETTINGS_INITIAL_WINDOW_SIZE values: the last wins', send: (p) => [W.settings([[S.INITIAL_WINDOW_SIZE, 100], [S.INITIAL_WINDOW_SIZE, 1]]), p.req(1)], expect: (p) => assert.equal(p.dataOn(1).toString(), 'h') },
  { id: 'http2/6.5.3/2', name: 'SETTINGS without ACK is acknowledged', send: () => [W.settings([[S.MAX_CONCURRENT_STREAMS, 10]])], expect: (p) => assert.ok(p.frames.some((x) => x.type === T.SETTINGS && x.flags & F.ACK && x.payload.length === 0)) },
  { id: 'http2/6.7/1', name: 'PING is answered with the same payload', send: () => [], expect: 'alive' },
  { id: 'http2/6.7/2', name: 'PING with ACK is not answered', send: () => [W.ping(Buffer.from('12345678'), true)], expect: (p) => assert.equal(p.frames.length, 0) },
  { id: 'http2/6.7/3', name: 'PING with a stream id', send: () => [f(T.PING, 0, 1, Buffer.alloc(8))], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.7/4', name: 'PING with a length other than 8', send: () => [f(T.PING, 0, 0, Buffer.alloc(6))], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/6.8/1', name: 'GOAWAY with a stream id', send: () => [f(T.GOAWAY, 0, 1, u32(0, 0))], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.9/1', name: 'WINDOW_UPDATE of 0 on the connection', send: () => [W.windowUpdate(0, 0)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.9/2', name: 'WINDOW_UPDATE of 0 on a stream', send: (p) => [p.req(1, { endStream: false }), W.windowUpdate(1, 0)], expect: { stream: 1, code: E.PROTOCOL_ERROR } },
  { id: 'http2/6.9/3', name: 'WINDOW_UPDATE with a length other than 4', send: () => [f(T.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))], expect: { conn: E.FRAME_SIZE_ERROR } },
  { id: 'http2/6.9.1/1', name: 'initial window of 1: one byte of DATA', settings: [[S.INITIAL_WINDOW_SIZE, 1]], send: (p) => [p.req(1)], expect: (p) => assert.equal(p.dataOn(1).toString(), 'h') },
  { id: 'http2/6.9.1/2', name: 'WINDOW_UPDATE pushes the connection window above 2^31-1', send: () => [W.windowUpdate(0, 2 ** 31 - 1)], expect: { conn: E.FLOW_CONTROL_ERROR } },
  { id: 'http2/6.9.1/3', name: 'WINDOW_UPDATE pushes a stream window above 2^31-1', send: (p) => [p.req(1, { endStream: false }), W.windowUpdate(1, 2 ** 31 - 1)], expect: { stream: 1, code: E.FLOW_CONTROL_ERROR } },
  { id: 'http2/6.9.2/1', name: 'SETTINGS_INITIAL_WINDOW_SIZE changed after HEADERS', settings: [[S.INITIAL_WINDOW_SIZE, 0]], send: (p) => [p.req(1), W.settings([[S.INITIAL_WINDOW_SIZE, 3]])], expect: (p) => assert.equal(p.dataOn(1).toString(), 'hel') },
  { id: 'http2/6.9.2/2', name: 'a negative window, then WINDOW_UPDATE', settings: [[S.INITIAL_WINDOW_SIZE, 5]], send: (p) => [p.req(1), W.settings([[S.INITIAL_WINDOW_SIZE, 3]]), W.windowUpdate(1, 2), W.windowUpdate(1, 1)], expect: (p) => { assert.equal(p.dataOn(1).toString(), 'hello '); assert.equal(p.conn.sendWindowOf(1), 0); } },
  { id: 'http2/6.9.2/3', name: 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 after streams opened', send: (p) => [p.req(1, { endStream: false }), W.settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31]])], expect: { conn: E.FLOW_CONTROL_ERROR } },
  { id: 'http2/6.10/1', name: 'several CONTINUATION frames after HEADERS', send: (p) => { const b = p.enc.encode(GET); return [f(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 1)), ...[...b.subarray(1)].map((x, i, all) => f(T.CONTINUATION, i === all.length - 1 ? F.END_HEADERS : 0, 1, Buffer.from([x])))]; }, expect: responded(1) },
  { id: 'http2/6.10/2', name: 'CONTINUATION followed by a non-CONTINUATION frame', send: (p) => { const b = p.enc.encode(GET); return [f(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 2)), f(T.CONTINUATION, 0, 1, b.subarray(2)), data(1, 'x')]; }, expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.10/3', name: 'CONTINUATION with stream id 0', send: (p) => { const b = p.enc.encode(GET); return [f(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 2)), f(T.CONTINUATION, F.END_HEADERS, 0, b.subarray(2))]; }, expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.10/4', name: 'CONTINUATION after HEADERS with END_HEADERS', send: (p) => [p.req(1, { endStream: false }), cont(p, 1, F.END_HEADERS)], expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.10/5', name: 'CONTINUATION after CONTINUATION with END_HEADERS', send: (p) => { const b = p.enc.encode(GET); return [f(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 2)), f(T.CONTINUATION, F.END_HEADERS, 1, b.subarray(2)), f(T.CONTINUATION, F.END_HEADERS, 1, Buffer.alloc(0))]; }, expect: { conn: E.PROTOCOL_ERROR } },
  { id: 'http2/6.10/6', name: 'CONTINUATION after DATA', send: (p) => [p.req(1, { headers: POST, endStream: false }), data(1, 'x'), cont(p, 1, F.END_HEADERS)], expect: { conn: E.PROTOCOL_ERROR } },

  // http2/7, 8: error codes and HTTP message exchanges.
  { id: 'http2/7/1', name: 'GOAWAY with an unknown error code', send: () => [W.goaway(0, 0xff)], expect: (p) => assert.equal(p.goaway(), undefined) },
  { id: 'http2/7/2', name: 'RST_STREAM with an unknown error code', send: (p) => [p.req(1, { endStream: false }), W.rstStream(1, 0xff)], expect: 'alive' },
  { id: 'http2/8.1/1', name: 'second HEADERS without END_STREAM', send: (p) => [p.req(1, { headers: POST, endStream: false }), p.req(1, { headers: ['x-trailer', '1'], endStream: false })], expect: { stream: 1, code: E.PROTOCOL_ERROR } },
  { id: 'http2/8.1.2/1', name: 'uppercase field name', ...malformed([...GET, 'X-Upper', 'a']) },
  { id: 'http2/8.1.2.1/1', name: 'unknown pseudo-header', ...malformed([...GET, ':unknown', 'a']) },
  { id: 'http2/8.1.2.1/2', name: 'response pseudo-header in a request', ...malformed([...GET, ':status', '200']) },
  { id: 'http2/8.1.2.1/3', name: 'pseudo-header in trailers', send: (p) => [p.req(1, { headers: POST, endStream: false }), data(1, 'x'), p.req(1, { headers: [':method', 'POST'] })], expect: { stream: 1, code: E.PROTOCOL_ERROR } },
  { id: 'http2/8.1.2.1/4', name: 'pseudo-header after a regular field', ...malformed([':method', 'GET', ':scheme', 'http', 'x-a', 'b', ':path', '/']) },
  { id: 'http2/8.1.2.2/1', name: 'connection-specific field', ...malformed([...GET, 'connection', 'keep-alive']) },
  { id: 'http2/8.1.2.2/2', name: 'TE other than trailers', ...malformed([...GET, 'te', 'trailers, deflate']) },
  { id: 'http2/8.1.2.3/1', name: 'empty :path', ...malformed([':method', 'GET', ':scheme', 'http', ':path', '']) },
  { id: 'http2/8.1.2.3/2', name: 'missing :method', ...malformed([':scheme', 'http', ':path', '/']) },
  { id: 'http2/8.1.2.3/3', name: 'missing :scheme', ...malformed([':method', 'GET', ':path', '/']) },
  { id: 'http2/8.1.2.3/4', name: 'missing :path', ...malformed([':method', 'GET', ':scheme', 'http']) },
  { id: 'http2/8.1.2.3/5', name: 'duplicate :method', ...malformed([...GET, ':method', 'POST']) },
  { id: 'http2/8.1.2.3/6', name: 'duplicate :scheme', ...malformed([':method', 'GET', ':scheme', 'http', ':scheme', 'https', ':path', '/']) },
  { id: 'http2/8.1.2.3/7', name: 'duplicate :path', ...malformed([':method', 'GET', ':scheme', 'http', ':path', '/', ':path', '/']) },
  { id: 'http2/8.1.2.6/1', name: 'content-length differs from one DATA frame', send: (p) => [p.req(1, { headers: [...POST, 'content-length', '1'], endStream: false }), data(1, 'test', F.END_STREAM)], expect: { stream: 1, code: E.PROTOCOL_ERROR } },
  { id: 'http2/8.1.2.6/2', name: 'content-length differs from several DATA frames', send: (p) => [p.req(1, { headers: [...POST, 'content-length', '1'], endStream: false }), data(1, 'te'), data(1, 'st', F.END_STREAM)], expect: { stream: 1, code: E.PROTOCOL_ERROR } },
  { id: 'http2/8.2/1', name: 'PUSH_PROMISE from a client', send: (p) => [p.req(1, { endStream: false }), f(T.PUSH_PROMISE, F.END_HEADERS, 1, Buffer.concat([u32(2), p.enc.encode(GET)]))], expect: { conn: E.PROTOCOL_ERROR } },

  // hpack: RFC 7541 decoding errors, each a connection error COMPRESSION_ERROR.
  { id: 'hpack/2.3.3/1', name: 'indexed field with an index past both tables', send: (p) => [withRep(p, 1, Buffer.from([0x80 | 70]))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'hpack/2.3.3/2', name: 'literal with a name index past both tables', send: (p) => [withRep(p, 1, Buffer.from([0x40 | 0x3f, 30, 0x01, 0x61]))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'hpack/4.2/1', name: 'dynamic table size update at the end of a header block', send: (p) => [withRep(p, 1, Buffer.from([0x20]))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'hpack/5.2/1', name: 'Huffman string with padding longer than 7 bits', send: (p) => [withRep(p, 1, huffmanLiteral('1fff'))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'hpack/5.2/2', name: 'Huffman string padded by zero', send: (p) => [withRep(p, 1, huffmanLiteral('00'))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'hpack/5.2/3', name: 'Huffman string containing the EOS symbol', send: (p) => [withRep(p, 1, huffmanLiteral('ffffffff'))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'hpack/6.1/1', name: 'indexed field with index 0', send: (p) => [withRep(p, 1, Buffer.from([0x80]))], expect: { conn: E.COMPRESSION_ERROR } },
  { id: 'hpack/6.3/1', name: 'dynamic table size update above SETTINGS_HEADER_TABLE_SIZE', send: (p) => [withPrefix(p, 1, Buffer.from('3fe21f', 'hex'))], expect: { conn: E.COMPRESSION_ERROR } },
];

for (const row of ROWS) {
  test(`${row.id} ${row.name}`, () => {
    const p = new Peer().handshake(row.settings);
    p.send(...row.send(p));
    const e = row.expect;
    if (e === 'alive') assert.ok(p.alive(), 'the connection answers a PING');
    else if (typeof e === 'function') e(p);
    else if ('conn' in e) {
      const g = p.goaway();
      assert.equal(codeName(g?.payload.readUInt32BE(4)), codeName(e.conn), 'GOAWAY code');
      assert.ok(p.conn.closed);
      assert.equal(p.alive(), false);
    } else {
      const r = p.rst(e.stream);
      assert.equal(codeName(r?.payload.readUInt32BE(0)), codeName(e.code), `RST_STREAM on ${e.stream}`);
      assert.equal(p.goaway(), undefined, 'no connection error');
      assert.ok(p.alive(), 'the connection goes on');
    }
  });
}
