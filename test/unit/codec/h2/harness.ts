// Drives one side of the codec's HTTP/2 connection with raw bytes, as a conformance tester does: frames
// in, frames out, with a minimal application that answers each complete request with 200 and a body.
import assert from 'node:assert/strict';
import { E, F, PREFACE, T } from '../../../../src/codec/h2/constants';
import { type ConnectionOptions, H2Connection, type H2Event } from '../../../../src/codec/h2/connection';
import { HpackEncoder } from '../../../../src/codec/h2/hpack';
import * as W from '../../../../src/codec/h2/writer';

export interface RawFrame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

/** Splits written bytes into frames (no checks: this reads what the codec wrote). */
export function parseFrames(bytes: Buffer): RawFrame[] {
  const out: RawFrame[] = [];
  let at = bytes.subarray(0, PREFACE.length).equals(PREFACE) ? PREFACE.length : 0;
  while (at + 9 <= bytes.length) {
    const len = bytes.readUIntBE(at, 3);
    out.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, stream: bytes.readUInt32BE(at + 5) & 0x7fffffff, payload: bytes.subarray(at + 9, at + 9 + len) });
    at += 9 + len;
  }
  return out;
}

export const GET = [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'example.test'];
export const POST = [':method', 'POST', ':scheme', 'http', ':path', '/upload', ':authority', 'example.test'];

export interface ReqOptions {
  readonly endStream?: boolean;
  readonly endHeaders?: boolean;
  readonly headers?: readonly string[];
  readonly padded?: number;
  readonly priority?: readonly [number, number];
  readonly flags?: number;
}

/** The client side of a server under test: it writes frames by hand and reads what the server answers. */
export class Peer {
  readonly conn: H2Connection;
  readonly enc = new HpackEncoder();
  events: H2Event[] = [];
  frames: RawFrame[] = [];
  /** Body of the 200 answer the application sends once a request is complete. */
  body = Buffer.from('hello world');
  respond = true;
  private clock = 0;

  constructor(options: Partial<ConnectionOptions> = {}) {
    this.conn = new H2Connection({ role: 'server', now: () => this.clock, ...options });
  }

  tick(ms: number): void {
    this.clock += ms;
  }

  /** Client preface + SETTINGS, the server's SETTINGS acknowledged; output so far dropped. */
  handshake(settings: [number, number][] = []): this {
    this.send(Buffer.concat([PREFACE, W.settings(settings), W.settingsAck()]));
    assert.ok(this.frames.some((f) => f.type === T.SETTINGS && !(f.flags & F.ACK)), 'server SETTINGS');
    assert.ok(this.frames.some((f) => f.type === T.SETTINGS && f.flags & F.ACK), 'SETTINGS ACK');
    this.frames = [];
    this.events = [];
    return this;
  }

  /** A HEADERS frame with a request (or the given list), encoded with this peer's encoder. */
  req(stream: number, o: ReqOptions = {}): Buffer {
    const block = this.enc.encode(o.headers ?? GET);
    let flags = (o.endStream ?? true ? F.END_STREAM : 0) | (o.endHeaders ?? true ? F.END_HEADERS : 0) | (o.flags ?? 0);
    const parts: Buffer[] = [];
    if (o.padded !== undefined) {
      flags |= F.PADDED;
      parts.push(Buffer.from([o.padded]));
    }
    if (o.priority) {
      flags |= F.PRIORITY;
      const p = Buffer.alloc(5);
      p.writeUInt32BE(o.priority[0]);
      p[4] = o.priority[1] - 1;
      parts.push(p);
    }
    parts.push(block);
    if (o.padded) parts.push(Buffer.alloc(o.padded));
    return W.frame(T.HEADERS, flags, stream, Buffer.concat(parts));
  }

  /** Feeds bytes (each buffer as one read), runs the application, collects the server's frames. */
  send(...chunks: Buffer[]): this {
    for (const c of chunks) {
      const events = this.conn.receive(c);
      this.events.push(...events);
      for (const e of events) this.app(e);
      this.collect();
    }
    return this;
  }

  collect(): void {
    this.events.push(...this.conn.takeEvents());
    const out = this.conn.takeOutput();
    if (out.length) this.frames.push(...parseFrames(Buffer.concat(out)));
  }

  private app(e: H2Event): void {
    if (!this.respond) return;
    if ((e.kind === 'headers' || e.kind === 'data') && e.endStream) {
      this.conn.sendHeaders(e.stream, [':status', '200', 'content-type', 'text/plain'], false);
      this.conn.sendData(e.stream, this.body, true);
    }
  }

  goaway(): RawFrame | undefined {
    return this.frames.find((f) => f.type === T.GOAWAY);
  }

  rst(stream?: number): RawFrame | undefined {
    return this.frames.find((f) => f.type === T.RST_STREAM && (stream === undefined || f.stream === stream));
  }

  /** Whether the connection still answers a PING (and nothing failed meanwhile). */
  alive(): boolean {
    const data = Buffer.from('h2-alive');
    this.send(W.ping(data, false));
    return this.frames.some((f) => f.type === T.PING && f.flags & F.ACK && f.payload.equals(data)) && !this.goaway();
  }

  dataOn(stream: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === T.DATA && f.stream === stream).map((f) => f.payload));
  }

  responded(stream: number): boolean {
    return this.frames.some((f) => f.type === T.HEADERS && f.stream === stream);
  }
}

export const u32 = (...v: number[]): Buffer => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
  return b;
};

export const codeName = (code: number | undefined): string =>
  code === undefined ? 'none' : (Object.entries(E).find(([, v]) => v === code)?.[0] ?? `0x${code.toString(16)}`);
