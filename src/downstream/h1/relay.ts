// The response half of an exchange: parse the upstream's response head, forward it rewritten, then
// forward the body by its framing (Content-Length, chunked passed through or de-chunked for HTTP/1.0
// clients, close-delimited re-chunked for HTTP/1.1 clients) until it is complete. I/O-free apart from
// the host's write, so the exchange decides what a failure means.
//
// Upstream chunks are transient (the pool reads into one shared buffer): everything forwarded is a
// fresh copy, and nothing here keeps a reference to a chunk after feed() returns.
import { chunkHeader, ChunkedFramer, LAST_CHUNK } from '../../codec/h1chunked';
import type { Framing, Head } from '../../codec/h1head';
import type { HeadParser } from '../../codec/h1parse';
import { downstreamResponseHead, type ResponseRewrite } from '../../codec/headers';

/** feed()/end() outcomes. */
export const MORE = 0;
export const DONE = 1;
export const BAD_HEAD = 2;
export const BAD_BODY = 3;
export const UNASKED_UPGRADE = 4;

export interface RelayHost {
  /** Writes to the client; false asks the relay's caller to pause the upstream. */
  write(data: Buffer | string): boolean;
  /** The final head arrived (status >= 200); returns true when the client connection must close after it. */
  headArrived(h: Head, framing: Framing): boolean;
  /** The client is not keeping up: stop reading from the upstream until it drains. */
  pauseUpstream(): void;
}

function copyOf(buf: Buffer, s: number, e: number): Buffer {
  const out = Buffer.allocUnsafe(e - s);
  buf.copy(out, 0, s, e);
  return out;
}

export class ResponseRelay {
  /** Status of the final response once its head went to the client; 0 before. */
  status = 0;
  /** Body bytes (without chunk framing): istio_response_bytes. */
  bytes = 0;
  /** Nothing but this response came on the upstream connection, and it allows keep-alive. */
  reusable = false;
  /** Why the response was rejected (BAD_HEAD / BAD_BODY). */
  error: string | undefined;
  private framing: Framing = 'none';
  private remaining = 0;
  private chunks: ChunkedFramer | undefined;
  private reframe: ResponseRewrite['reframe'] = 'none';

  constructor(
    private readonly host: RelayHost,
    private readonly parser: HeadParser,
    /** The request was HEAD: the response has no body whatever its headers say. */
    private readonly headRequest: boolean,
    private readonly client10: boolean,
  ) {
    parser.reset();
  }

  /** Bytes from the upstream. */
  feed(chunk: Buffer): number {
    return this.status === 0 ? this.head(chunk) : this.body(chunk, 0);
  }

  /** The upstream closed its side: the end of a close-delimited body, else a truncated response. */
  end(): number {
    if (this.status === 0 || this.framing !== 'close') return BAD_BODY;
    if (this.reframe === 'chunk') this.host.write(LAST_CHUNK);
    this.reusable = false;
    return DONE;
  }

  private head(chunk: Buffer): number {
    const p = this.parser;
    let off = 0;
    for (;;) {
      const r = p.execute(chunk, off);
      if (r === -1) return MORE;
      if (r === -2) {
        this.error = p.error!.code;
        return BAD_HEAD;
      }
      const h = p.head!;
      p.reset();
      off = r;
      if (h.status >= 200) return this.final(h, chunk, off);
      // Interim responses: 101 answers an upgrade the proxy never asks for; 100 was already sent by the
      // proxy itself; others (103 Early Hints) go to HTTP/1.1 clients.
      if (h.status === 101) return UNASKED_UPGRADE;
      if (h.status !== 100 && !this.client10) this.host.write(downstreamResponseHead(h, { close: false, keepAlive10: false, reframe: 'none' }));
      p.recycle(h);
      if (off >= chunk.length) return MORE;
    }
  }

