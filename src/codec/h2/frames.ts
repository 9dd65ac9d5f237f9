// Incremental HTTP/2 frame reader (RFC 9113 §4, §6): bytes in as they arrive, typed frames out. Checks
// everything a frame can be judged on alone or with the header block in progress: size against
// SETTINGS_MAX_FRAME_SIZE, stream id rules per type, padding, fixed lengths, SETTINGS values,
// WINDOW_UPDATE increments, CONTINUATION sequencing and the header block size guard. Payloads are views
// of the received chunks where a frame lies within one chunk. Stream states are the connection's job.

import {
  connError, E, F, FRAME_HEADER, type H2Error, MAX_MAX_FRAME_SIZE, MAX_WINDOW, MIN_MAX_FRAME_SIZE, PREFACE, S,
  streamError, T,
} from './constants';

export interface Priority {
  readonly dependency: number;
  readonly exclusive: boolean;
  readonly weight: number;
}

export type Frame =
  | { readonly type: typeof T.DATA; readonly stream: number; readonly data: Buffer; readonly endStream: boolean; readonly flowLength: number }
  | {
      readonly type: typeof T.HEADERS;
      readonly stream: number;
      readonly block: Buffer;
      readonly endStream: boolean;
      readonly priority: Priority | undefined;
      /** CONTINUATION frames that carried the rest of the block. */
      readonly continuations: number;
    }
  | { readonly type: typeof T.PRIORITY; readonly stream: number; readonly priority: Priority }
  | { readonly type: typeof T.RST_STREAM; readonly stream: number; readonly code: number }
  | { readonly type: typeof T.SETTINGS; readonly stream: 0; readonly ack: boolean; readonly settings: readonly (readonly [number, number])[] }
  | { readonly type: typeof T.PUSH_PROMISE; readonly stream: number; readonly promised: number; readonly block: Buffer }
  | { readonly type: typeof T.PING; readonly stream: 0; readonly ack: boolean; readonly data: Buffer }
  | { readonly type: typeof T.GOAWAY; readonly stream: 0; readonly lastStream: number; readonly code: number; readonly debug: Buffer }
  | { readonly type: typeof T.WINDOW_UPDATE; readonly stream: number; readonly increment: number };

export interface ReaderOptions {
  /** Expect the client connection preface first (servers). */
  readonly preface?: boolean;
  /** SETTINGS_MAX_FRAME_SIZE this side advertises. */
  readonly maxFrameSize?: number;
  /** Largest header block (HEADERS + CONTINUATION payloads) accepted: the CONTINUATION flood guard. */
  readonly maxHeaderBlock?: number;
  /** Most CONTINUATION frames in one header block. */
  readonly maxContinuations?: number;
}

/** Result of next(): a frame, an error (stream !== 0: stream error, reading goes on), or undefined: need bytes. */
export type ReadResult = Frame | H2Error | undefined;

export const isError = (r: Frame | H2Error): r is H2Error => (r as H2Error).reason !== undefined;

