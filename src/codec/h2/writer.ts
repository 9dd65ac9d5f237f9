// HTTP/2 frame writer (RFC 9113 §6): each function returns bytes ready for the socket. DATA returns its
// 9-byte head and the payload itself (no copy); a header block is split into HEADERS + CONTINUATION
// frames of at most the peer's SETTINGS_MAX_FRAME_SIZE, in one allocation.

import { F, FRAME_HEADER, PREFACE, T } from './constants';

export function writeHead(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): number {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream >>> 0, at + 5);
  return at + FRAME_HEADER;
}

/** Any frame, payload copied (tests and rare frames). */
export function frame(type: number, flags: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  writeHead(out, 0, payload.length, type, flags, stream);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** The 9-byte head of a DATA frame carrying LENGTH bytes; the payload follows it on the wire as is. */
export function dataHead(stream: number, length: number, endStream: boolean): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER);
  writeHead(out, 0, length, T.DATA, endStream ? F.END_STREAM : 0, stream);
  return out;
}

/** HEADERS (+ CONTINUATION frames) carrying BLOCK, each payload at most MAXFRAME bytes. */
export function headers(stream: number, block: Uint8Array, endStream: boolean, maxFrame: number): Buffer {
  const frames = Math.max(1, Math.ceil(block.length / maxFrame));
  const out = Buffer.allocUnsafe(block.length + frames * FRAME_HEADER);
  let at = 0;
  for (let i = 0, from = 0; i < frames; i++) {
    const len = Math.min(maxFrame, block.length - from);
    const last = i === frames - 1;
    let flags = last ? F.END_HEADERS : 0;
    if (i === 0 && endStream) flags |= F.END_STREAM;
    at = writeHead(out, at, len, i === 0 ? T.HEADERS : T.CONTINUATION, flags, stream);
    out.set(block.subarray(from, from + len), at);
    at += len;
    from += len;
  }
  return out;
}

/** SETTINGS with [identifier, value] pairs. */
export function settings(values: readonly (readonly [number, number])[]): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 6 * values.length);
  let at = writeHead(out, 0, 6 * values.length, T.SETTINGS, 0, 0);
  for (const [id, value] of values) {
    out.writeUInt16BE(id, at);
    out.writeUInt32BE(value >>> 0, at + 2);
    at += 6;
  }
  return out;
}

const SETTINGS_ACK = frame(T.SETTINGS, F.ACK, 0);
export const settingsAck = (): Buffer => SETTINGS_ACK;

export function ping(data: Uint8Array, ack: boolean): Buffer {
  const out = Buffer.alloc(FRAME_HEADER + 8);
  writeHead(out, 0, 8, T.PING, ack ? F.ACK : 0, 0);
  out.set(data.subarray(0, 8), FRAME_HEADER);
  return out;
}

export function goaway(lastStream: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const out = Buffer.allocUnsafe(FRAME_HEADER + 8 + text.length);
  writeHead(out, 0, 8 + text.length, T.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStream, FRAME_HEADER);
  out.writeUInt32BE(code >>> 0, FRAME_HEADER + 4);
  text.copy(out, FRAME_HEADER + 8);
  return out;
}

export function rstStream(stream: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeHead(out, 0, 4, T.RST_STREAM, 0, stream);
  out.writeUInt32BE(code >>> 0, FRAME_HEADER);
  return out;
}

export function windowUpdate(stream: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeHead(out, 0, 4, T.WINDOW_UPDATE, 0, stream);
  out.writeUInt32BE(increment, FRAME_HEADER);
  return out;
}

export function priority(stream: number, dependency: number, weight: number, exclusive = false): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 5);
  writeHead(out, 0, 5, T.PRIORITY, 0, stream);
  out.writeUInt32BE((dependency | (exclusive ? 0x80000000 : 0)) >>> 0, FRAME_HEADER);
  out[FRAME_HEADER + 4] = weight - 1;
  return out;
}

export { PREFACE };
