// Node stream views of an HTTP/2 stream (conn/h2socket.ts): its received DATA as a Readable that
// returns flow-control credit as the reader takes the bytes, and the whole stream as a Duplex (CONNECT
// tunnels).
import { Duplex, Readable } from 'node:stream';
import { E } from '../codec/h2/constants';
import type { H2Stream } from './h2stream';

/** Receive side of a stream as a Readable: credit is returned as the reader takes the data. */
export class StreamBody extends Readable {
  private held = 0;

  constructor(private readonly stream: H2Stream) {
    super({ highWaterMark: 64 * 1024 });
  }

  /** DATA arrived. */
  feed(data: Buffer, end: boolean): void {
    if (data.length > 0) {
      if (this.push(data)) this.stream.consume(data.length);
      else this.held += data.length;
    }
    if (end) this.push(null);
  }

  override _read(): void {
    if (this.held > 0) {
      const n = this.held;
      this.held = 0;
      this.stream.consume(n);
    }
  }
}

/** A stream as a Duplex (CONNECT tunnels): reads its DATA, writes DATA, end() sends END_STREAM. */
export class StreamDuplex extends Duplex {
  private held = 0;
  private pending: (() => void) | undefined;

  constructor(private readonly stream: H2Stream) {
    super({ readableHighWaterMark: 64 * 1024, allowHalfOpen: true });
    stream.listen({
      data: (d, end) => {
        if (d.length > 0) {
          if (this.push(d)) stream.consume(d.length);
          else this.held += d.length;
        }
        if (end) this.push(null);
      },
      headers: (_h, end, trailers) => {
        if (end && trailers) this.push(null);
      },
      abort: (why, code) => this.destroy(new Error(`stream ${why} (code ${code})`)),
      drain: () => {
        const p = this.pending;
        this.pending = undefined;
        p?.();
      },
    });
  }

  override _read(): void {
    if (this.held > 0) {
      const n = this.held;
      this.held = 0;
      this.stream.consume(n);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.stream.write(chunk)) cb();
    else this.pending = () => cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.stream.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.stream.closed) this.stream.reset(E.CANCEL);
    cb(err);
  }
}

/** A Duplex over STREAM; it becomes the stream's listener. */
export function streamDuplex(stream: H2Stream): Duplex {
  return new StreamDuplex(stream);
}