/** Validates one SETTINGS parameter (§6.5.2); an error or undefined. */
export function checkSetting(id: number, value: number): H2Error | undefined {
  if (id === S.ENABLE_PUSH && value > 1) return connError(E.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1');
  if (id === S.INITIAL_WINDOW_SIZE && value > MAX_WINDOW) return connError(E.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
  if (id === S.MAX_FRAME_SIZE && (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE)) return connError(E.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
  return undefined;
}

export class FrameReader {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed (read in place: no view is made per frame head). */
  private off = 0;
  private buffered = 0;
  private prefaceDue: boolean;
  maxFrameSize: number;
  private readonly maxHeaderBlock: number;
  private readonly maxContinuations: number;
  /** Header block in progress: its stream (0: none), first frame and fragments. */
  private blockStream = 0;
  private blockFirst: Frame | undefined;
  private blockParts: Buffer[] = [];
  private blockBytes = 0;
  private blockFrames = 0;
  /** Set after a connection error: nothing more is read. */
  failed = false;

  constructor(options: ReaderOptions = {}) {
    this.prefaceDue = options.preface ?? false;
    this.maxFrameSize = options.maxFrameSize ?? MIN_MAX_FRAME_SIZE;
    this.maxHeaderBlock = options.maxHeaderBlock ?? 256 * 1024;
    this.maxContinuations = options.maxContinuations ?? 256;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame or error, or undefined until more bytes arrive. */
  next(): ReadResult {
    for (;;) {
      if (this.failed) return undefined;
      if (this.prefaceDue) {
        if (this.buffered < PREFACE.length) {
          // Fail early on a wrong prefix, so an HTTP/1 request does not hang.
          const have = this.peek(this.buffered);
          return have.equals(PREFACE.subarray(0, have.length)) ? undefined : this.fail(connError(E.PROTOCOL_ERROR, 'invalid connection preface'));
        }
        if (!this.take(PREFACE.length).equals(PREFACE)) return this.fail(connError(E.PROTOCOL_ERROR, 'invalid connection preface'));
        this.prefaceDue = false;
      }
      if (this.buffered < FRAME_HEADER) return undefined;
      // The head is read in place when the first chunk holds it (the usual case), else from a copy.
      const first = this.chunks[0]!;
      const inPlace = first.length - this.off >= FRAME_HEADER;
      const head = inPlace ? first : this.peek(FRAME_HEADER);
      const o = inPlace ? this.off : 0;
      const length = (head[o]! << 16) | (head[o + 1]! << 8) | head[o + 2]!;
      const type = head[o + 3]!;
      const flags = head[o + 4]!;
      const stream = ((head[o + 5]! & 0x7f) << 24) | (head[o + 6]! << 16) | (head[o + 7]! << 8) | head[o + 8]!;
      if (length > this.maxFrameSize) return this.fail(connError(E.FRAME_SIZE_ERROR, `frame of ${length} bytes above SETTINGS_MAX_FRAME_SIZE`));
      if (this.buffered < FRAME_HEADER + length) return undefined;
      this.skip(FRAME_HEADER);
      const payload = this.take(length);
      const r = this.frame(type, flags, stream, payload);
      if (r !== undefined) return r;
    }
  }

  private fail(e: H2Error): H2Error {
    this.failed = true;
    this.chunks = [];
    this.off = 0;
    this.buffered = 0;
    return e;
  }

  /** Interprets one frame; undefined for frames that yield nothing (unknown types, partial header blocks). */
  private frame(type: number, flags: number, stream: number, p: Buffer): ReadResult {
    if (this.blockStream !== 0) {
      if (type !== T.CONTINUATION) return this.fail(connError(E.PROTOCOL_ERROR, 'header block interrupted by another frame'));
      if (stream !== this.blockStream) return this.fail(connError(E.PROTOCOL_ERROR, 'CONTINUATION on another stream'));
      this.blockFrames++;
      this.blockBytes += p.length;
      if (this.blockBytes > this.maxHeaderBlock || this.blockFrames > this.maxContinuations) {
        return this.fail(connError(E.ENHANCE_YOUR_CALM, 'header block too large (CONTINUATION flood)'));
      }
      this.blockParts.push(p);
      return flags & F.END_HEADERS ? this.endBlock() : undefined;
    }
    switch (type) {
      case T.DATA: {
        if (stream === 0) return this.fail(connError(E.PROTOCOL_ERROR, 'DATA on stream 0'));
        const data = this.unpad(flags, p, 0);
        if (data === undefined) return this.fail(connError(E.PROTOCOL_ERROR, 'DATA padding exceeds the payload'));
        return { type: T.DATA, stream, data, endStream: (flags & F.END_STREAM) !== 0, flowLength: p.length };
      }
      case T.HEADERS: {
        if (stream === 0) return this.fail(connError(E.PROTOCOL_ERROR, 'HEADERS on stream 0'));
        const prio = flags & F.PRIORITY ? 5 : 0;
        const frag = this.unpad(flags, p, prio);
        if (frag === undefined) return this.fail(connError(E.PROTOCOL_ERROR, 'HEADERS padding exceeds the payload'));
        const priority = prio ? readPriority(p, flags & F.PADDED ? 1 : 0) : undefined;
        const frame: Frame = { type: T.HEADERS, stream, block: frag, endStream: (flags & F.END_STREAM) !== 0, priority, continuations: 0 };
        return this.startBlock(frame, flags, frag);
      }
      case T.PRIORITY: {
        if (stream === 0) return this.fail(connError(E.PROTOCOL_ERROR, 'PRIORITY on stream 0'));
        if (p.length !== 5) return streamError(stream, E.FRAME_SIZE_ERROR, 'PRIORITY length not 5');
        const priority = readPriority(p, 0);
        if (priority.dependency === stream) return streamError(stream, E.PROTOCOL_ERROR, 'stream depends on itself');
        return { type: T.PRIORITY, stream, priority };
      }
      case T.RST_STREAM:
        if (stream === 0) return this.fail(connError(E.PROTOCOL_ERROR, 'RST_STREAM on stream 0'));
        if (p.length !== 4) return this.fail(connError(E.FRAME_SIZE_ERROR, 'RST_STREAM length not 4'));
        return { type: T.RST_STREAM, stream, code: p.readUInt32BE(0) };
      case T.SETTINGS: {
        if (stream !== 0) return this.fail(connError(E.PROTOCOL_ERROR, 'SETTINGS on a stream'));
        const ack = (flags & F.ACK) !== 0;
        if (ack && p.length !== 0) return this.fail(connError(E.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload'));
        if (p.length % 6 !== 0) return this.fail(connError(E.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6'));
        const settings: [number, number][] = [];
        for (let at = 0; at < p.length; at += 6) {
          const id = p.readUInt16BE(at);
          const value = p.readUInt32BE(at + 2);
          const bad = checkSetting(id, value);
          if (bad) return this.fail(bad);
          settings.push([id, value]);
        }
        return { type: T.SETTINGS, stream: 0, ack, settings };
      }
      case T.PUSH_PROMISE: {
        if (stream === 0) return this.fail(connError(E.PROTOCOL_ERROR, 'PUSH_PROMISE on stream 0'));
        const frag = this.unpad(flags, p, 4);
        if (frag === undefined) return this.fail(connError(E.PROTOCOL_ERROR, 'PUSH_PROMISE padding exceeds the payload'));
        const promised = p.readUInt32BE(flags & F.PADDED ? 1 : 0) & 0x7fffffff;
        return this.startBlock({ type: T.PUSH_PROMISE, stream, promised, block: frag }, flags, frag);
      }
      case T.PING:
        if (stream !== 0) return this.fail(connError(E.PROTOCOL_ERROR, 'PING on a stream'));
        if (p.length !== 8) return this.fail(connError(E.FRAME_SIZE_ERROR, 'PING length not 8'));
        return { type: T.PING, stream: 0, ack: (flags & F.ACK) !== 0, data: p };
      case T.GOAWAY:
        if (stream !== 0) return this.fail(connError(E.PROTOCOL_ERROR, 'GOAWAY on a stream'));
        if (p.length < 8) return this.fail(connError(E.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8'));
        return { type: T.GOAWAY, stream: 0, lastStream: p.readUInt32BE(0) & 0x7fffffff, code: p.readUInt32BE(4), debug: p.subarray(8) };
      case T.WINDOW_UPDATE: {
        if (p.length !== 4) return this.fail(connError(E.FRAME_SIZE_ERROR, 'WINDOW_UPDATE length not 4'));
        const increment = p.readUInt32BE(0) & 0x7fffffff;
        if (increment === 0) {
          if (stream === 0) return this.fail(connError(E.PROTOCOL_ERROR, 'WINDOW_UPDATE with increment 0'));
          return streamError(stream, E.PROTOCOL_ERROR, 'WINDOW_UPDATE with increment 0');
        }
        return { type: T.WINDOW_UPDATE, stream, increment };
      }
      case T.CONTINUATION:
        return this.fail(connError(E.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress'));
      default:
        return undefined; // Unknown frame types are ignored (§4.1, §5.5).
    }
  }

  private startBlock(frame: Frame, flags: number, frag: Buffer): ReadResult {
    if (frag.length > this.maxHeaderBlock) return this.fail(connError(E.ENHANCE_YOUR_CALM, 'header block too large'));
    if (flags & F.END_HEADERS) return frame;
    this.blockStream = frame.stream;
    this.blockFirst = frame;
    this.blockParts = [frag];
    this.blockBytes = frag.length;
    this.blockFrames = 0;
    return undefined;
  }

  private endBlock(): Frame {
    const first = this.blockFirst!;
    const block = Buffer.concat(this.blockParts, this.blockBytes);
    const continuations = this.blockFrames;
    this.blockStream = 0;
    this.blockFirst = undefined;
    this.blockParts = [];
    return first.type === T.HEADERS ? { ...first, block, continuations } : { ...(first as Extract<Frame, { type: 5 }>), block };
  }

  /** The payload without padding (and without SKIP bytes of fixed fields after the pad length). */
  private unpad(flags: number, p: Buffer, skip: number): Buffer | undefined {
    if (!(flags & F.PADDED)) return p.length < skip ? undefined : skip === 0 ? p : p.subarray(skip);
    if (p.length < 1 + skip) return undefined;
    const pad = p[0]!;
    if (pad + 1 + skip > p.length) return undefined;
    return p.subarray(1 + skip, p.length - pad);
  }

  /** First N buffered bytes without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.off >= n) return first.subarray(this.off, this.off + n);
    const out = Buffer.allocUnsafe(n);
    let at = first.copy(out, 0, this.off);
    for (let i = 1; at < n; i++) {
      const c = this.chunks[i]!;
      at += c.copy(out, at, 0, Math.min(c.length, n - at));
    }
    return out;
  }

  /** Consumes N buffered bytes without looking at them. */
  private skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const left = c.length - this.off;
      if (left > n) {
        this.off += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.off = 0;
    }
  }

  /** Consumes N buffered bytes: a view when they lie in one chunk. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return EMPTY;
    this.buffered -= n;
    const off = this.off;
    const left = first.length - off;
    if (left > n) {
      this.off = off + n;
      return first.subarray(off, off + n);
    }
    if (left === n) {
      this.chunks.shift();
      this.off = 0;
      return off === 0 ? first : first.subarray(off);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const from = this.off;
      const k = Math.min(c.length - from, n - at);
      c.copy(out, at, from, from + k);
      at += k;
      if (from + k === c.length) {
        this.chunks.shift();
        this.off = 0;
      } else this.off = from + k;
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

function readPriority(p: Buffer, at: number): Priority {
  const dep = p.readUInt32BE(at);
  return { dependency: dep & 0x7fffffff, exclusive: (dep & 0x80000000) !== 0, weight: p[at + 4]! + 1 };
}