  private final(h: Head, chunk: Buffer, off: number): number {
    const framing: Framing = this.headRequest ? 'none' : h.framing;
    this.framing = framing;
    this.reusable = h.keepAlive;
    const reframe: ResponseRewrite['reframe'] = framing === 'chunked' && this.client10 ? 'dechunk' : framing === 'close' && !this.client10 ? 'chunk' : 'none';
    this.reframe = reframe;
    if (framing === 'length') this.remaining = h.contentLength;
    else if (framing === 'chunked') this.chunks = new ChunkedFramer();
    if (reframe === 'none' && framing !== 'close') {
      // The common case: the head and the body bytes that came with it leave in one write. Framing
      // errors in those bytes are found before anything is sent, so they are still answered (502).
      let end = off;
      if (framing === 'length') end = off + Math.min(this.remaining, chunk.length - off);
      else if (framing === 'chunked') end = this.chunks!.feed(chunk, off, chunk.length);
      if (end < 0) {
        this.badBody();
        return BAD_HEAD;
      }
      const close = this.host.headArrived(h, framing);
      this.status = h.status;
      const out = downstreamResponseHead(h, { close, keepAlive10: this.client10 && !close, reframe }, end > off ? chunk : undefined, off, end);
      this.parser.recycle(h);
      if (!this.host.write(out)) this.host.pauseUpstream();
      return this.advance(chunk, off, end);
    }
    const close = this.host.headArrived(h, framing);
    this.status = h.status;
    const out = downstreamResponseHead(h, { close, keepAlive10: this.client10 && !close, reframe });
    this.parser.recycle(h);
    if (!this.host.write(out)) this.host.pauseUpstream();
    return this.body(chunk, off);
  }

  private body(chunk: Buffer, off: number): number {
    const len = chunk.length;
    let end: number;
    switch (this.framing) {
      case 'none':
        return this.advance(chunk, off, off);
      case 'length':
        end = off + Math.min(this.remaining, len - off);
        if (end > off) this.send(copyOf(chunk, off, end));
        return this.advance(chunk, off, end);
      case 'chunked':
        if (this.reframe === 'dechunk') end = this.chunks!.feed(chunk, off, len, this.dechunk);
        else {
          end = this.chunks!.feed(chunk, off, len);
          if (end > off) this.send(copyOf(chunk, off, end));
        }
        return end < 0 ? this.badBody() : this.advance(chunk, off, end);
      case 'close': {
        const n = len - off;
        if (n === 0) return MORE;
        this.bytes += n;
        if (this.reframe !== 'chunk') this.send(copyOf(chunk, off, len));
        else {
          // One buffer per chunk: size line, data, CRLF.
          const size = chunkHeader(n);
          const out = Buffer.allocUnsafe(size.length + n + 2);
          out.write(size, 0, 'latin1');
          chunk.copy(out, size.length, off, len);
          out.write('\r\n', size.length + n, 'latin1');
          this.send(out);
        }
        return MORE;
      }
    }
  }

  private readonly dechunk = (buf: Buffer, s: number, e: number): void => {
    if (e > s) this.send(copyOf(buf, s, e));
  };

  private send(data: Buffer): void {
    if (!this.host.write(data)) this.host.pauseUpstream();
  }

  /** Accounts for body bytes chunk[off, end) just forwarded; DONE when the body is complete. */
  private advance(chunk: Buffer, off: number, end: number): number {
    let complete: boolean;
    if (this.framing === 'length') {
      this.remaining -= end - off;
      this.bytes += end - off;
      complete = this.remaining === 0;
    } else if (this.framing === 'chunked') {
      this.bytes = this.chunks!.dataBytes;
      complete = this.chunks!.done;
    } else complete = true;
    if (!complete) return MORE;
    // Bytes after a complete response answer nothing: the connection is out of sync, do not reuse it.
    if (end < chunk.length) this.reusable = false;
    return DONE;
  }

  private badBody(): number {
    this.error = this.chunks?.error ?? 'malformed body';
    return BAD_BODY;
  }
}
