// Chunked transfer coding (RFC 9112 7.1), tracked byte by byte so the proxy can pass a chunked body
// through unmodified and still know where it ends, how many data bytes it carried, and whether it
// is well-formed. Pure and incremental: any split of the input gives the same result. An upstream
// response decoder may also keep the trailer section (keepTrailers) to hand the fields on.

const CR = 13;
const LF = 10;

const S_SIZE = 0; // first hex digit of a chunk size
const S_SIZE_MORE = 1; // more hex digits, ';' or CR
const S_EXT = 2; // chunk extension up to CR
const S_SIZE_LF = 3;
const S_DATA = 4;
const S_DATA_CR = 5;
const S_DATA_LF = 6;
const S_TRAILER = 7; // start of a trailer line or of the final CRLF
const S_TRAILER_LINE = 8;
const S_TRAILER_LF = 9;
const S_FINAL_LF = 10;
const S_DONE = 11;

/** 13 hex digits < 2^52: sizes stay exact numbers. */
const MAX_SIZE_DIGITS = 13;
/** Chunk extensions and trailers are metadata: bounded like a head. */
const MAX_META_BYTES = 60 * 1024;

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; c++) {
  if (c >= 48 && c <= 57) HEX[c] = c - 48;
  else if (c >= 65 && c <= 70) HEX[c] = c - 55;
  else if (c >= 97 && c <= 102) HEX[c] = c - 87;
}

/** Bytes allowed in extensions and trailer lines: HTAB, visible ASCII, SP and obs-text; no CTL, no NUL. */
function textByte(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127);
}

/** A field name (RFC 9110 5.6.2 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Receives the data bytes of each chunk (framing stripped); for re-framing a body. */
export type DataSink = (buf: Buffer, start: number, end: number) => void;

export class ChunkedFramer {
  /** Data bytes seen so far (the body size without chunk framing). */
  dataBytes = 0;
  /** Why the body was rejected, once `feed` returned -1. */
  error: string | undefined;
  private state = S_SIZE;
  private remaining = 0;
  private digits = 0;
  private meta = 0;
  /** The trailer section's text (lines joined by LF), when kept. */
  private trailerText: string | undefined;

  constructor(private readonly keepTrailers = false) {}

  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Consumes buf[start, end). Returns the offset just after the last byte of the body when it ended in
   * this range, `end` when it needs more, or -1 on malformed framing. Bytes after the body are not
   * looked at (the next pipelined message). `sink` receives the data portions.
   */
  feed(buf: Buffer, start: number, end: number, sink?: DataSink): number {
    let i = start;
    let state = this.state;
    while (i < end && state !== S_DONE) {
      if (state === S_DATA) {
        const n = Math.min(this.remaining, end - i);
        if (sink !== undefined) sink(buf, i, i + n);
        i += n;
        this.dataBytes += n;
        this.remaining -= n;
        if (this.remaining === 0) state = S_DATA_CR;
        continue;
      }
      const c = buf[i++]!;
      switch (state) {
        case S_SIZE:
        case S_SIZE_MORE: {
          const d = HEX[c]!;
          if (d >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail('chunk size too large');
            this.remaining = this.remaining * 16 + d;
            state = S_SIZE_MORE;
          } else if (state === S_SIZE_MORE && c === CR) state = S_SIZE_LF;
          else if (state === S_SIZE_MORE && c === 59 /* ; */) state = S_EXT;
          else return this.fail('invalid chunk size');
          break;
        }
        case S_EXT:
          if (c === CR) state = S_SIZE_LF;
          else if (!textByte(c) || ++this.meta > MAX_META_BYTES) return this.fail('invalid chunk extension');
          break;
        case S_SIZE_LF:
          if (c !== LF) return this.fail('bare CR after chunk size');
          this.digits = 0;
          state = this.remaining === 0 ? S_TRAILER : S_DATA;
          break;
        case S_DATA_CR:
          if (c !== CR) return this.fail('missing CRLF after chunk data');
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== LF) return this.fail('missing CRLF after chunk data');
          state = S_SIZE;
          break;
        case S_TRAILER:
          if (c === CR) state = S_FINAL_LF;
          // A trailer field starts with a token character (no obs-fold, no stray whitespace).
          else if (c === 32 || c === 9 || !textByte(c) || ++this.meta > MAX_META_BYTES) return this.fail('invalid trailer');
          else {
            state = S_TRAILER_LINE;
            if (this.keepTrailers) this.trailerText = (this.trailerText ?? '') + String.fromCharCode(c);
          }
          break;
        case S_TRAILER_LINE:
          if (c === CR) state = S_TRAILER_LF;
          else if (!textByte(c) || ++this.meta > MAX_META_BYTES) return this.fail('invalid trailer');
          else if (this.keepTrailers) this.trailerText += String.fromCharCode(c);
          break;
        case S_TRAILER_LF:
          if (c !== LF) return this.fail('bare CR in trailer');
          if (this.keepTrailers) this.trailerText += '\n';
          state = S_TRAILER;
          break;
        case S_FINAL_LF:
          if (c !== LF) return this.fail('bare CR at end of chunked body');
          state = S_DONE;
          break;
      }
    }
    this.state = state;
    return i;
  }

  /**
   * The kept trailer fields as [lower-case name, value] (values trimmed); lines that are not a
   * `token: value` field are dropped. Undefined when there were none (or they were not kept).
   */
  trailers(): [string, string][] | undefined {
    const text = this.trailerText;
    if (text === undefined) return undefined;
    const out: [string, string][] = [];
    for (const line of text.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) continue;
      out.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
    }
    return out.length > 0 ? out : undefined;
  }

  private fail(why: string): number {
    this.error = why;
    return -1;
  }
}

/** One chunk of chunked coding around `n` data bytes: the size line (the data and CRLF follow). */
export function chunkHeader(n: number): string {
  return `${n.toString(16)}\r\n`;
}

/** The last chunk and an empty trailer section. */
export const LAST_CHUNK = '0\r\n\r\n';
